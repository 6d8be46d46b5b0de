import { randomBytes, sign, verify } from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { MerkleTree } from '../../extension/wire/merkle';
import { encodeLeaf } from '../../extension/wire/message-leaf';
import { batchSigningInput } from '../../extension/wire/signed-batch';
import { aeadSeal, ed25519FromSeed, ed25519PublicKey, ed25519Verify, KEY_BYTES } from '../../extension/wire/primitives';
import { nowMs } from '../stats';

/**
 * The per-message primitives, as the extension calls them (node:crypto,
 * i.e. OpenSSL) against the pure-JS noble implementations, on what the
 * hot path really signs: a batch's signing input (137 bytes, whatever the
 * batch holds), here over one message of 256 bytes.
 */
export interface CryptoOperation {
  name: string;
  node: () => unknown;
  noble: () => unknown;
}

export function cryptoOperations(): CryptoOperation[] {
  const seed = randomBytes(KEY_BYTES);
  const { privateKey, publicKey: rawPublic } = ed25519FromSeed(seed);
  const leaf = encodeLeaf({ messageId: randomBytes(16), createdAt: Date.now(), type: 'text', correlationId: null, payload: randomBytes(256) });
  const message = batchSigningInput({ sender: rawPublic, recipient: rawPublic, time: Date.now(), leafCount: 1 }, MerkleTree.fromLeaves([leaf]).root);
  const signature = new Uint8Array(sign(null, message, privateKey));
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  // A session message seals its type byte with the body.
  const small = randomBytes(1 + 256);
  const large = randomBytes(1 + 64 * 1024);
  const noAd = new Uint8Array(0);
  return [
    {
      name: 'Ed25519 sign, batch signing input',
      node: () => sign(null, message, privateKey),
      noble: () => ed25519.sign(message, seed),
    },
    {
      name: 'Ed25519 verify, batch signing input',
      node: () => ed25519Verify(rawPublic, message, signature),
      noble: () => ed25519.verify(signature, message, rawPublic),
    },
    {
      name: 'ChaCha20-Poly1305 seal 256 B',
      node: () => aeadSeal(key, nonce, small, noAd),
      noble: () => chacha20poly1305(key, nonce).encrypt(small),
    },
    {
      name: 'ChaCha20-Poly1305 seal 64 KiB',
      node: () => aeadSeal(key, nonce, large, noAd),
      noble: () => chacha20poly1305(key, nonce).encrypt(large),
    },
  ];
}

/**
 * The same verification two ways: as ed25519Verify does it, importing the
 * public key from JWK on every call, and with the KeyObject made once, as
 * a per-peer cache would.
 */
export function verifyKeyImport(): { perCall: () => unknown; cached: () => unknown } {
  const { privateKey, publicKey: raw } = ed25519FromSeed(randomBytes(KEY_BYTES));
  const message = randomBytes(330);
  const signature = sign(null, message, privateKey);
  const cached = ed25519PublicKey(raw);
  return { perCall: () => ed25519Verify(raw, message, signature), cached: () => verify(null, message, cached, signature) };
}

/** Calls per second of `operation`, run back to back for about `durationMs`. */
export function opsPerSecond(operation: () => unknown, durationMs: number): number {
  for (let i = 0; i < 50; i += 1) operation();
  let calls = 0;
  const start = nowMs();
  let elapsed = 0;
  while (elapsed < durationMs) {
    for (let i = 0; i < 20; i += 1) operation();
    calls += 20;
    elapsed = nowMs() - start;
  }
  return calls / (elapsed / 1000);
}
