import { decodeBase64urlExact, encodeBase64url } from '../common/base64url';
import { canonicalJson } from './jcs';
import { ed25519Verify, SIGNATURE_BYTES } from './primitives';

/**
 * The signature on an A2A agent card (A2A v1.0 §8.4; docs/protocol.md §15,
 * "Agent card"): a JWS with a detached payload, made with the node's
 * identity key. One fixed form:
 *
 *   protected = base64url('{"alg":"EdDSA","kid":"<peer id>","typ":"JOSE"}')
 *   signature = base64url(Ed25519(identity, ASCII(protected "." base64url(JCS(card without "signatures")))))
 *
 * base64url is unpadded (RFC 7515). This is what the A2A SDK's
 * verifyAgentCardSignature checks, so any A2A client holding the peer's
 * key (the peer id) can verify a card it got from p2p-comm.
 *
 * The signing input always starts with `eyJ` (base64url of `{"`), which no
 * other input the identity key signs does (the handshake's labels start
 * `p2p-comm/2 `, the batch's and the receipt's `P2P-COMM-`, the revocation
 * notice's `p2p-comm revocation v1`): a card signature can never pass for
 * another p2p-comm signature, nor one of those for a card signature.
 */
export interface AgentCardSignature {
  protected: string;
  signature: string;
}

/** The protected header of a card signed by `peerId`, base64url: exactly these bytes, nothing else is accepted. */
export function agentCardProtectedHeader(peerId: string): string {
  return encodeBase64url(Buffer.from(`{"alg":"EdDSA","kid":"${peerId}","typ":"JOSE"}`, 'ascii'));
}

/** The bytes signed: `protected "." base64url(JCS(card))`, `card` without its `signatures`. */
export function agentCardSigningInput(protectedHeader: string, card: Record<string, unknown>): Uint8Array {
  const payload = encodeBase64url(Buffer.from(canonicalJson(card), 'utf8'));
  return Buffer.from(`${protectedHeader}.${payload}`, 'ascii');
}

export function signAgentCard(card: Record<string, unknown>, signer: { peerId: string; sign(message: Uint8Array): Uint8Array }): AgentCardSignature {
  const header = agentCardProtectedHeader(signer.peerId);
  return { protected: header, signature: encodeBase64url(signer.sign(agentCardSigningInput(header, card))) };
}

/** Why a signature is refused; counted as `agent_card_<reason>`. */
export type SignatureRefusal = 'bad_header' | 'bad_signature';

/**
 * null when `signature` is `peerId`'s, in the one form above, over `card`
 * (without its `signatures`); `publicKey` is the key `peerId` names.
 */
export function checkAgentCardSignature(
  card: Record<string, unknown>,
  signature: AgentCardSignature,
  peerId: string,
  publicKey: Uint8Array,
): SignatureRefusal | null {
  if (signature.protected !== agentCardProtectedHeader(peerId)) return 'bad_header';
  const bytes = decodeBase64urlExact(signature.signature, SIGNATURE_BYTES);
  if (bytes === null) return 'bad_signature';
  return ed25519Verify(publicKey, agentCardSigningInput(signature.protected, card), bytes) ? null : 'bad_signature';
}
