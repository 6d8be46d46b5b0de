import t from 'tap';
import {
  checkRevocationNotice,
  decodeRevocationNotice,
  REVOCATION_NOTICE_BYTES,
  signRevocationNotice,
  type NoticeContext,
} from '../../extension/wire/revocation-notice';
import { MSG_BATCH, MSG_HELLO, MSG_RECEIPT, MSG_REVOCATION } from '../../extension/wire/session-messages';
import { throwawayIdentity } from '../helpers/raw-peer';
import { oneBitFlips } from '../helpers/bit-flips';

const alice = throwawayIdentity();
const bob = throwawayIdentity();
const mallory = throwawayIdentity();
const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const SKEW = 5 * 60_000;
/** Bob receiving on his session with Alice. */
const atBob: NoticeContext = { revoker: alice.publicKey, me: bob.publicKey, now: NOW, clockSkewMs: SKEW };

t.test('the wire values are the documented ones', async (t) => {
  t.same([MSG_HELLO, MSG_REVOCATION, MSG_BATCH, MSG_RECEIPT], [0x22, 0x23, 0x25, 0x26]);
  t.equal(REVOCATION_NOTICE_BYTES, 136);
});

t.test('a notice by the session peer, for me, recent, is accepted and reads back', async (t) => {
  const body = signRevocationNotice(alice, bob.publicKey, NOW);
  t.equal(body.length, REVOCATION_NOTICE_BYTES);
  t.equal(checkRevocationNotice(body, atBob), null);
  t.same(decodeRevocationNotice(body)?.notice, { revoker: alice.publicKey, revoked: bob.publicKey, timestamp: NOW });
  t.equal(checkRevocationNotice(signRevocationNotice(alice, bob.publicKey, NOW - SKEW), atBob), null, 'at the edge of the window, past');
  t.equal(checkRevocationNotice(signRevocationNotice(alice, bob.publicKey, NOW + SKEW), atBob), null, 'at the edge of the window, future');
});

t.test('a notice by anyone but the session peer is refused', async (t) => {
  t.equal(checkRevocationNotice(signRevocationNotice(mallory, bob.publicKey, NOW), atBob), 'wrong_revoker', "mallory's own notice on alice's session");
  const inAlicesName = signRevocationNotice({ publicKey: alice.publicKey, sign: (m) => mallory.sign(m) }, bob.publicKey, NOW);
  t.equal(checkRevocationNotice(inAlicesName, atBob), 'bad_signature', "alice's key, mallory's signature");
});

t.test('a notice for another node is refused', async (t) => {
  t.equal(checkRevocationNotice(signRevocationNotice(alice, mallory.publicKey, NOW), atBob), 'wrong_recipient');
});

t.test('a notice outside the clock window is refused', async (t) => {
  t.equal(checkRevocationNotice(signRevocationNotice(alice, bob.publicKey, NOW - SKEW - 1), atBob), 'stale_timestamp');
  t.equal(checkRevocationNotice(signRevocationNotice(alice, bob.publicKey, NOW + SKEW + 1), atBob), 'future_timestamp');
  t.equal(checkRevocationNotice(signRevocationNotice(alice, bob.publicKey, 0), atBob), 'stale_timestamp', 'the epoch');
});

t.test('a truncated, padded, altered or garbage body is refused', async (t) => {
  const body = signRevocationNotice(alice, bob.publicKey, NOW);
  t.equal(checkRevocationNotice(new Uint8Array(0), atBob), 'malformed', 'empty');
  t.equal(checkRevocationNotice(body.subarray(0, body.length - 1), atBob), 'malformed', 'one byte short');
  t.equal(checkRevocationNotice(Buffer.concat([body, Uint8Array.of(0)]), atBob), 'malformed', 'one byte extra');
  t.equal(checkRevocationNotice(Buffer.from('revoked!'), atBob), 'malformed', 'text');
  const huge = Buffer.from(body);
  huge.writeBigUInt64BE(2n ** 64n - 1n, 64);
  t.equal(checkRevocationNotice(huge, atBob), 'malformed', 'a timestamp beyond exact numbers');
  t.equal(decodeRevocationNotice(huge), null);
  for (const [i, copy] of oneBitFlips(body)) t.not(checkRevocationNotice(copy, atBob), null, `bit flipped in byte ${i}`);
});

t.test('decode reads a view into a larger buffer', async (t) => {
  const body = signRevocationNotice(alice, bob.publicKey, NOW);
  const framed = Buffer.concat([Uint8Array.of(MSG_REVOCATION), body, Uint8Array.of(9)]);
  t.equal(checkRevocationNotice(framed.subarray(1, 1 + body.length), atBob), null);
});
