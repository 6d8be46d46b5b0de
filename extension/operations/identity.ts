import { printPairingLink } from '../common/pairing-link';
import type { OperationHandler } from './context';

export const identity: OperationHandler = async (input, node) => {
  const addresses = node.network.addresses();
  const ttl = input['link_ttl_seconds'] as number | undefined;
  const link =
    addresses.length === 0
      ? null
      : printPairingLink({
          peerId: node.identity.peerId,
          addresses,
          displayName: node.profile.displayName,
          expiresAt: ttl === undefined ? null : new Date(Date.now() + ttl * 1000),
        });
  return {
    data: {
      peer_id: node.identity.peerId,
      fingerprint: node.identity.fingerprint,
      display_name: node.profile.displayName,
      addresses,
      link,
    },
    message: link === null ? 'this node is not listening, so it has no pairing link; see status.listening.error' : null,
  };
};

export const setDisplayName: OperationHandler = async (input, node) => {
  const displayName = node.profile.setDisplayName(input['display_name'] as string);
  node.discovery.readvertise();
  return { data: { display_name: displayName }, message: 'peers see the new name the next time they connect' };
};
