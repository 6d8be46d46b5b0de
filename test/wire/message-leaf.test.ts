import fc from 'fast-check';
import t from 'tap';
import { decodeLeaf, encodeLeaf, LEAF_FIXED_BYTES, LeafFormatError, leafMessageId, MAX_CREATED_AT, MESSAGE_TYPES, type MessageLeaf } from '../../extension/wire/message-leaf';

const MAX = 4096;

const leafArbitrary = fc.record({
  messageId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  createdAt: fc.integer({ min: 0, max: 2 ** 48 }),
  type: fc.constantFrom(...MESSAGE_TYPES),
  correlationId: fc.option(fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/), { nil: null }),
  payload: fc.uint8Array({ maxLength: 512 }),
});

const sample = (seed: number): MessageLeaf => fc.sample(leafArbitrary, { numRuns: 1, seed })[0] as MessageLeaf;

t.test('encode/decode round trip, byte for byte, with the documented layout', async (t) => {
  fc.assert(
    fc.property(leafArbitrary, (leaf) => {
      const bytes = encodeLeaf(leaf);
      const decoded = decodeLeaf(bytes, MAX);
      return Buffer.compare(encodeLeaf(decoded), bytes) === 0 && Buffer.compare(leafMessageId(bytes), leaf.messageId) === 0;
    }),
    { numRuns: 300, seed: 42 },
  );
  const bytes = Buffer.from(encodeLeaf({ messageId: new Uint8Array(16).fill(0xab), createdAt: 0x0102030405, type: 'json', correlationId: 'req-1', payload: Buffer.from('{}') }));
  t.equal(bytes.toString('hex'), `${'ab'.repeat(16)}0000000102030405020572${Buffer.from('eq-1').toString('hex')}7b7d`);
  t.equal(bytes.length, LEAF_FIXED_BYTES + 5 + 2);
});

t.test('each field is refused for what is wrong with it', async (t) => {
  const base = Buffer.from(encodeLeaf({ ...sample(1), correlationId: 'abc', payload: Buffer.from('hello') }));
  const refusal = (bytes: Uint8Array, max = MAX) => {
    try {
      decodeLeaf(bytes, max);
      return null;
    } catch (error) {
      if (!(error instanceof LeafFormatError)) throw error;
      return error.reason;
    }
  };
  const changed = (at: number, value: number) => {
    const copy = Buffer.from(base);
    copy[at] = value;
    return copy;
  };
  t.equal(refusal(base), null);
  t.equal(refusal(base.subarray(0, LEAF_FIXED_BYTES - 1)), 'too_short');
  t.equal(refusal(changed(16, 0xff)), 'time_out_of_range', 'created_at past 2^53');
  const createdAt = (ms: number) => {
    const copy = Buffer.from(base);
    copy.writeBigUInt64BE(BigInt(ms), 16);
    return copy;
  };
  t.equal(refusal(createdAt(MAX_CREATED_AT)), null, 'the latest date there is');
  t.ok(Number.isNaN(new Date(MAX_CREATED_AT + 1).getTime()), 'one ms later is no date');
  t.equal(refusal(createdAt(MAX_CREATED_AT + 1)), 'time_out_of_range', 'below 2^53, but no date: the receiver could not store it');
  t.throws(() => encodeLeaf({ ...sample(3), createdAt: MAX_CREATED_AT + 1 }), RangeError);
  for (const code of [0, 10, 255]) t.equal(refusal(changed(24, code)), 'unknown_type', `type ${code}`);
  t.throws(
    () => decodeLeaf(changed(24, 10), MAX),
    {
      message:
        'message type 10 is none of 1 (text), 2 (json), 3 (a2a_request), 4 (a2a_response), 5 (file_offer), 6 (file_control), 7 (file_chunk), 8 (group_control), 9 (group_message)',
    },
    'the refusal lists the codes',
  );
  t.same(
    [1, 2, 3, 4, 5, 6, 7, 8, 9].map((code) => decodeLeaf(changed(24, code), MAX).type),
    ['text', 'json', 'a2a_request', 'a2a_response', 'file_offer', 'file_control', 'file_chunk', 'group_control', 'group_message'],
    'the nine type codes',
  );
  for (const type of ['file_offer', 'file_control', 'file_chunk', 'group_control', 'group_message'] as const) {
    const leaf = { ...sample(4), type };
    t.equal(Buffer.from(encodeLeaf(leaf))[24], ['file_offer', 'file_control', 'file_chunk', 'group_control', 'group_message'].indexOf(type) + 5, `${type} is written as its code`);
    t.same(decodeLeaf(encodeLeaf(leaf), MAX), leaf, `${type} round trips`);
  }
  t.equal(refusal(changed(25, 200)), 'correlation_truncated');
  t.equal(refusal(changed(26, 0x20)), 'bad_correlation_id', 'a space');
  t.equal(refusal(changed(26, 0xe9)), 'bad_correlation_id', 'not ASCII');
  t.equal(refusal(base, 4), 'payload_too_large', 'five bytes against a limit of four');
  t.equal(refusal(base, 5), null, 'at the limit');
  const empty = encodeLeaf({ ...sample(2), correlationId: null, payload: new Uint8Array(0) });
  t.equal(empty.length, LEAF_FIXED_BYTES, 'no correlation id, no payload: the fixed bytes alone');
  t.same(decodeLeaf(empty, 0).payload, new Uint8Array(0));
});

t.test('the encoder refuses what the decoder would', async (t) => {
  t.throws(() => encodeLeaf({ ...sample(3), messageId: new Uint8Array(15) }), RangeError);
  t.throws(() => encodeLeaf({ ...sample(3), createdAt: -1 }), RangeError);
  t.throws(() => encodeLeaf({ ...sample(3), createdAt: 1.5 }), RangeError);
  t.throws(() => encodeLeaf({ ...sample(3), correlationId: 'x'.repeat(129) }), RangeError);
  t.throws(() => encodeLeaf({ ...sample(3), correlationId: '' }), RangeError);
});

t.test('no byte string makes the decoder do anything but decode or refuse', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      try {
        decodeLeaf(bytes, MAX);
        return true;
      } catch (error) {
        return error instanceof LeafFormatError;
      }
    }),
    { numRuns: 2000, seed: 3 },
  );
  t.pass('2000 random inputs');
});
