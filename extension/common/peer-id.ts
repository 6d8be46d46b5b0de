import { createHash } from 'node:crypto';
import { BoundedMemo } from './bounded-memo';
import { describePublicKeyRefusal, publicKeyRefusal } from './ed25519-public-key';
import { P2pError } from './errors';
import { quoteUntrusted } from './quote-text';

/**
 * A peer id is the node's Ed25519 public key in lower-case RFC 4648 base32
 * without padding. 32 bytes are 256 bits, 52 characters carry 260, so the
 * last character holds one key bit and four zero bits: it is 'a' or 'q'.
 * Only this one spelling per key is accepted, so a host's exact-match scope
 * check on a peer id cannot be side-stepped by another spelling of the same
 * key. manifest.json repeats this pattern; a test keeps the two equal.
 */
export const PEER_ID_PATTERN = /^[a-z2-7]{51}[aq]$/;

export const PUBLIC_KEY_BYTES = 32;

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export function peerIdFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new Error(`an Ed25519 public key has ${PUBLIC_KEY_BYTES} bytes, got ${publicKey.length}`);
  }
  return encodeBase32(publicKey);
}

export function publicKeyFromPeerId(peerId: string): Uint8Array {
  if (!PEER_ID_PATTERN.test(peerId)) {
    throw new P2pError(
      'INVALID_INPUT',
      `${quoteUntrusted(peerId)} is not a peer id: a peer id is 52 characters a-z and 2-7 (lower case, no padding) ending in "a" or "q"`,
    );
  }
  return decodeBase32(peerId);
}

/** Keys cachedPublicKeyFromPeerId keeps; past this it starts afresh, which costs one decoding per peer. */
const MAX_CACHED_KEYS = 1024;

const cachedKeys = new BoundedMemo<string, Uint8Array>(MAX_CACHED_KEYS);

/**
 * publicKeyFromPeerId for the per-message paths (stores, messaging), which
 * would otherwise decode the same few peer ids for every message. The key
 * returned is shared by every caller: read it, never modify it.
 */
export function cachedPublicKeyFromPeerId(peerId: string): Uint8Array {
  return cachedKeys.get(peerId, publicKeyFromPeerId);
}

/**
 * For a peer id from outside that could become a trusted key (pair,
 * accept): also refuses a key that stands for no one (ed25519-public-key.ts).
 * That costs a point decoding, so ids the node already holds, and those
 * only looked up among them (send, receive, ack, revoke), are read with
 * publicKeyFromPeerId alone.
 */
export function publicKeyFromUntrustedPeerId(peerId: string, field: string): Uint8Array {
  const publicKey = publicKeyFromPeerId(peerId);
  const refusal = publicKeyRefusal(publicKey);
  if (refusal !== null) {
    throw new P2pError(
      'INVALID_INPUT',
      `${peerId} is not a usable peer id: its key ${describePublicKeyRefusal(refusal)} (${refusal}). Check that it was copied whole, or ask the other person for their pairing link again`,
      { path: `/${field}`, rule: 'ed25519_public_key', reason: refusal },
    );
  }
  return publicKey;
}

/** What two people compare out of band before pairing: short enough to read aloud. */
export function fingerprintOf(publicKey: Uint8Array): string {
  const digest = createHash('sha256').update(publicKey).digest();
  return Array.from(digest.subarray(0, 16), (byte) => byte.toString(16).padStart(2, '0')).join(':');
}

/** Lower-case RFC 4648 base32 without padding; group ids (wire/group-statement.ts) are spelled with it too. */
export function encodeBase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET.charAt((buffer >> bits) & 31);
    }
  }
  if (bits > 0) out += ALPHABET.charAt((buffer << (5 - bits)) & 31);
  return out;
}

/** Expects input already checked against PEER_ID_PATTERN; the trailing zero bits are dropped. */
function decodeBase32(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let index = 0;
  for (const char of text) {
    buffer = ((buffer << 5) | ALPHABET.indexOf(char)) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[index] = (buffer >> bits) & 0xff;
      index += 1;
    }
  }
  return out;
}
