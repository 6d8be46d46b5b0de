import type { OperationHandler } from './context';

/**
 * Answers with the documented shape while no identity key exists yet, and
 * says so in `message` and `placeholder`, so a caller can never mistake the
 * empty values for a real identity.
 */
export const identity: OperationHandler = async () => ({
  data: {
    peer_id: null,
    fingerprint: null,
    display_name: null,
    addresses: [],
    link: null,
    placeholder: true,
  },
  message: 'placeholder: this version has no identity key yet; peer id, fingerprint and pairing link arrive with pairing support',
});
