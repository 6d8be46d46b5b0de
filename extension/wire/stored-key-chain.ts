import { peerIdFromPublicKey } from '../common/peer-id';
import { decodeKeyChain, describeKeyChainRefusal, encodeKeyChain, KeyChainFormatError, verifyKeyChain, type RotationStatement, type VerifiedKeyChain } from './key-rotation';

/**
 * The key chain as state files hold it: canonical base64 of the chain block
 * (docs/protocol.md §19), the same bytes a handshake carries. Files are
 * checked as strictly as the wire, since a chain read back decides which
 * key a peer (or this node) signs with.
 */
export function keyChainToText(chain: readonly RotationStatement[]): string {
  return Buffer.from(encodeKeyChain(chain)).toString('base64');
}

/** The verified chain, or what is wrong with the text, to follow "its key chain". */
export function keyChainFromText(text: unknown): VerifiedKeyChain | string {
  if (typeof text !== 'string') return 'is not a string';
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) return 'is not canonical base64';
  let statements: RotationStatement[];
  try {
    statements = decodeKeyChain(new Uint8Array(bytes));
  } catch (error) {
    if (error instanceof KeyChainFormatError) return `is not a key chain (${error.message})`;
    throw error;
  }
  const verdict = verifyKeyChain(statements);
  if (!verdict.ok) return `${describeKeyChainRefusal(verdict.refusal)} (statement ${verdict.index + 1})`;
  return verdict.chain;
}

/**
 * Whether a key stored for a peer is the one its peer id names or, once
 * the peer rotated, the end of a valid key chain that starts there;
 * undefined when it is, otherwise why not, naming the fields.
 */
export function storedKeyProblem(peerId: string, publicKey: string, keyChain: string | undefined): string | undefined {
  if (keyChain === undefined) {
    return peerIdFromPublicKey(Buffer.from(publicKey, 'base64')) === peerId ? undefined : `the public_key of ${peerId} is not the key that peer id names`;
  }
  const chain = keyChainFromText(keyChain);
  if (typeof chain === 'string') return `the key_chain of ${peerId} ${chain}`;
  if (peerIdFromPublicKey(chain.root) !== peerId) return `the key_chain of ${peerId} does not start at the key that peer id names`;
  if (Buffer.from(chain.currentKey).toString('base64') !== publicKey) return `the public_key of ${peerId} is not the last key of its key_chain`;
  return undefined;
}
