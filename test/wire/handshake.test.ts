import { ed25519 } from '@noble/curves/ed25519.js';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { throwawayIdentity } from '../helpers/raw-peer';
import t from 'tap';
import {
  HandshakeError,
  InitiatorHandshake,
  MAX_HANDSHAKE_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  ResponderHandshake,
  type StaticIdentity,
} from '../../extension/wire/handshake';
import { extendKeyChain, type RotationStatement } from '../../extension/wire/key-rotation';
import { Intent, type InitiatorPayload } from '../../extension/wire/handshake-payload';
import { SessionCipher } from '../../extension/wire/session-cipher';
import { IDENTITY_KEY, SMALL_ORDER_IDENTITY, WEAK_KEYS } from '../helpers/weak-keys';

const identity = throwawayIdentity;

const alice = identity();
const bob = identity();
const request: InitiatorPayload = { intent: Intent.PAIR_REQUEST, requestId: new Uint8Array(16).fill(7), listenPort: 7400, displayName: 'Alice' };

function run(initiatorPayload = request) {
  const initiator = new InitiatorHandshake(alice, bob.publicKey, initiatorPayload);
  const responder = new ResponderHandshake(bob, { displayName: 'Bob' });
  const m1 = initiator.start();
  const m2 = responder.respond(m1);
  const out = initiator.finish(m2);
  const done = responder.finish(out.finish);
  return { m1, m2, m3: out.finish, initiatorSide: out, responderSide: done };
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof HandshakeError) return error.reason;
    throw error;
  }
  return 'accepted';
}

t.test('both sides learn each other and agree on keys per direction', async (t) => {
  const { initiatorSide, responderSide, m1, m2, m3 } = run();
  t.same(initiatorSide.responder.publicKey, bob.publicKey);
  t.same(initiatorSide.responder.payload, { displayName: 'Bob' });
  t.same(responderSide.initiator.publicKey, alice.publicKey);
  t.same(responderSide.initiator.payload, request);
  t.same(initiatorSide.keys.send, responderSide.keys.receive);
  t.same(initiatorSide.keys.receive, responderSide.keys.send);
  t.not(Buffer.compare(initiatorSide.keys.send, initiatorSide.keys.receive), 0, 'one key per direction');
  t.same(initiatorSide.keys.transcriptHash, responderSide.keys.transcriptHash);
  for (const m of [m1, m2, m3]) t.ok(m.length <= MAX_HANDSHAKE_MESSAGE_BYTES);
  t.equal(Buffer.from(m3).includes(Buffer.from('Alice')), false, "the initiator's name and key travel encrypted");
  t.equal(Buffer.from(m3).includes(Buffer.from(alice.publicKey)), false);
});

t.test('each connection gets fresh keys (forward secrecy from ephemerals)', async (t) => {
  t.not(Buffer.compare(run().initiatorSide.keys.send, run().initiatorSide.keys.send), 0);
});

t.test('the responder signature verifies with noble too', async (t) => {
  // Cross-check: OpenSSL produced, noble verifies the same bytes.
  const message = new Uint8Array(32).fill(1);
  t.ok(ed25519.verify(bob.sign(message), message, bob.publicKey));
  t.ok(nobleX25519.getPublicKey(new Uint8Array(32).fill(9)).length === 32);
});

t.test('a flipped byte anywhere is refused', async (t) => {
  const clean = run();
  for (let i = 0; i < clean.m1.length; i += 5) {
    const initiator = new InitiatorHandshake(alice, bob.publicKey, request);
    const responder = new ResponderHandshake(bob, { displayName: 'Bob' });
    const m1 = Uint8Array.from(initiator.start());
    m1[i] = (m1[i] as number) ^ 0x01;
    const outcome = reason(() => initiator.finish(responder.respond(m1)));
    t.not(outcome, 'accepted', `message 1 byte ${i}: ${outcome}`);
  }
  for (let i = 0; i < clean.m2.length; i += 7) {
    const initiator = new InitiatorHandshake(alice, bob.publicKey, request);
    const responder = new ResponderHandshake(bob, { displayName: 'Bob' });
    const m2 = Uint8Array.from(responder.respond(initiator.start()));
    m2[i] = (m2[i] as number) ^ 0x80;
    t.not(reason(() => initiator.finish(m2)), 'accepted', `message 2 byte ${i}`);
  }
  for (let i = 0; i < clean.m3.length; i += 7) {
    const initiator = new InitiatorHandshake(alice, bob.publicKey, request);
    const responder = new ResponderHandshake(bob, { displayName: 'Bob' });
    const m3 = Uint8Array.from(initiator.finish(responder.respond(initiator.start())).finish);
    m3[i] = (m3[i] as number) ^ 0x80;
    t.not(reason(() => responder.finish(m3)), 'accepted', `message 3 byte ${i}`);
  }
});

t.test('a replayed message 3 from another connection is refused', async (t) => {
  const old = run();
  const initiator = new InitiatorHandshake(alice, bob.publicKey, request);
  const responder = new ResponderHandshake(bob, { displayName: 'Bob' });
  responder.respond(initiator.start());
  t.equal(reason(() => responder.finish(old.m3)), 'decrypt_failed');
});

t.test('a replayed message 1 gets a response nobody else can finish', async (t) => {
  const old = run();
  const responder = new ResponderHandshake(bob, { displayName: 'Bob' });
  const m2 = responder.respond(old.m1);
  t.not(Buffer.compare(m2, old.m2), 0, 'fresh responder ephemeral');
  t.equal(reason(() => responder.finish(old.m3)), 'decrypt_failed');
});

t.test('truncated, oversized and out-of-order messages are refused', async (t) => {
  const { m1, m2, m3 } = run();
  t.equal(reason(() => new ResponderHandshake(bob, { displayName: 'Bob' }).respond(m1.subarray(0, 20))), 'malformed');
  t.equal(reason(() => new ResponderHandshake(bob, { displayName: 'Bob' }).respond(m2)), 'unexpected_message');
  t.equal(reason(() => new ResponderHandshake(bob, { displayName: 'Bob' }).finish(m3)), 'unexpected_message');
  const initiator = new InitiatorHandshake(alice, bob.publicKey, request);
  initiator.start();
  t.equal(reason(() => initiator.finish(m2.subarray(0, m2.length - 1))), 'decrypt_failed');
  const other = new InitiatorHandshake(alice, bob.publicKey, request);
  other.start();
  t.equal(reason(() => other.finish(new Uint8Array(MAX_HANDSHAKE_MESSAGE_BYTES + 1).fill(2))), 'malformed');
  for (const version of [1, 3]) {
    const versioned = Uint8Array.from(m1);
    versioned[1] = version;
    t.equal(reason(() => new ResponderHandshake(bob, { displayName: 'Bob' }).respond(versioned)), 'unsupported_version', `version ${version}: no negotiation`);
  }
});

t.test('a responder with another identity is refused before the initiator reveals itself', async (t) => {
  const mallory = identity();
  const initiator = new InitiatorHandshake(alice, bob.publicKey, request);
  const m2 = new ResponderHandshake(mallory, { displayName: 'Bob' }).respond(initiator.start());
  t.equal(reason(() => initiator.finish(m2)), 'key_mismatch');
});

t.test('connecting to oneself is refused', async (t) => {
  const initiator = new InitiatorHandshake(alice, alice.publicKey, request);
  const m2 = new ResponderHandshake(alice, { displayName: 'A' }).respond(initiator.start());
  t.equal(reason(() => initiator.finish(m2)), 'self_connection');
});

t.test('a low-order ephemeral key is refused', async (t) => {
  const m1 = new Uint8Array(34);
  m1[0] = 1;
  m1[1] = PROTOCOL_VERSION;
  t.equal(reason(() => new ResponderHandshake(bob, { displayName: 'Bob' }).respond(m1)), 'weak_key');
});

t.test('an initiator proving a key that stands for no one is refused by the reason, even with a signature OpenSSL accepts', async (t) => {
  const mallory = new InitiatorHandshake(SMALL_ORDER_IDENTITY, bob.publicKey, request);
  const responder = new ResponderHandshake(bob, { displayName: 'Bob' });
  const { finish } = mallory.finish(responder.respond(mallory.start()));
  t.equal(reason(() => responder.finish(finish)), 'identity_key_small_order', 'R = identity, S = 0 verifies, and is still refused');
  for (const [refusal, key] of Object.entries(WEAK_KEYS)) {
    const weak = { publicKey: key, sign: alice.sign };
    const initiator = new InitiatorHandshake(weak, bob.publicKey, request);
    const side = new ResponderHandshake(bob, { displayName: 'Bob' });
    const out = initiator.finish(side.respond(initiator.start()));
    t.equal(reason(() => side.finish(out.finish)), `identity_key_${refusal}`, `${refusal}: refused for the key, not only for its signature`);
  }
});

t.test('a responder proving a key that stands for no one is refused, whether or not the initiator expected it', async (t) => {
  for (const expected of [IDENTITY_KEY, bob.publicKey]) {
    const initiator = new InitiatorHandshake(alice, expected, request);
    const responder = new ResponderHandshake(SMALL_ORDER_IDENTITY, { displayName: 'Mallory' });
    const m2 = responder.respond(initiator.start());
    t.equal(reason(() => initiator.finish(m2)), 'identity_key_small_order', expected === IDENTITY_KEY ? 'expected' : 'not expected: refused before key_mismatch');
  }
});

t.test('session ciphers: in order only, each direction independent, key retired at its limit', async (t) => {
  const { initiatorSide, responderSide } = run();
  const send = new SessionCipher(initiatorSide.keys.send, 3);
  const receive = new SessionCipher(responderSide.keys.receive, 3);
  const a = send.seal(Buffer.from('one'));
  const b = send.seal(Buffer.from('two'));
  t.same(Buffer.from(receive.open(a) as Uint8Array).toString(), 'one');
  t.equal(receive.open(a), null, 'a replayed frame fails');
  const fresh = new SessionCipher(responderSide.keys.receive, 3);
  t.equal(fresh.open(b), null, 'a reordered frame fails');
  send.seal(Buffer.from('three'));
  t.equal(send.remaining, 0);
  t.throws(() => send.seal(Buffer.from('four')), /new handshake is needed/);
});

t.test('message sizes are those docs/protocol.md states', async (t) => {
  const longName = '\u{1F600}'.repeat(64);
  for (const [name, extra] of [['', 0], [longName, 256]] as const) {
    const initiator = new InitiatorHandshake(alice, bob.publicKey, { ...request, displayName: name });
    const responder = new ResponderHandshake(bob, { displayName: name });
    const m1 = initiator.start();
    const m2 = responder.respond(m1);
    const m3 = initiator.finish(m2).finish;
    t.same([m1.length, m2.length, m3.length], [34, 147 + extra, 134 + extra], `name of ${extra} bytes`);
  }
  // 403 without a key chain; the cap leaves room for the longest one (16 statements).
  t.equal(MAX_HANDSHAKE_MESSAGE_BYTES, 4148);
});

/** A node that rotated from `root` through `current`: the chain certifying its current key, and that key's signer. */
function rotated(rotations: number): { root: StaticIdentity; current: StaticIdentity; keyChain: RotationStatement[] } {
  const signers = Array.from({ length: rotations + 1 }, () => identity());
  let keyChain: RotationStatement[] = [];
  for (let i = 1; i <= rotations; i += 1) keyChain = extendKeyChain(keyChain, signers[i - 1]!, signers[i]!, 1_900_000_000_000 + i);
  return { root: signers[0]!, current: signers[rotations]!, keyChain };
}

function mismatch(run: () => unknown): { reason: string; chain: string | null; presented: Uint8Array | null } {
  try {
    run();
  } catch (error) {
    if (!(error instanceof HandshakeError)) throw error;
    return { reason: error.reason, chain: error.chain, presented: error.presentedKey };
  }
  return { reason: 'accepted', chain: null, presented: null };
}

t.test('key chain block: both sides may carry one; the initiator verifies it only when the key proven is not the one it pinned', async (t) => {
  const carol = rotated(2);
  const dave = rotated(1);
  const initiator = new InitiatorHandshake(dave.current, carol.root.publicKey, { ...request, keyChain: dave.keyChain });
  const responder = new ResponderHandshake(carol.current, { displayName: 'Carol', keyChain: carol.keyChain });
  const m2 = responder.respond(initiator.start());
  const out = initiator.finish(m2);
  const done = responder.finish(out.finish);
  t.equal(m2.length, 147 + 5 + 1 + 2 * 234, 'name, then count and two statements');
  t.equal(out.finish.length, 134 + 5 + 1 + 234);
  t.same(out.responder.keyChain?.root, carol.root.publicKey, 'pinned at the root, the chain took the initiator to the current key');
  t.same(out.responder.keyChain?.currentKey, carol.current.publicKey);
  t.equal(out.responder.payload.displayName, 'Carol');
  t.notOk('keyChain' in done.initiator, 'the responder verifies nothing before its consent decision');
  const newKeys = (chain: RotationStatement[] | undefined) => chain?.map((statement) => Buffer.from(statement.newKey).toString('hex'));
  t.same(newKeys(done.initiator.payload.keyChain), newKeys(dave.keyChain), 'but hands the chain over as it came');
  t.same(done.initiator.payload.requestId, request.requestId);
  t.same(out.keys.send, done.keys.receive);

  const pinned = new InitiatorHandshake(alice, carol.current.publicKey, request);
  const followed = pinned.finish(new ResponderHandshake(carol.current, { displayName: 'Carol', keyChain: carol.keyChain }).respond(pinned.start()));
  t.notOk('keyChain' in followed.responder, 'the pinned key needs no chain: none is verified');

  const middle = new InitiatorHandshake(alice, (carol.keyChain[0] as RotationStatement).newKey, request);
  const fromMiddle = middle.finish(new ResponderHandshake(carol.current, { displayName: 'Carol', keyChain: carol.keyChain }).respond(middle.start()));
  t.same(fromMiddle.responder.keyChain?.currentKey, carol.current.publicKey, 'pinned at the second key, the chain also takes it on');
});

t.test('a node that never rotated sends no chain block: the proofs carry none', async (t) => {
  const { initiatorSide, responderSide } = run();
  t.notOk('keyChain' in initiatorSide.responder, 'no chain on the responder proof');
  t.notOk('keyChain' in responderSide.initiator);
  t.notOk('keyChain' in initiatorSide.responder.payload);
});

t.test('another key than the pinned one: key_mismatch, naming what the chain failed to show, with the key presented', async (t) => {
  const carol = rotated(2);
  const [first, second] = carol.keyChain as [RotationStatement, RotationStatement];
  const badSecond = { ...second, oldSignature: Uint8Array.from(second.oldSignature, (b, i) => (i === 0 ? b ^ 1 : b)) };
  const answer = (keyChain?: RotationStatement[]) => (initiator: InitiatorHandshake) =>
    initiator.finish(new ResponderHandshake(carol.current, keyChain === undefined ? { displayName: 'Carol' } : { displayName: 'Carol', keyChain }).respond(initiator.start()));
  const dial = (expected: Uint8Array, keyChain?: RotationStatement[]) => mismatch(() => answer(keyChain)(new InitiatorHandshake(alice, expected, request)));

  t.same(dial(carol.root.publicKey, [first, badSecond]), { reason: 'key_mismatch', chain: 'invalid_bad_old_signature', presented: carol.current.publicKey });
  t.same(dial(carol.root.publicKey), { reason: 'key_mismatch', chain: 'none', presented: carol.current.publicKey }, 'no chain');
  t.same(dial(carol.root.publicKey, [first]), { reason: 'key_mismatch', chain: 'invalid_broken_link', presented: carol.current.publicKey }, 'a chain ending at another key');
  t.same(dial(bob.publicKey, carol.keyChain), { reason: 'key_mismatch', chain: 'other_root', presented: carol.current.publicKey }, 'a valid chain that does not hold the pinned key');
  t.same(dial(carol.current.publicKey, [first, badSecond]).reason, 'accepted', 'a chain is not verified when the pinned key is proven');

  // A retired key presented where the current one is pinned: the chain cannot take a node backwards.
  const back = new InitiatorHandshake(alice, carol.current.publicKey, request);
  const retired = mismatch(() => back.finish(new ResponderHandshake(carol.root, { displayName: 'Carol' }).respond(back.start())));
  t.same(retired, { reason: 'key_mismatch', chain: 'none', presented: carol.root.publicKey });
});

t.test('the responder only checks that a chain ends at the key proven; its signatures are for the consent decision', async (t) => {
  const dave = rotated(2);
  const [d1, d2] = dave.keyChain as [RotationStatement, RotationStatement];
  const finishWith = (keyChain: RotationStatement[]) => {
    const initiator = new InitiatorHandshake(dave.current, bob.publicKey, { ...request, keyChain });
    const bobSide = new ResponderHandshake(bob, { displayName: 'Bob' });
    const m3 = initiator.finish(bobSide.respond(initiator.start())).finish;
    return mismatch(() => bobSide.finish(m3));
  };
  t.equal(finishWith([d1, { ...d2, seq: 1 }]).reason, 'accepted', 'a bad seq is left to the verifier');
  t.equal(finishWith([d1]).reason, 'key_chain_broken_link', 'a chain ending at another key is refused at once');
});

t.test('caps: the longest chain with the longest name fits exactly, one byte more is refused before decryption', async (t) => {
  const erin = rotated(16);
  const frank = rotated(16);
  const longName = '\u{1F600}'.repeat(64);
  const initiator = new InitiatorHandshake(erin.current, frank.current.publicKey, { ...request, displayName: longName, keyChain: erin.keyChain });
  const responder = new ResponderHandshake(erin.current, { displayName: longName, keyChain: erin.keyChain });
  const bobSide = new ResponderHandshake(frank.current, { displayName: longName, keyChain: frank.keyChain });
  const m1 = initiator.start();
  const m2 = bobSide.respond(m1);
  t.equal(m2.length, 4148, 'message 2 at its cap');
  t.equal(MAX_HANDSHAKE_MESSAGE_BYTES, m2.length);
  const m3 = initiator.finish(m2).finish;
  t.equal(m3.length, 4135, 'message 3 at its cap');
  t.equal(bobSide.finish(m3).initiator.payload.keyChain?.length, 16);

  const other = new InitiatorHandshake(alice, erin.current.publicKey, request);
  const longer = responder.respond(other.start());
  // A valid message 2 with one byte more: refused on its size, so it is never decrypted (else: decrypt_failed).
  t.equal(reason(() => other.finish(Uint8Array.from([...longer, 0]))), 'malformed');
  const late = new ResponderHandshake(frank.current, { displayName: 'Frank' });
  late.respond(new InitiatorHandshake(alice, frank.current.publicKey, request).start());
  t.equal(reason(() => late.finish(Uint8Array.from([...m3, 0]))), 'malformed');
});
