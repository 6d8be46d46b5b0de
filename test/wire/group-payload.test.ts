import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import t from 'tap';
import {
  decodeGroupControl,
  decodeGroupMessage,
  encodeGroupControl,
  encodeGroupMessage,
  type EnvelopeRefusal,
  type GroupControl,
  type GroupEnvelope,
  MAX_CONTROL_EPOCHS,
  MAX_ENVELOPE_BYTES,
  MAX_GROUP_CONTROL_BYTES,
  MAX_GROUP_MESSAGE_BYTES,
  signGroupEnvelope,
  verifyGroupEnvelope,
} from '../../extension/wire/group-payload';
import { type EpochStatement, GroupFormatError, groupSigningInput, MAX_GROUP_MEMBERS, signInviteStatement } from '../../extension/wire/group-statement';
import { addChange, createStatement, envelopeBy, GROUP_TIME, groupHistory, groupPerson, leaveChange } from '../helpers/groups';

const { alice, bob, carol, epochs } = groupHistory();
const [e0, e1, e2, e3] = epochs as [EpochStatement, EpochStatement, EpochStatement, EpochStatement];
const json = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value), 'utf8');
const invite = signInviteStatement({ t: 'invite', group: e2.group, invitee: carol.peer, epoch: 1, at: GROUP_TIME }, alice.identity);

/** The reason and message of a refusal, or null when the bytes decode. */
function refusal(read: () => unknown): { reason: string; message: string } | null {
  try {
    read();
    return null;
  } catch (error) {
    if (!(error instanceof GroupFormatError)) throw error;
    return { reason: error.reason, message: error.message };
  }
}

t.test('each kind of group_control round trips', async (t) => {
  const controls: GroupControl[] = [
    { kind: 'invite', invite, epochs: [e0, e1] },
    { kind: 'epochs', epochs: [e1, e2, e3] },
    { kind: 'join', join: addChange(e1, carol).join },
    { kind: 'leave', leave: leaveChange(e2, bob).leave },
  ];
  for (const control of controls) {
    const bytes = encodeGroupControl(control);
    t.same(decodeGroupControl(bytes), control, control.kind);
    t.equal(JSON.parse(Buffer.from(bytes).toString('utf8')).v, 1);
  }
});

t.test('every refusal of a group_control, with its message', async (t) => {
  const cases: [Uint8Array, string, string][] = [
    [new Uint8Array(MAX_GROUP_CONTROL_BYTES + 1), 'too_large', `a group control of ${MAX_GROUP_CONTROL_BYTES + 1} bytes exceeds the ${MAX_GROUP_CONTROL_BYTES} bytes it may take`],
    [Buffer.from([0xff]), 'malformed', 'a group control is not UTF-8 JSON'],
    [json([1]), 'malformed', 'a group control is not a JSON object'],
    [json({ v: 2, kind: 'join' }), 'bad_version', 'payload version 2 is not 1'],
    [json({ kind: 'join' }), 'bad_version', 'payload version null is not 1'],
    [json({ v: 1, kind: 'rename' }), 'bad_schema', 'kind "rename" is none of invite, epochs, join, leave'],
    [json({ v: 1, kind: 'join' }), 'bad_schema', 'a join control lacks join'],
    [json({ v: 1, kind: 'join', join: addChange(e1, carol).join, leave: {} }), 'bad_schema', 'a join control has no member "leave"'],
    [json({ v: 1, kind: 'leave', leave: addChange(e1, carol).join }), 'bad_schema', 'leave has no member "epoch_seen"'],
    [json({ v: 1, kind: 'epochs', epochs: [] }), 'bad_schema', `epochs holds 0 items, not 1 to ${MAX_CONTROL_EPOCHS}`],
    [json({ v: 1, kind: 'epochs', epochs: Array(MAX_CONTROL_EPOCHS + 1).fill(e0) }), 'bad_schema', `epochs holds ${MAX_CONTROL_EPOCHS + 1} items, not 1 to ${MAX_CONTROL_EPOCHS}`],
    [json({ v: 1, kind: 'epochs', epochs: [e0, e2] }), 'bad_schema', 'epochs[1] does not follow epochs[0] (same group, next epoch, prev its hash)'],
    [json({ v: 1, kind: 'epochs', epochs: [e0, { ...e1, prev: e1.prev?.replace(/^./, 'f') }] }), 'bad_schema', 'epochs[1] does not follow epochs[0] (same group, next epoch, prev its hash)'],
    [json({ v: 1, kind: 'epochs', epochs: [{ ...e0, name: '' }] }), 'bad_schema', 'epochs[0].name is not a display name (1-64 characters, not only whitespace, no control, line-separator, text-direction, zero-width or invisible character)'],
    [json({ v: 1, kind: 'invite', invite, epochs: [e2] }), 'bad_schema', 'invite is not for the group and epoch of the last statement beside it'],
    [json({ v: 1, kind: 'invite', epochs: [e1] }), 'bad_schema', 'an invite control lacks invite'],
  ];
  for (const [bytes, reason, message] of cases) t.same(refusal(() => decodeGroupControl(bytes)), { reason, message }, message);
  t.throws(() => encodeGroupControl({ kind: 'epochs', epochs: [e1, e0] }), { name: 'P2pError', message: 'epochs[1] does not follow epochs[0] (same group, next epoch, prev its hash)' }, 'the encoder runs the checks');
});

t.test('a group_message round trips, with and without relay; the signature is the author’s, checked by noble', async (t) => {
  const envelope = envelopeBy(carol, e2);
  for (const relay of [null, [bob.peer]]) {
    const bytes = encodeGroupMessage({ envelope, relay });
    t.same(decodeGroupMessage(bytes), { envelope, relay });
  }
  t.equal(verifyGroupEnvelope(envelope, e2), null);
  t.equal(verifyGroupEnvelope(envelope, e2, carol.identity.publicKey), null, 'with the pinned key');
  t.ok(ed25519.verify(Buffer.from(envelope.sig, 'base64url'), groupSigningInput(envelope), carol.identity.publicKey), 'noble');
  const jsonEnvelope = envelopeBy(alice, e2, { type: 'json', content: { a: [1, 'é', null] }, seq: 2, prev_epoch: 1 });
  t.same(decodeGroupMessage(encodeGroupMessage({ envelope: jsonEnvelope, relay: null })).envelope, jsonEnvelope);
  const spaced = Buffer.from(JSON.stringify({ relay: [bob.peer], envelope: Object.fromEntries(Object.entries(envelope).reverse()), v: 1 }, null, 2));
  t.equal(verifyGroupEnvelope(decodeGroupMessage(spaced).envelope, e2), null, 'any member order and spacing: the signature is over JCS');
});

t.test('every refusal of an envelope against its epoch', async (t) => {
  const envelope = envelopeBy(carol, e2);
  const cases: [EnvelopeRefusal, GroupEnvelope, EpochStatement, Uint8Array | null][] = [
    ['other_group', envelope, createStatement(alice, new Uint8Array(16)), null],
    ['other_epoch', envelope, e3, null],
    ['author_not_member', envelopeBy(bob, e3), e3, null],
    ['author_not_member', envelopeBy(carol, e1), e1, null],
    ['bad_signature', envelope, e2, bob.identity.publicKey],
    ['bad_signature', { ...envelope, content: 'hello grouP' }, e2, null],
  ];
  for (const [reason, candidate, statement, key] of cases) t.equal(verifyGroupEnvelope(candidate, statement, key), reason, reason);
});

t.test('changing any member of a signed envelope is refused', async (t) => {
  const envelope = envelopeBy(carol, e2, { seq: 3, prev_epoch: 2 });
  const changes: Partial<Record<keyof GroupEnvelope, unknown>> = {
    t: 'mgs',
    group: e0.group.replace(/.$/, e0.group.endsWith('a') ? 'b' : 'a'),
    epoch: 1,
    author: alice.peer,
    seq: 4,
    prev_epoch: 1,
    id: 'c1'.repeat(16),
    created_at: GROUP_TIME + 1,
    type: 'json',
    content: 'hello',
    sig: envelopeBy(carol, e2).sig,
  };
  for (const [name, value] of Object.entries(changes)) {
    const tampered = { ...envelope, [name]: value } as GroupEnvelope;
    t.not(verifyGroupEnvelope(tampered, e2), null, `${name}: ${String(verifyGroupEnvelope(tampered, e2))}`);
  }
});

t.test('every refusal of a group_message, with its message', async (t) => {
  const envelope = envelopeBy(carol, e2);
  const message = (change: Record<string, unknown>, envelopeChange: Record<string, unknown> = {}) => json({ v: 1, envelope: { ...envelope, ...envelopeChange }, ...change });
  const cases: [Uint8Array, string, string][] = [
    [new Uint8Array(MAX_GROUP_MESSAGE_BYTES + 1), 'too_large', `a group message of ${MAX_GROUP_MESSAGE_BYTES + 1} bytes exceeds the ${MAX_GROUP_MESSAGE_BYTES} bytes it may take`],
    [Buffer.from('{"v":1,'), 'malformed', 'a group message is not UTF-8 JSON'],
    [json({ v: '1', envelope }), 'bad_version', 'payload version "1" is not 1'],
    [message({ extra: true }), 'bad_schema', 'a group message has no member "extra"'],
    [json({ v: 1 }), 'bad_schema', 'a group message lacks envelope'],
    [message({}, { t: 'message' }), 'bad_schema', 'envelope.t is not "msg"'],
    [message({}, { extra: 1 }), 'bad_schema', 'envelope has no member "extra"'],
    [message({}, { seq: 0 }), 'bad_schema', 'envelope.seq is not a whole number from 1 to 4294967295'],
    [message({}, { prev_epoch: 3 }), 'bad_schema', 'envelope.prev_epoch is not a whole number from 0 to 2'],
    [message({}, { prev_epoch: 1 }), 'bad_schema', 'envelope.prev_epoch is not 0 on the author’s first message'.replace('’', "'")],
    [message({}, { type: 'html' }), 'bad_schema', 'envelope.type is neither "text" nor "json"'],
    [message({}, { content: 1 }), 'bad_schema', 'envelope.content of a text message is not a well-formed string'],
    [Buffer.from(`{"v":1,"envelope":${JSON.stringify({ ...envelope, content: 'X' }).replace('"X"', '"\\ud800"')}}`), 'bad_schema', 'envelope.content of a text message is not a well-formed string'],
    [message({}, { type: 'json', content: JSON.parse('['.repeat(101) + ']'.repeat(101)) }), 'bad_schema', `envelope.content at ${'/0'.repeat(100)} nests deeper than 100 arrays and objects; flatten it`],
    [Buffer.from(`{"v":1,"envelope":${JSON.stringify({ ...envelope, type: 'json', content: [0] }).replace('[0]', '[1e400]')}}`), 'bad_schema', 'envelope.content at /0 holds a number beyond the range of a 64-bit float (such as 1e400), which would arrive as null; send it as a string'],
    [message({}, { id: 'C0'.repeat(16) }), 'bad_schema', 'envelope.id is not 32 lower-case hex characters'],
    [message({}, { author: 'carol' }), 'bad_schema', 'envelope.author is not a peer id'],
    [message({}, { group: 'grp-' }), 'bad_schema', 'envelope.group is not a group id (grp- and 32 characters a-z, 2-7)'],
    [message({}, { created_at: -1 }), 'bad_schema', 'envelope.created_at is not a whole number from 0 to 8640000000000000'],
    [message({}, { sig: undefined }), 'bad_schema', 'envelope lacks sig'],
    [message({}, { content: 'x'.repeat(MAX_ENVELOPE_BYTES) }), 'too_large', /^envelope is \d+ bytes in JCS, more than the 262144 an envelope may take$/.source],
    [message({ relay: [] }), 'bad_schema', `relay holds 0 items, not 1 to ${MAX_GROUP_MEMBERS - 2}`],
    [message({ relay: [bob.peer, bob.peer] }), 'bad_schema', 'relay names a peer twice'],
    [message({ relay: [carol.peer] }), 'bad_schema', 'relay names the author'],
    [message({ relay: ['bob'] }), 'bad_schema', 'relay[0] is not a peer id'],
  ];
  for (const [bytes, reason, message] of cases) {
    const found = refusal(() => decodeGroupMessage(bytes));
    t.equal(found?.reason, reason, message);
    t.match(found?.message, message.startsWith('^') ? new RegExp(message) : message);
    if (!message.startsWith('^')) t.equal(found?.message, message);
  }
  t.throws(() => signGroupEnvelope({ ...envelope, seq: 0 }, carol.identity), { name: 'P2pError', message: 'envelope.seq is not a whole number from 1 to 4294967295' }, 'signing runs the checks');
  t.throws(() => encodeGroupMessage({ envelope, relay: [carol.peer] }), { name: 'P2pError', message: 'relay names the author' });
});

t.test('the largest envelope fits its message, and 32 members fit a control', async (t) => {
  const dave = groupPerson(0x24, 'Dave');
  const envelope = envelopeBy(dave, { ...e2, members: [...e2.members] }, { content: '' });
  const room = MAX_ENVELOPE_BYTES - Buffer.byteLength(JSON.stringify(envelope), 'utf8');
  const largest = envelopeBy(dave, e2, { content: 'x'.repeat(room) });
  const relay = Array.from({ length: MAX_GROUP_MEMBERS - 2 }, (_, i) => groupPerson(0x40 + i, 'M').peer);
  t.ok(encodeGroupMessage({ envelope: largest, relay }).length <= MAX_GROUP_MESSAGE_BYTES, 'with the longest relay list');
  t.throws(() => envelopeBy(dave, e2, { content: 'x'.repeat(room + 1) }), { name: 'P2pError', message: /more than the 262144 an envelope may take/ });
});

t.test('property: envelopes round trip and verify; noble agrees', async (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.record({ type: fc.constant<'text'>('text'), content: fc.string({ unit: 'grapheme', maxLength: 200 }) }),
        fc.record({ type: fc.constant<'json'>('json'), content: fc.jsonValue({ maxDepth: 4 }) }),
      ),
      fc.integer({ min: 2, max: 2 ** 32 - 1 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      ({ type, content }, seq, id) => {
        const envelope = envelopeBy(carol, e2, { type, content, seq, prev_epoch: 2, id: Buffer.from(id).toString('hex') });
        const back = decodeGroupMessage(encodeGroupMessage({ envelope, relay: null })).envelope;
        return (
          JSON.stringify(back) === JSON.stringify(envelope) &&
          verifyGroupEnvelope(back, e2) === null &&
          ed25519.verify(Buffer.from(back.sig, 'base64url'), groupSigningInput(back), carol.identity.publicKey)
        );
      },
    ),
    { numRuns: 50 },
  );
  t.pass('50 envelopes');
});
