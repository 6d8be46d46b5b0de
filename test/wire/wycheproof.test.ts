import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import t from 'tap';
import { aeadOpen, aeadSeal, ed25519Verify, ephemeralFromSecret, hkdfSha256, x25519 } from '../../extension/wire/primitives';

/**
 * The Wycheproof vectors shipped beside the project (../shared, unmodified)
 * run against the primitives p2p-comm uses on its hot path (node:crypto,
 * OpenSSL) and against noble, its cross-check. Every valid/invalid verdict
 * must match; "acceptable" cases are documented in docs/security.md.
 */
const VECTORS = join(__dirname, '..', '..', '..', 'shared', 'vectors', 'wycheproof');

interface Vector {
  tcId: number;
  comment: string;
  flags: string[];
  result: 'valid' | 'invalid' | 'acceptable';
  [field: string]: unknown;
}

function load(file: string): { group: Record<string, unknown>; test: Vector }[] {
  const parsed = JSON.parse(readFileSync(join(VECTORS, file), 'utf8')) as { testGroups: (Record<string, unknown> & { tests: Vector[] })[] };
  return parsed.testGroups.flatMap((group) => group.tests.map((test) => ({ group, test })));
}

const hex = (value: unknown): Uint8Array => new Uint8Array(Buffer.from(String(value), 'hex'));
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

function attempt<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch {
    return null;
  }
}

t.test('Ed25519 verify: OpenSSL and noble agree with every verdict', async (t) => {
  const vectors = load('ed25519_test.json');
  let checked = 0;
  for (const { group, test } of vectors) {
    const publicKey = hex((group['publicKey'] as { pk: string }).pk);
    const expected = test.result === 'valid';
    const message = hex(test['msg']);
    const signature = hex(test['sig']);
    const ours = ed25519Verify(publicKey, message, signature);
    const noble = attempt(() => ed25519.verify(signature, message, publicKey, { zip215: false })) ?? false;
    if (ours !== expected) t.fail(`node:crypto tcId ${test.tcId} (${test.flags.join(',')}): got ${ours}`);
    if (noble !== expected) t.fail(`noble tcId ${test.tcId} (${test.flags.join(',')}): got ${noble}`);
    checked += 1;
  }
  t.equal(checked, 151, 'all 151 vectors checked');
});

t.test('X25519: shared secrets match; all-zero (low-order) secrets are refused', async (t) => {
  const vectors = load('x25519_test.json');
  let computed = 0;
  let refused = 0;
  for (const { test } of vectors) {
    const peer = hex(test['public']);
    const shared = hex(test['shared']);
    const ours = attempt(() => x25519(ephemeralFromSecret(hex(test['private'])).privateKey, peer));
    const noble = attempt(() => nobleX25519.getSharedSecret(hex(test['private']), peer));
    const zero = shared.every((byte) => byte === 0);
    if (zero) {
      // p2p-comm's policy: a handshake never accepts an all-zero secret (a peer forcing a known key).
      if (ours !== null) t.fail(`tcId ${test.tcId}: an all-zero shared secret was accepted`);
      refused += 1;
      continue;
    }
    if (test.result === 'invalid') {
      if (ours !== null) t.fail(`tcId ${test.tcId}: invalid vector accepted`);
      continue;
    }
    if (ours === null || !same(ours, shared)) t.fail(`node:crypto tcId ${test.tcId} (${test.flags.join(',')})`);
    if (noble === null || !same(noble, shared)) t.fail(`noble tcId ${test.tcId} (${test.flags.join(',')})`);
    computed += 1;
  }
  t.ok(computed > 400, `${computed} shared secrets matched`);
  t.ok(refused > 0, `${refused} all-zero secrets refused`);
});

t.test('HKDF-SHA256: every output matches, oversize outputs refused', async (t) => {
  for (const { test } of load('hkdf_sha256_test.json')) {
    const okm = attempt(() => hkdfSha256(hex(test['ikm']), hex(test['salt']), hex(test['info']), Number(test['size'])));
    if (test.result === 'valid') {
      if (okm === null || Buffer.from(okm).toString('hex') !== test['okm']) t.fail(`tcId ${test.tcId}`);
    } else if (okm !== null) {
      t.fail(`tcId ${test.tcId} (${test.flags.join(',')}): expected a refusal`);
    }
  }
  t.pass('86 vectors');
});

t.test('ChaCha20-Poly1305: seal and open match every verdict, for OpenSSL and noble', async (t) => {
  let checked = 0;
  for (const { test } of load('chacha20_poly1305_test.json')) {
    const key = hex(test['key']);
    const iv = hex(test['iv']);
    const aad = hex(test['aad']);
    const sealed = new Uint8Array(Buffer.concat([hex(test['ct']), hex(test['tag'])]));
    const opened = attempt(() => aeadOpen(key, iv, sealed, aad));
    const nobleOpened = attempt(() => chacha20poly1305(key, iv, aad).decrypt(sealed));
    if (test.result === 'valid') {
      const msg = hex(test['msg']);
      const ours = attempt(() => aeadSeal(key, iv, msg, aad));
      if (ours === null || !same(ours, sealed)) t.fail(`seal tcId ${test.tcId}`);
      // Sealed in parts (a session message's type byte, then its body), the same bytes.
      for (const cut of [0, 1, msg.length >> 1, msg.length]) {
        const inParts = attempt(() => aeadSeal(key, iv, [msg.subarray(0, cut), msg.subarray(cut)], aad));
        if (inParts === null || !same(inParts, sealed)) t.fail(`seal in parts at ${cut}, tcId ${test.tcId}`);
      }
      if (opened === null || !same(opened, msg)) t.fail(`open tcId ${test.tcId}`);
      if (nobleOpened === null || !same(nobleOpened, msg)) t.fail(`noble tcId ${test.tcId}`);
    } else {
      if (opened !== null) t.fail(`open tcId ${test.tcId} (${test.flags.join(',')}): accepted`);
      if (nobleOpened !== null) t.fail(`noble tcId ${test.tcId} (${test.flags.join(',')}): accepted`);
    }
    checked += 1;
  }
  t.equal(checked, 325);
});
