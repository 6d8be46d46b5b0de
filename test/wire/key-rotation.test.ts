import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import t from 'tap';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { InitiatorHandshake, ResponderHandshake } from '../../extension/wire/handshake';
import { Intent } from '../../extension/wire/handshake-payload';
import { ephemeralFromSecret } from '../../extension/wire/primitives';
import {
  decodeKeyChain,
  decodeRotationStatement,
  encodeKeyChain,
  encodeRotationStatement,
  extendKeyChain,
  KeyChainFormatError,
  MAX_KEY_CHAIN,
  MAX_KEY_CHAIN_BYTES,
  ROTATION_STATEMENT_BYTES,
  rotationSigningInput,
  signRotationStatement,
  verifyKeyChain,
  type KeyChainRefusal,
  type RotationStatement,
} from '../../extension/wire/key-rotation';
import { identityFromSeed } from '../helpers/fixed-identity';
import { throwawayIdentity } from '../helpers/raw-peer';
import { WEAK_KEYS } from '../helpers/weak-keys';

/** docs/vectors/key-rotation-v1.json: the vectors docs/protocol.md §19 publishes. */
const vectors = JSON.parse(readFileSync(join(__dirname, '..', '..', 'docs', 'vectors', 'key-rotation-v1.json'), 'utf8'));
const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));
const hex = (data: Uint8Array): string => Buffer.from(data).toString('hex');
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

const keys = (vectors.keys as { seed: string; public: string }[]).map((k) => identityFromSeed(bytes(k.seed)));
const [k0, k1, k2, k3] = keys as [ReturnType<typeof identityFromSeed>, ReturnType<typeof identityFromSeed>, ReturnType<typeof identityFromSeed>, ReturnType<typeof identityFromSeed>];
const TIMES: number[] = vectors.key_chain.times_ms;

function chainOf(signers: ReturnType<typeof throwawayIdentity>[], times: number[] = []): RotationStatement[] {
  let chain: RotationStatement[] = [];
  for (let i = 1; i < signers.length; i += 1) chain = extendKeyChain(chain, signers[i - 1]!, signers[i]!, times[i - 1] ?? 1_900_000_000_000 + i);
  return chain;
}

const threeRotations = chainOf([k0, k1, k2, k3], TIMES);

function refusal(chain: RotationStatement[]): { refusal: KeyChainRefusal; index: number } | 'accepted' {
  const verdict = verifyKeyChain(chain);
  return verdict.ok ? 'accepted' : { refusal: verdict.refusal, index: verdict.index };
}

function flipped(data: Uint8Array, at = 0): Uint8Array {
  const copy = new Uint8Array(data);
  copy[at] = (copy[at] as number) ^ 1;
  return copy;
}

t.test('the project code reproduces the published statement and chain byte for byte', async (t) => {
  t.same(keys.map((k) => hex(k.publicKey)), vectors.keys.map((k: { public: string }) => k.public));
  t.equal(peerIdFromPublicKey(k0.publicKey), vectors.root_peer_id, 'the peer id names the root key');
  const v = vectors.key_rotation_statement;
  const statement = signRotationStatement(k0.publicKey, 1, k0, k1, v.time_ms);
  t.equal(hex(rotationSigningInput(statement)), v.signing_input);
  t.equal(hex(encodeRotationStatement(statement)), v.encoded);
  t.equal(hex(encodeKeyChain(threeRotations)), vectors.key_chain.encoded);
  const verdict = verifyKeyChain(decodeKeyChain(bytes(vectors.key_chain.encoded)));
  t.ok(verdict.ok);
  if (verdict.ok) {
    t.equal(hex(verdict.chain.currentKey), vectors.key_chain.current_key);
    t.equal(hex(verdict.chain.root), hex(k0.publicKey));
    t.same(verdict.chain.keys.map(hex), keys.map((k) => hex(k.publicKey)), 'root first, current last');
  }
});

t.test('an independent implementation (noble) reads the statement the way docs/protocol.md says', async (t) => {
  const v = vectors.key_rotation_statement;
  const encoded = bytes(v.encoded);
  t.equal(encoded.length, 234);
  t.equal(ROTATION_STATEMENT_BYTES, 234);
  t.equal(hex(encoded.subarray(0, 32)), hex(ed25519.getPublicKey(bytes(vectors.keys[0].seed))), 'root [32]');
  t.equal(Buffer.from(encoded.subarray(32, 34)).readUInt16BE(), 1, 'seq u16 big-endian');
  t.equal(hex(encoded.subarray(34, 66)), v.old_key, 'old_key [32]');
  t.equal(hex(encoded.subarray(66, 98)), hex(ed25519.getPublicKey(bytes(vectors.keys[1].seed))), 'new_key [32]');
  t.equal(Buffer.from(encoded.subarray(98, 106)).readBigUInt64BE(), BigInt(v.time_ms), 'time u64 big-endian');
  const signed = cat(Buffer.from('p2p-comm key rotation v1\0', 'utf8'), encoded.subarray(0, 106));
  t.equal(signed.length, 131);
  t.equal(hex(signed), v.signing_input, 'label | 0x00 | root | seq | old_key | new_key | time');
  t.equal(hex(encoded.subarray(106, 170)), v.sig_old);
  t.equal(hex(encoded.subarray(170, 234)), v.sig_new);
  t.ok(ed25519.verify(encoded.subarray(106, 170), signed, encoded.subarray(34, 66)), 'noble verifies sig_old under old_key');
  t.ok(ed25519.verify(encoded.subarray(170, 234), signed, encoded.subarray(66, 98)), 'noble verifies sig_new under new_key');
  t.equal(hex(ed25519.sign(signed, bytes(vectors.keys[0].seed))), v.sig_old, 'noble signs the same (Ed25519 is deterministic)');

  const chain = bytes(vectors.key_chain.encoded);
  t.equal(chain[0], 3, 'count u8');
  t.equal(chain.length, 1 + 3 * 234);
  for (let i = 0; i < 3; i += 1) {
    const s = chain.subarray(1 + i * 234, 1 + (i + 1) * 234);
    const input = cat(Buffer.from('p2p-comm key rotation v1\0', 'utf8'), s.subarray(0, 106));
    t.equal(Buffer.from(s.subarray(32, 34)).readUInt16BE(), i + 1, `statement ${i + 1} has seq ${i + 1}`);
    t.equal(hex(s.subarray(34, 66)), vectors.keys[i].public, 'old key is the key before');
    t.equal(hex(s.subarray(66, 98)), vectors.keys[i + 1].public);
    t.ok(ed25519.verify(s.subarray(106, 170), input, s.subarray(34, 66)));
    t.ok(ed25519.verify(s.subarray(170, 234), input, s.subarray(66, 98)));
  }
});

t.test('each published refused chain is refused for its reason', async (t) => {
  for (const { reason, chain } of vectors.key_chain_refused as { reason: KeyChainRefusal; chain: string }[]) {
    const verdict = verifyKeyChain(decodeKeyChain(bytes(chain)));
    t.equal(verdict.ok ? 'accepted' : verdict.refusal, reason, reason);
  }
});

t.test('a chain signed here verifies, and is one rotation longer at each step', async (t) => {
  const a = throwawayIdentity();
  const b = throwawayIdentity();
  const c = throwawayIdentity();
  const one = extendKeyChain([], a, b, 1);
  t.equal(one.length, 1);
  t.equal(hex(one[0]!.root), hex(a.publicKey), 'the first rotation names the current key as root');
  const two = extendKeyChain(one, b, c, 2);
  t.equal(two[1]!.seq, 2);
  const verdict = verifyKeyChain(two);
  t.ok(verdict.ok && hex(verdict.chain.currentKey) === hex(c.publicKey));
});

t.test('every refusal, for the statement that fails', async (t) => {
  const [s1, s2, s3] = threeRotations as [RotationStatement, RotationStatement, RotationStatement];
  const stranger = throwawayIdentity();
  t.equal(refusal(threeRotations), 'accepted');
  t.same(refusal([s1, signRotationStatement(k0.publicKey, 2, stranger, k2, 5)]), { refusal: 'broken_link', index: 1 }, 'old key not the previous new key');
  t.same(refusal([signRotationStatement(k0.publicKey, 1, k1, k2, 5)]), { refusal: 'broken_link', index: 0 }, 'first old key not the root');
  t.same(refusal([s1, { ...s2, oldSignature: flipped(s2.oldSignature) }]), { refusal: 'bad_old_signature', index: 1 });
  t.same(refusal([s1, s2, { ...s3, newSignature: flipped(s3.newSignature) }]), { refusal: 'bad_new_signature', index: 2 });
  // Signed by both keys, but over other fields: each field is covered by both signatures.
  t.same(refusal([{ ...s1, time: s1.time + 1 }]), { refusal: 'bad_old_signature', index: 0 }, 'time is signed');
  t.same(refusal([s1, s2, { ...signRotationStatement(k0.publicKey, 3, k2, k3, 9), newSignature: k3.sign(rotationSigningInput({ ...s3, time: 10 })) }]), {
    refusal: 'bad_new_signature',
    index: 2,
  }, 'new key signed other bytes');
  t.same(refusal([s1, s3]), { refusal: 'bad_seq', index: 1 });
  t.same(refusal([s1, { ...signRotationStatement(stranger.publicKey, 2, k1, k2, 5) }]), { refusal: 'other_root', index: 1 });
  t.same(refusal([s1, s2, s3, signRotationStatement(k0.publicKey, 4, k3, k1, 9)]), { refusal: 'repeated_key', index: 3 }, 'back to an earlier key');
  t.same(refusal([s1, s2, s3, signRotationStatement(k0.publicKey, 4, k3, k0, 9)]), { refusal: 'repeated_key', index: 3 }, 'back to the root');
  for (const [reason, weak] of Object.entries(WEAK_KEYS)) {
    const weakSigner = { publicKey: weak, sign: () => new Uint8Array(64) };
    t.same(refusal([s1, signRotationStatement(k0.publicKey, 2, k1, weakSigner, 5)]), { refusal: `key_${reason}`, index: 1 }, `new key ${reason}`);
    const fromWeak = signRotationStatement(weak, 1, weakSigner, k1, 5);
    t.same(refusal([fromWeak]), { refusal: `key_${reason}`, index: 0 }, `root ${reason}`);
  }
});

t.test('at most 16 rotations: the 17th is refused when made, read, or verified', async (t) => {
  const signers = Array.from({ length: MAX_KEY_CHAIN + 1 }, () => throwawayIdentity());
  const full = chainOf(signers);
  t.equal(full.length, 16);
  t.ok(verifyKeyChain(full).ok, '16 verify');
  const block = encodeKeyChain(full);
  t.equal(block.length, MAX_KEY_CHAIN_BYTES);
  t.equal(MAX_KEY_CHAIN_BYTES, 1 + 16 * 234);
  t.throws(() => extendKeyChain(full, signers[16]!, throwawayIdentity(), 1), KeyChainFormatError);
  const seventeenth = signRotationStatement(full[0]!.root, 16, signers[16]!, throwawayIdentity(), 1);
  t.same(refusal([...full, seventeenth]), { refusal: 'too_long', index: 16 });
  t.throws(() => encodeKeyChain([...full, seventeenth]), KeyChainFormatError);
  const tooMany = new Uint8Array(Buffer.concat([Uint8Array.of(17), block.subarray(1), encodeRotationStatement(seventeenth)]));
  t.throws(() => decodeKeyChain(tooMany), KeyChainFormatError);
});

t.test('strict decoding: lengths, counts, seq and time', async (t) => {
  const block = encodeKeyChain(threeRotations);
  const refuses = (data: Uint8Array, why: string) => t.throws(() => decodeKeyChain(data), KeyChainFormatError, why);
  refuses(new Uint8Array(0), 'empty');
  refuses(Uint8Array.of(0), 'count 0');
  refuses(block.subarray(0, block.length - 1), 'truncated');
  refuses(cat(block, Uint8Array.of(0)), 'trailing byte');
  refuses(cat(Uint8Array.of(2), block.subarray(1)), 'count says fewer');
  refuses(cat(Uint8Array.of(4), block.subarray(1)), 'count says more');
  const statement = encodeRotationStatement(threeRotations[0]!);
  for (const seq of [0, 17, 0xffff]) {
    const bad = new Uint8Array(statement);
    Buffer.from(bad.buffer).writeUInt16BE(seq, 32);
    t.throws(() => decodeRotationStatement(bad), KeyChainFormatError, `seq ${seq}`);
  }
  const late = new Uint8Array(statement);
  Buffer.from(late.buffer).writeBigUInt64BE(2n ** 63n, 98);
  t.throws(() => decodeRotationStatement(late), KeyChainFormatError, 'time beyond a safe integer');
  t.throws(() => decodeRotationStatement(statement.subarray(1)), KeyChainFormatError);
  t.throws(() => signRotationStatement(k0.publicKey, 1, k0, k1, -1), KeyChainFormatError, 'negative time');
  t.throws(() => signRotationStatement(k0.publicKey.subarray(1), 1, k0, k1, 1), KeyChainFormatError, 'short root');
});

t.test('round trip: any chain of fields encodes to bytes that decode to it (fast-check)', async (t) => {
  const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const statement = fc.record({
    root: key,
    seq: fc.integer({ min: 1, max: MAX_KEY_CHAIN }),
    oldKey: key,
    newKey: key,
    time: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    oldSignature: fc.uint8Array({ minLength: 64, maxLength: 64 }),
    newSignature: fc.uint8Array({ minLength: 64, maxLength: 64 }),
  });
  fc.assert(
    fc.property(fc.array(statement, { minLength: 1, maxLength: MAX_KEY_CHAIN }), (chain) => {
      const block = encodeKeyChain(chain);
      const decoded = decodeKeyChain(block);
      return (
        decoded.length === chain.length &&
        Buffer.compare(encodeKeyChain(decoded), block) === 0 &&
        decoded.every((s, i) => s.seq === chain[i]!.seq && s.time === chain[i]!.time && hex(s.newKey) === hex(chain[i]!.newKey))
      );
    }),
    { seed: 20261130, numRuns: 200 },
  );
  t.pass('200 chains round-tripped');
});

t.test('any single bit flipped in a valid chain is refused, by the decoder or the verifier', async (t) => {
  const block = encodeKeyChain(threeRotations.slice(0, 2));
  let refused = 0;
  // Every byte of the second statement and the count, one bit each: every field is covered.
  const positions = [0, ...Array.from({ length: ROTATION_STATEMENT_BYTES }, (_, i) => 1 + ROTATION_STATEMENT_BYTES + i)];
  for (const at of positions) {
    const damaged = flipped(block, at);
    try {
      if (!verifyKeyChain(decodeKeyChain(damaged)).ok) refused += 1;
    } catch (error) {
      if (!(error instanceof KeyChainFormatError)) throw error;
      refused += 1;
    }
  }
  t.equal(refused, positions.length);
});

t.test('the published handshake whose responder carries its chain: reproduced, and read with noble', async (t) => {
  const v = vectors.handshake_response_with_chain;
  const initiatorIdentity = identityFromSeed(bytes(v.initiator_seed));
  const responderIdentity = identityFromSeed(bytes(v.responder_seed));
  t.equal(hex(responderIdentity.publicKey), vectors.key_chain.current_key, 'the responder proves its current key');
  const payload = { intent: Intent.SESSION, requestId: bytes(v.initiator_payload.request_id), listenPort: v.initiator_payload.listen_port, displayName: v.initiator_payload.display_name };
  // The initiator still pins the root: the chain is what takes it to the current key.
  const initiator = new InitiatorHandshake(initiatorIdentity, k0.publicKey, payload, ephemeralFromSecret(bytes(v.initiator_ephemeral_secret)));
  const responder = new ResponderHandshake(responderIdentity, { displayName: v.responder_display_name, keyChain: threeRotations }, ephemeralFromSecret(bytes(v.responder_ephemeral_secret)));
  const init = initiator.start();
  t.equal(hex(init), v.init);
  const response = responder.respond(init);
  t.equal(hex(response), v.response);
  const finished = initiator.finish(response);
  t.equal(hex(finished.finish), v.finish);
  t.equal(hex(finished.keys.transcriptHash), v.transcript_hash);
  t.equal(hex(finished.responder.keyChain?.root ?? new Uint8Array(0)), hex(k0.publicKey), 'the chain names the root');
  t.equal(responder.finish(finished.finish).initiator.keyChain, undefined, 'an unrotated initiator sends none');

  const eR = bytes(v.response).subarray(1, 33);
  const th2 = nobleSha256(cat(bytes(v.init), Uint8Array.of(2), eR));
  const secret = x25519.getSharedSecret(bytes(v.initiator_ephemeral_secret), eR);
  const kR = hkdf(nobleSha256, secret, th2, Buffer.from('p2p-comm/2 handshake responder'), 32);
  const plaintext = chacha20poly1305(kR, new Uint8Array(12), th2).decrypt(bytes(v.response).subarray(33));
  t.equal(hex(plaintext.subarray(96)), `0003${hex(Buffer.from('Bob'))}${vectors.key_chain.encoded}`, 'payload_R = name_len | name | key chain');
  t.equal(bytes(v.response).length, 147 + 3 + 1 + 3 * 234);
});

t.test('cheap checks first: a forged statement is refused by its old key’s signature before its new key costs a point decoding', async (t) => {
  const [first, second] = chainOf([k0, k1, k2]) as [RotationStatement, RotationStatement];
  // Not a canonical encoding (y >= p), with signatures that were never made for it.
  const nonCanonical = new Uint8Array(32).fill(0xff);
  nonCanonical[31] = 0x7f;
  t.same(refusal([first, { ...second, newKey: nonCanonical }]), { refusal: 'bad_old_signature', index: 1 });
  // Byte checks over the whole chain come before any signature: a broken second link is named even when the first statement is forged.
  const forgedFirst = { ...first, oldSignature: flipped(first.oldSignature) };
  t.same(refusal([forgedFirst, { ...second, seq: 3 }]), { refusal: 'bad_seq', index: 1 });
});
