import { P2pError } from './errors';
import { decodeBase64urlExact, decodeBase64urlUpTo, encodeBase64url } from './base64url';
import { DHT_KEY_BINDING_BYTES } from './dht-address';
import { describePublicKeyRefusal, publicKeyRefusal } from './ed25519-public-key';
import { PEER_ID_PATTERN, peerIdFromPublicKey, publicKeyFromPeerId } from './peer-id';
import { validateDisplayName } from './display-name';
import { quoteUntrusted } from './quote-text';

/**
 * The pairing link: everything another person needs to ask this node for
 * pairing, in one pasteable string.
 *
 *   p2p-comm://<peer id>?[addr=<host:port>&...][&dht=<base64url>][&key=<key>&chain=<base64url>]&name=<percent-encoded UTF-8>[&exp=<unix seconds>]
 *
 * `dht` is the node's DHT key with its identity's and its own signature
 * over the pair (160 bytes, docs/protocol.md §1); a link carries at least one
 * address or a DHT key. The signature is checked where the link is used:
 * this module only reads the form.
 *
 * The peer id names the node's first Ed25519 key, so a link cannot point
 * at one identity while naming another; the handshake proves the key. Once
 * the node rotated its key (docs/protocol.md §19), `key` is its current key,
 * spelled like a peer id, and `chain` the key chain from the first key to
 * it: both or neither. This module reads their form; `pair` verifies the
 * chain. A link is outside input that becomes a trusted key, so every key
 * must be one that can stand for someone (ed25519-public-key.ts).
 */
export const LINK_SCHEME = 'p2p-comm://';
export const MAX_LINK_ADDRESSES = 4;
/** The latest time a JavaScript Date holds (8.64e15 ms), in seconds. */
const MAX_TIME_SECONDS = 8_640_000_000_000;
/** The largest key chain: wire/key-rotation.ts MAX_KEY_CHAIN_BYTES (common/ imports nothing beyond itself; a test keeps the two equal). */
export const MAX_LINK_KEY_CHAIN_BYTES = 3745;
const ADDRESS_PATTERN = /^(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253}):([0-9]{1,5})$/;

export interface PairingLink {
  peerId: string;
  addresses: string[];
  displayName: string;
  /** The node's signed DHT key; null when it cannot be reached through the DHT. */
  dhtBinding: Uint8Array | null;
  /** Null when the link does not expire. */
  expiresAt: Date | null;
  /** Present once the node rotated its key. */
  rotation?: LinkRotation;
}

/** A rotated node's current key and the chain that certifies it, as the link carries them (unverified). */
export interface LinkRotation {
  key: Uint8Array;
  /** The key chain block (docs/protocol.md §19). */
  chain: Uint8Array;
}

export function isValidAddress(address: string): boolean {
  const match = ADDRESS_PATTERN.exec(address);
  if (match === null) return false;
  const port = Number(match[2]);
  return port >= 1 && port <= 65535;
}

export function printPairingLink(link: PairingLink): string {
  const query = new URLSearchParams();
  for (const address of link.addresses.slice(0, MAX_LINK_ADDRESSES)) query.append('addr', address);
  if (link.dhtBinding !== null) query.append('dht', encodeBase64url(link.dhtBinding));
  if (link.rotation !== undefined) {
    query.append('key', peerIdFromPublicKey(link.rotation.key));
    query.append('chain', encodeBase64url(link.rotation.chain));
  }
  query.append('name', link.displayName);
  if (link.expiresAt !== null) query.append('exp', String(Math.floor(link.expiresAt.getTime() / 1000)));
  // URLSearchParams writes spaces as '+'; %20 survives every copy-paste path.
  return `${LINK_SCHEME}${link.peerId}?${query.toString().replaceAll('+', '%20')}`;
}

/** A refusal of a link, for this module's checks and for those `pair` adds (its DHT key's and key chain's signatures). */
export function invalidPairingLink(reason: string, details?: unknown): P2pError {
  return new P2pError('INVALID_INPUT', `invalid pairing link: ${reason}; ask the other person for a fresh link from their identity`, details);
}

const LINK_FIELDS = new Set(['addr', 'name', 'exp', 'dht', 'key', 'chain']);

export function parsePairingLink(text: string): PairingLink {
  if (!text.startsWith(LINK_SCHEME)) throw invalidPairingLink(`it must start with ${LINK_SCHEME}`);
  const rest = text.slice(LINK_SCHEME.length);
  const question = rest.indexOf('?');
  const peerId = question === -1 ? rest : rest.slice(0, question);
  if (!PEER_ID_PATTERN.test(peerId)) throw invalidPairingLink('the peer id is not a valid p2p-comm peer id');
  let query: URLSearchParams;
  try {
    query = new URLSearchParams(question === -1 ? '' : rest.slice(question + 1).replaceAll('+', '%2B'));
  } catch {
    throw invalidPairingLink('the query part is malformed');
  }
  for (const key of query.keys()) {
    if (!LINK_FIELDS.has(key)) throw invalidPairingLink(`unknown field ${quoteUntrusted(key)}`);
  }
  const addresses = query.getAll('addr');
  const dhts = query.getAll('dht');
  if (dhts.length > 1) throw invalidPairingLink('it carries more than one DHT key');
  const dhtBinding = dhts.length === 1 ? decodeBase64urlExact(dhts[0] as string, DHT_KEY_BINDING_BYTES) : null;
  if (dhts.length === 1 && dhtBinding === null) throw invalidPairingLink(`its DHT key is not ${DHT_KEY_BINDING_BYTES} bytes of unpadded base64url`);
  if (addresses.length === 0 && dhtBinding === null) throw invalidPairingLink('it carries no address and no DHT key');
  if (addresses.length > MAX_LINK_ADDRESSES) throw invalidPairingLink(`it carries more than ${MAX_LINK_ADDRESSES} addresses`);
  for (const address of addresses) if (!isValidAddress(address)) throw invalidPairingLink(`${quoteUntrusted(address)} is not a host:port address`);
  const names = query.getAll('name');
  if (names.length !== 1) throw invalidPairingLink('it must carry exactly one name');
  let displayName: string;
  try {
    displayName = validateDisplayName(names[0] as string);
  } catch {
    throw invalidPairingLink('the name is empty, too long or has control characters');
  }
  const exps = query.getAll('exp');
  if (exps.length > 1) throw invalidPairingLink('it carries more than one expiry');
  let expiresAt: Date | null = null;
  if (exps.length === 1) {
    const seconds = Number(exps[0]);
    if (!/^[0-9]{1,13}$/.test(exps[0] as string) || seconds > MAX_TIME_SECONDS) throw invalidPairingLink('the expiry is not a time');
    expiresAt = new Date(seconds * 1000);
  }
  const rotation = rotationOf(query, peerId);
  // Last: the form checks above cost far less than decoding the points.
  usableKey(publicKeyFromPeerId(peerId), 'the key in its peer id');
  if (rotation === undefined) return { peerId, addresses, displayName, dhtBinding, expiresAt };
  usableKey(rotation.key, 'its current key');
  return { peerId, addresses, displayName, dhtBinding, expiresAt, rotation };
}

/** The `key` and `chain` fields' form: both or neither, one each, the key another than the one the peer id names. */
function rotationOf(query: URLSearchParams, peerId: string): LinkRotation | undefined {
  const keys = query.getAll('key');
  const chains = query.getAll('chain');
  if (keys.length === 0 && chains.length === 0) return undefined;
  if (keys.length !== 1 || chains.length !== 1) throw invalidPairingLink('it must carry exactly one current key and one key chain, or neither');
  const keyText = keys[0] as string;
  if (!PEER_ID_PATTERN.test(keyText)) throw invalidPairingLink('its current key is not spelled as a p2p-comm peer id');
  if (keyText === peerId) throw invalidPairingLink('its current key is the one its peer id names, so it needs no key chain');
  const chain = decodeBase64urlUpTo(chains[0] as string, MAX_LINK_KEY_CHAIN_BYTES);
  if (chain === null) throw invalidPairingLink(`its key chain is not 1 to ${MAX_LINK_KEY_CHAIN_BYTES} bytes of unpadded base64url`);
  return { key: publicKeyFromPeerId(keyText), chain };
}

function usableKey(publicKey: Uint8Array, what: string): void {
  const refusal = publicKeyRefusal(publicKey);
  if (refusal !== null) throw invalidPairingLink(`${what} ${describePublicKeyRefusal(refusal)} (${refusal})`, { path: '/link', rule: 'ed25519_public_key', reason: refusal });
}
