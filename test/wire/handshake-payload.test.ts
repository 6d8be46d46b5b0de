import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import {
  decodeInitiatorPayload,
  decodeResponderPayload,
  encodeInitiatorPayload,
  encodeResponderPayload,
  type InitiatorPayload,
  Intent,
  MAX_NAME_BYTES,
  PayloadError,
  REQUEST_ID_BYTES,
} from '../../extension/wire/handshake-payload';
import { encodeKeyChain, extendKeyChain } from '../../extension/wire/key-rotation';
import { throwawayIdentity } from '../helpers/raw-peer';

const EMOJI_NAME = '🦊'.repeat(64);

function initiator(overrides: Partial<InitiatorPayload> = {}): InitiatorPayload {
  return {
    intent: Intent.PAIR_REQUEST,
    requestId: new Uint8Array(randomBytes(REQUEST_ID_BYTES)),
    listenPort: 7070,
    displayName: 'Alice',
    ...overrides,
  };
}

/** A valid initiator payload with its name length field and name replaced. */
function initiatorBytes(nameLength: number, name: Uint8Array, intent: number = Intent.SESSION): Uint8Array {
  const bytes = Buffer.alloc(1 + REQUEST_ID_BYTES + 2 + 2 + name.length);
  bytes[0] = intent;
  bytes.writeUInt16BE(7070, 1 + REQUEST_ID_BYTES);
  bytes.writeUInt16BE(nameLength, 1 + REQUEST_ID_BYTES + 2);
  bytes.set(name, 1 + REQUEST_ID_BYTES + 4);
  return new Uint8Array(bytes);
}

function responderBytes(nameLength: number, name: Uint8Array): Uint8Array {
  const bytes = Buffer.alloc(2 + name.length);
  bytes.writeUInt16BE(nameLength, 0);
  bytes.set(name, 2);
  return new Uint8Array(bytes);
}

function payloadError(t: Test, fn: () => unknown, message: RegExp, label: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  t.ok(caught instanceof PayloadError, `${label}: throws a PayloadError`);
  t.match((caught as Error | undefined)?.message, message, label);
}

t.test('the constants', async (t) => {
  t.equal(REQUEST_ID_BYTES, 16);
  t.equal(MAX_NAME_BYTES, 256);
  t.same(Intent, { SESSION: 1, PAIR_REQUEST: 2 });
});

t.test('responder payload round trips', async (t) => {
  for (const displayName of ['Bob', 'Zoë 日本 👩‍💻', EMOJI_NAME, '', 'a'.repeat(256)]) {
    const encoded = encodeResponderPayload({ displayName });
    t.equal(encoded.length, 2 + Buffer.byteLength(displayName), `${displayName.length} UTF-16 units: length prefix plus UTF-8`);
    t.same(decodeResponderPayload(encoded), { displayName });
  }
});

t.test('the responder layout is name_len u16 BE | name', async (t) => {
  t.same([...encodeResponderPayload({ displayName: 'é' })], [0, 2, 0xc3, 0xa9]);
  t.same([...encodeResponderPayload({ displayName: EMOJI_NAME })].slice(0, 2), [1, 0], '256 bytes is 0x0100');
});

t.test('initiator payload round trips', async (t) => {
  const cases: [string, InitiatorPayload][] = [
    ['pair request', initiator()],
    ['session with zero request id', initiator({ intent: Intent.SESSION, requestId: new Uint8Array(REQUEST_ID_BYTES) })],
    ['not listening (port 0)', initiator({ listenPort: 0 })],
    ['port 65535', initiator({ listenPort: 65535 })],
    ['64-emoji name of 256 UTF-8 bytes', initiator({ displayName: EMOJI_NAME })],
    ['mixed script name', initiator({ displayName: 'Zoë 日本 👩‍💻' })],
  ];
  t.equal(Buffer.byteLength(EMOJI_NAME), 256);
  for (const [label, payload] of cases) {
    const encoded = encodeInitiatorPayload(payload);
    t.equal(encoded.length, 1 + 16 + 2 + 2 + Buffer.byteLength(payload.displayName), `${label}: length`);
    t.same(decodeInitiatorPayload(encoded), payload, label);
  }
});

t.test('the initiator layout is intent | request_id | listen_port BE | name_len BE | name', async (t) => {
  const requestId = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  const encoded = encodeInitiatorPayload({ intent: Intent.PAIR_REQUEST, requestId, listenPort: 0x1234, displayName: 'AB' });
  t.same([...encoded], [2, ...requestId, 0x12, 0x34, 0, 2, 0x41, 0x42]);
});

t.test('decode reads a view into a larger buffer', async (t) => {
  const payload = initiator({ listenPort: 4242, displayName: 'Ünïcode' });
  const encoded = encodeInitiatorPayload(payload);
  const big = new Uint8Array(encoded.length + 10).fill(0xaa);
  big.set(encoded, 7);
  t.same(decodeInitiatorPayload(big.subarray(7, 7 + encoded.length)), payload);
  const responder = encodeResponderPayload({ displayName: 'Bob' });
  const bigger = new Uint8Array(responder.length + 5).fill(0xbb);
  bigger.set(responder, 3);
  t.same(decodeResponderPayload(bigger.subarray(3, 3 + responder.length)), { displayName: 'Bob' });
});

t.test('encode refuses what cannot be sent', async (t) => {
  payloadError(t, () => encodeResponderPayload({ displayName: '🦊'.repeat(65) }), /260 bytes; at most 256/, 'responder name of 260 bytes');
  payloadError(t, () => encodeResponderPayload({ displayName: 'a'.repeat(257) }), /257 bytes/, 'responder name of 257 bytes');
  payloadError(t, () => encodeInitiatorPayload(initiator({ displayName: `${EMOJI_NAME}a` })), /257 bytes/, 'initiator name of 257 bytes');
  payloadError(t, () => encodeInitiatorPayload(initiator({ requestId: new Uint8Array(15) })), /request id must be 16 bytes/, '15-byte request id');
  payloadError(t, () => encodeInitiatorPayload(initiator({ requestId: new Uint8Array(17) })), /request id must be 16 bytes/, '17-byte request id');
  payloadError(t, () => encodeInitiatorPayload(initiator({ listenPort: 70000 })), /listen port/, 'port 70000');
  payloadError(t, () => encodeInitiatorPayload(initiator({ listenPort: 65536 })), /listen port/, 'port 65536');
  payloadError(t, () => encodeInitiatorPayload(initiator({ listenPort: -1 })), /listen port/, 'port -1');
  payloadError(t, () => encodeInitiatorPayload(initiator({ listenPort: 80.5 })), /listen port/, 'port 80.5');
  payloadError(t, () => encodeInitiatorPayload(initiator({ listenPort: Number.NaN })), /listen port/, 'port NaN');
});

t.test('initiator decode refuses every malformed payload', async (t) => {
  const good = encodeInitiatorPayload(initiator({ displayName: 'Alice' }));
  t.ok(decodeInitiatorPayload(good), 'the base payload decodes');
  const name = Buffer.from('Alice');
  for (const length of [0, 1, 20, 22, good.length - 1]) {
    payloadError(t, () => decodeInitiatorPayload(good.subarray(0, length)), /truncated|does not match/, `truncated to ${length} bytes`);
  }
  payloadError(t, () => decodeInitiatorPayload(good.subarray(0, 20)), /truncated/, 'cut inside the name length');
  for (const intent of [0, 3, 0xff]) {
    payloadError(t, () => decodeInitiatorPayload(initiatorBytes(name.length, name, intent)), new RegExp(`unknown intent ${intent}`), `intent ${intent}`);
  }
  payloadError(t, () => decodeInitiatorPayload(initiatorBytes(name.length + 1, name)), /does not match/, 'name length larger than the rest');
  payloadError(t, () => decodeInitiatorPayload(initiatorBytes(0xffff, name)), /does not match/, 'name length 65535');
  payloadError(t, () => decodeInitiatorPayload(initiatorBytes(name.length - 1, name)), /does not match/, 'name length smaller than the rest');
  payloadError(t, () => decodeInitiatorPayload(Buffer.concat([good, Uint8Array.of(0)])), /does not match/, 'a trailing byte');
  const tooLong = Buffer.alloc(257, 0x61);
  payloadError(t, () => decodeInitiatorPayload(initiatorBytes(257, tooLong)), /does not match/, 'a consistent but 257-byte name');
  for (const [label, bytes] of [
    ['0xff', [0x41, 0xff]],
    ['a lone continuation byte', [0x80]],
    ['an overlong NUL', [0xc0, 0x80]],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['a cut 4-byte sequence', [0xf0, 0x9f, 0xa6]],
  ] as const) {
    const invalid = Uint8Array.from(bytes);
    payloadError(t, () => decodeInitiatorPayload(initiatorBytes(invalid.length, invalid)), /not valid UTF-8/, `invalid UTF-8: ${label}`);
  }
});

t.test('responder decode refuses every malformed payload', async (t) => {
  const name = Buffer.from('Bob');
  payloadError(t, () => decodeResponderPayload(new Uint8Array(0)), /length is missing/, 'empty');
  payloadError(t, () => decodeResponderPayload(Uint8Array.of(0)), /length is missing/, 'one byte');
  payloadError(t, () => decodeResponderPayload(responderBytes(4, name)), /does not match/, 'name length larger than the rest');
  payloadError(t, () => decodeResponderPayload(responderBytes(2, name)), /does not match/, 'name length smaller than the rest');
  payloadError(t, () => decodeResponderPayload(Buffer.concat([responderBytes(3, name), Uint8Array.of(0x21)])), /does not match/, 'a trailing byte');
  payloadError(t, () => decodeResponderPayload(responderBytes(257, Buffer.alloc(257, 0x61))), /does not match/, 'a 257-byte name');
  payloadError(t, () => decodeResponderPayload(responderBytes(2, Uint8Array.of(0xc3, 0x28))), /not valid UTF-8/, 'invalid UTF-8');
});

t.test('a key chain may follow the name; without one the bytes are those of a node that never rotated', async (t) => {
  const [root, next] = [throwawayIdentity(), throwawayIdentity()];
  const keyChain = extendKeyChain([], root, next, 1_900_000_000_000);
  const plain = initiator();
  const withChain = { ...plain, keyChain };
  const encoded = encodeInitiatorPayload(withChain);
  const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
  t.equal(hex(encoded.subarray(0, encoded.length - 235)), hex(encodeInitiatorPayload(plain)), 'the chain block is appended, nothing else moves');
  t.equal(hex(encoded.subarray(encoded.length - 235)), hex(encodeKeyChain(keyChain)));
  const decoded = decodeInitiatorPayload(encoded);
  t.equal(hex(encodeKeyChain(decoded.keyChain ?? [])), hex(encodeKeyChain(keyChain)));
  t.equal(hex(encodeInitiatorPayload(decoded)), hex(encoded), 'decodes to what encodes to the same bytes');
  const responder = decodeResponderPayload(encodeResponderPayload({ displayName: 'Bob', keyChain }));
  t.equal(responder.displayName, 'Bob');
  t.equal(hex(encodeKeyChain(responder.keyChain ?? [])), hex(encodeKeyChain(keyChain)));
  t.equal(hex(encodeResponderPayload({ displayName: 'Bob' })), '0003426f62', 'no chain: name_len | name only');
  t.notOk('keyChain' in decodeResponderPayload(encodeResponderPayload({ displayName: 'Bob' })));
  for (const tail of [Uint8Array.of(0), Uint8Array.of(1), encodeKeyChain(keyChain).subarray(0, 100), Uint8Array.of(17)]) {
    t.throws(() => decodeResponderPayload(Buffer.concat([encodeResponderPayload({ displayName: 'Bob' }), tail])), PayloadError, `tail of ${tail.length} bytes`);
  }
  t.throws(() => encodeResponderPayload({ displayName: 'Bob', keyChain: [] }), PayloadError, 'an empty chain is no chain');
});
