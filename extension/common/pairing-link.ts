import { P2pError } from './errors';
import { decodeBase64urlExact, encodeBase64url } from './base64url';
import { DHT_KEY_BINDING_BYTES } from './dht-address';
import { describePublicKeyRefusal, publicKeyRefusal } from './ed25519-public-key';
import { PEER_ID_PATTERN, publicKeyFromPeerId } from './peer-id';
import { validateDisplayName } from './display-name';
import { quoteUntrusted } from './quote-text';

/**
 * The pairing link: everything another person needs to ask this node for
 * pairing, in one pasteable string.
 *
 *   p2p-comm://<peer id>?[addr=<host:port>&...][&dht=<base64url>]&name=<percent-encoded UTF-8>[&exp=<unix seconds>]
 *
 * `dht` is the node's DHT key with its identity's and its own signature
 * over the pair (160 bytes, docs/protocol.md §1); a link carries at least one
 * address or a DHT key. The signature is checked where the link is used:
 * this module only reads the form.
 *
 * The peer id is the Ed25519 public key itself, so a link cannot point at
 * one key while naming another; the handshake proves the key. A link is
 * outside input that becomes a trusted key, so the key must be one that
 * can stand for someone (ed25519-public-key.ts).
 */
export const LINK_SCHEME = 'p2p-comm://';
export const MAX_LINK_ADDRESSES = 4;
/** The latest time a JavaScript Date holds (8.64e15 ms), in seconds. */
const MAX_TIME_SECONDS = 8_640_000_000_000;
const ADDRESS_PATTERN = /^(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253}):([0-9]{1,5})$/;

export interface PairingLink {
  peerId: string;
  addresses: string[];
  displayName: string;
  /** The node's signed DHT key; null when it cannot be reached through the DHT. */
  dhtBinding: Uint8Array | null;
  /** Null when the link does not expire. */
  expiresAt: Date | null;
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
  query.append('name', link.displayName);
  if (link.expiresAt !== null) query.append('exp', String(Math.floor(link.expiresAt.getTime() / 1000)));
  // URLSearchParams writes spaces as '+'; %20 survives every copy-paste path.
  return `${LINK_SCHEME}${link.peerId}?${query.toString().replaceAll('+', '%20')}`;
}

function invalid(reason: string, details?: unknown): P2pError {
  return new P2pError('INVALID_INPUT', `invalid pairing link: ${reason}; ask the other person for a fresh link from their identity`, details);
}

export function parsePairingLink(text: string): PairingLink {
  if (!text.startsWith(LINK_SCHEME)) throw invalid(`it must start with ${LINK_SCHEME}`);
  const rest = text.slice(LINK_SCHEME.length);
  const question = rest.indexOf('?');
  const peerId = question === -1 ? rest : rest.slice(0, question);
  if (!PEER_ID_PATTERN.test(peerId)) throw invalid('the peer id is not a valid p2p-comm peer id');
  let query: URLSearchParams;
  try {
    query = new URLSearchParams(question === -1 ? '' : rest.slice(question + 1).replaceAll('+', '%2B'));
  } catch {
    throw invalid('the query part is malformed');
  }
  for (const key of query.keys()) {
    if (key !== 'addr' && key !== 'name' && key !== 'exp' && key !== 'dht') throw invalid(`unknown field ${quoteUntrusted(key)}`);
  }
  const addresses = query.getAll('addr');
  const dhts = query.getAll('dht');
  if (dhts.length > 1) throw invalid('it carries more than one DHT key');
  const dhtBinding = dhts.length === 1 ? decodeBase64urlExact(dhts[0] as string, DHT_KEY_BINDING_BYTES) : null;
  if (dhts.length === 1 && dhtBinding === null) throw invalid(`its DHT key is not ${DHT_KEY_BINDING_BYTES} bytes of unpadded base64url`);
  if (addresses.length === 0 && dhtBinding === null) throw invalid('it carries no address and no DHT key');
  if (addresses.length > MAX_LINK_ADDRESSES) throw invalid(`it carries more than ${MAX_LINK_ADDRESSES} addresses`);
  for (const address of addresses) if (!isValidAddress(address)) throw invalid(`${quoteUntrusted(address)} is not a host:port address`);
  const names = query.getAll('name');
  if (names.length !== 1) throw invalid('it must carry exactly one name');
  let displayName: string;
  try {
    displayName = validateDisplayName(names[0] as string);
  } catch {
    throw invalid('the name is empty, too long or has control characters');
  }
  const exps = query.getAll('exp');
  if (exps.length > 1) throw invalid('it carries more than one expiry');
  let expiresAt: Date | null = null;
  if (exps.length === 1) {
    const seconds = Number(exps[0]);
    if (!/^[0-9]{1,13}$/.test(exps[0] as string) || seconds > MAX_TIME_SECONDS) throw invalid('the expiry is not a time');
    expiresAt = new Date(seconds * 1000);
  }
  // Last: the form checks above cost far less than decoding the point.
  const keyRefusal = publicKeyRefusal(publicKeyFromPeerId(peerId));
  if (keyRefusal !== null) {
    throw invalid(`the key in its peer id ${describePublicKeyRefusal(keyRefusal)} (${keyRefusal})`, { path: '/link', rule: 'ed25519_public_key', reason: keyRefusal });
  }
  return { peerId, addresses, displayName, dhtBinding, expiresAt };
}
