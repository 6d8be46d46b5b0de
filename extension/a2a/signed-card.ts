import { A2A_BINDING_URI, A2A_PROTOCOL_VERSION, a2aInterfaceUrl } from '../common/a2a-binding';
import { P2pError } from '../common/errors';
import { firstJsonProblem } from '../common/json-value';
import { cachedPublicKeyFromPeerId } from '../common/peer-id';
import { agentCardProtectedHeader, type AgentCardSignature, checkAgentCardSignature, signAgentCard } from '../wire/agent-card-signature';
import { canonicalJson } from '../wire/jcs';
import { type AgentCard, type AgentCardLimits, maxCardDepth, normalizeAgentCard } from './agent-card';

/**
 * A card as it travels between nodes (docs/protocol.md §15): the normalized
 * card, the one interface that says the agent is reached over p2p-comm at
 * that node, and the node's signature over the rest.
 */
export interface AgentInterface {
  url: string;
  protocolBinding: string;
  protocolVersion: string;
}

export interface SignedAgentCard extends AgentCard {
  supportedInterfaces: AgentInterface[];
  signatures: AgentCardSignature[];
}

/** Why a received card is refused; counted as `agent_card_<reason>`, in the order they are checked. */
export type CardRefusal = 'too_large' | 'malformed' | 'bad_schema' | 'not_canonical' | 'bad_header' | 'wrong_interface' | 'bad_signature';

export function interfaceOf(peerId: string): AgentInterface {
  return { url: a2aInterfaceUrl(peerId), protocolBinding: A2A_BINDING_URI, protocolVersion: A2A_PROTOCOL_VERSION };
}

/** Signs a normalized card with the node's identity; throws INVALID_INPUT when it would travel larger than `maxCardBytes`. */
export function signCard(card: AgentCard, signer: { peerId: string; sign(message: Uint8Array): Uint8Array }, maxCardBytes: number): SignedAgentCard {
  const unsigned = { ...card, supportedInterfaces: [interfaceOf(signer.peerId)] };
  const signed = { ...unsigned, signatures: [signAgentCard(unsigned, signer)] };
  const size = encodeCard(signed).length;
  if (size > maxCardBytes) {
    throw new P2pError(
      'INVALID_INPUT',
      `agent card: signed, it takes ${size} bytes; peers accept at most ${maxCardBytes} (P2P_COMM_AGENT_CARD_MAX_BYTES): shorten descriptions or drop skills`,
      { path: '/card', rule: 'max_bytes' },
    );
  }
  return signed;
}

/** The body of a 0x27 message: the card's JCS form in UTF-8, one spelling per card. */
export function encodeCard(card: SignedAgentCard): Uint8Array {
  return Buffer.from(canonicalJson(card), 'utf8');
}

/**
 * The card `peerId` signed, or why it is refused: the first check that
 * fails, in this order (cheapest first, the signature last). Anything that
 * is not exactly a card in normalized form is refused rather than
 * normalized here: a field the signature does not cover could otherwise be
 * shown to a person as the peer's. `body` is not empty (empty is "no card").
 * `signerKey` is the key the peer signs with now (TrustStore.keyOf); the
 * key its id names, the default, is that key until the peer rotates.
 */
export function decodeCard(body: Uint8Array, peerId: string, limits: AgentCardLimits, signerKey = cachedPublicKeyFromPeerId(peerId)): SignedAgentCard | CardRefusal {
  if (body.length > limits.maxCardBytes) return 'too_large';
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return 'malformed';
  }
  if (!isObject(value)) return 'malformed';
  // Before anything recurses into it: a 64 KiB body can nest tens of thousands of levels.
  if (firstJsonProblem(value, maxCardDepth(limits)) !== null) return 'bad_schema';
  const { signatures, supportedInterfaces, ...rest } = value;
  if (!isListOf(signatures, isObject) || !isListOf(supportedInterfaces, isObject)) return 'bad_schema';
  let card: AgentCard;
  try {
    card = normalizeAgentCard(rest, limits);
  } catch (error) {
    if (error instanceof P2pError) return 'bad_schema';
    throw error;
  }
  if (canonicalJson(card) !== canonicalJson(rest)) return 'not_canonical';
  const signature = signatures[0];
  if (signatures.length !== 1 || !isSignature(signature) || signature.protected !== agentCardProtectedHeader(peerId)) return 'bad_header';
  const expected = interfaceOf(peerId);
  if (supportedInterfaces.length !== 1 || canonicalJson(supportedInterfaces[0]) !== canonicalJson(expected)) return 'wrong_interface';
  const unsigned = { ...card, supportedInterfaces: [expected] };
  const refusal = checkAgentCardSignature(unsigned, signature, peerId, signerKey);
  if (refusal !== null) return refusal;
  return { ...unsigned, signatures: [{ protected: signature.protected, signature: signature.signature }] };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isListOf<T>(value: unknown, item: (value: unknown) => value is T): value is T[] {
  return Array.isArray(value) && value.every(item);
}

/** Exactly the two members of a detached JWS: an unprotected `header` is not part of this form. */
function isSignature(value: unknown): value is AgentCardSignature {
  if (!isObject(value)) return false;
  const keys = Object.keys(value).sort();
  return keys.length === 2 && keys[0] === 'protected' && keys[1] === 'signature' && typeof value['protected'] === 'string' && typeof value['signature'] === 'string';
}
