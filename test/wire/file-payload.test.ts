import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { P2pError } from '../../extension/common/errors';
import {
  CHUNK_HEADER_BYTES,
  chunkCountOf,
  decodeFileChunk,
  decodeFileControl,
  decodeFileOffer,
  DEFAULT_CHUNK_SIZE,
  encodeFileChunk,
  encodeFileControl,
  encodeFileOffer,
  FILE_CONTROL_ACTIONS,
  FILE_CONTROL_REASONS,
  type FileControl,
  type FileOffer,
  FilePayloadError,
  MAX_CHUNK_SIZE,
  MAX_CHUNKS,
  MAX_CONTROL_BYTES,
  MAX_DESCRIPTION_BYTES,
  MAX_FILE_NAME_BYTES,
  MAX_FILE_SIZE,
  MAX_OFFER_BYTES,
  MIN_CHUNK_SIZE,
} from '../../extension/wire/file-payload';
import { LEAF_FIXED_BYTES } from '../../extension/wire/message-leaf';

const offer: FileOffer = {
  name: 'report.pdf',
  size: 268_435_456,
  sha256: 'a1'.repeat(32),
  chunkSize: DEFAULT_CHUNK_SIZE,
  mediaType: 'application/pdf',
  description: 'Q3 numbers we discussed',
};

const json = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value), 'utf8');
const offerJson = (change: Record<string, unknown>): Uint8Array =>
  json({ v: 1, name: 'a.txt', size: 10, sha256: '0'.repeat(64), chunk_size: 65_536, ...change });

/** The reason and message of a refusal, or null when the bytes decode. */
function refusal(read: () => unknown): { reason: string; message: string } | null {
  try {
    read();
    return null;
  } catch (error) {
    if (!(error instanceof FilePayloadError)) throw error;
    return { reason: error.reason, message: error.message };
  }
}

/** Any INVALID_INPUT, for refusals whose message is checked elsewhere. */
const INVALID_INPUT = { name: 'P2pError', errorName: 'INVALID_INPUT' } as unknown as Error;

const schema = (message: string | RegExp) => ({ reason: 'bad_schema', message });

t.test('an offer round trips, in the documented JSON, optional members omitted when absent', async (t) => {
  const bytes = encodeFileOffer(offer);
  t.equal(
    Buffer.from(bytes).toString('utf8'),
    `{"v":1,"name":"report.pdf","size":268435456,"sha256":"${'a1'.repeat(32)}","chunk_size":262144,"media_type":"application/pdf","description":"Q3 numbers we discussed"}`,
  );
  t.same(decodeFileOffer(bytes), offer);
  const bare = { ...offer, mediaType: null, description: null };
  t.equal(Buffer.from(encodeFileOffer(bare)).toString('utf8'), `{"v":1,"name":"report.pdf","size":268435456,"sha256":"${'a1'.repeat(32)}","chunk_size":262144}`);
  t.same(decodeFileOffer(encodeFileOffer(bare)), bare);
  t.same(decodeFileOffer(Buffer.from(' {"chunk_size":65536, "size":1,"sha256":"' + 'f'.repeat(64) + '","name":"x","v":1} ')), {
    name: 'x',
    size: 1,
    sha256: 'f'.repeat(64),
    chunkSize: 65_536,
    mediaType: null,
    description: null,
  }, 'any JSON spelling, any member order');
});

t.test('an offer is refused for each rule it breaks, with a message naming it', async (t) => {
  t.same(refusal(() => decodeFileOffer(Buffer.from([0xff, 0x7b, 0x7d]))), { reason: 'malformed', message: 'an offer is not UTF-8 JSON' });
  t.same(refusal(() => decodeFileOffer(Buffer.from('{"v":1'))), { reason: 'malformed', message: 'an offer is not UTF-8 JSON' });
  t.same(refusal(() => decodeFileOffer(json([1]))), { reason: 'malformed', message: 'an offer is not a JSON object' });
  t.same(refusal(() => decodeFileOffer(json(null))), { reason: 'malformed', message: 'an offer is not a JSON object' });
  t.same(refusal(() => decodeFileOffer(offerJson({ v: 2 }))), { reason: 'bad_version', message: 'payload version 2 is not 1' });
  t.same(refusal(() => decodeFileOffer(offerJson({ v: undefined }))), { reason: 'bad_version', message: 'payload version null is not 1' });
  t.same(refusal(() => decodeFileOffer(offerJson({ path: '/etc' }))), schema('an offer has no member "path"'));
  t.same(refusal(() => decodeFileOffer(offerJson({ sha256: undefined }))), schema('an offer lacks sha256'));
  t.same(refusal(() => decodeFileOffer(offerJson({ name: 5 }))), schema('name is not a string'));
  t.same(refusal(() => decodeFileOffer(offerJson({ size: 0 }))), schema(`size is not a whole number of bytes from 1 to ${MAX_FILE_SIZE}`));
  t.same(refusal(() => decodeFileOffer(offerJson({ size: 1.5 }))), schema(`size is not a whole number of bytes from 1 to ${MAX_FILE_SIZE}`));
  t.same(refusal(() => decodeFileOffer(offerJson({ size: '10' }))), schema(`size is not a whole number of bytes from 1 to ${MAX_FILE_SIZE}`));
  t.same(refusal(() => decodeFileOffer(offerJson({ sha256: 'A'.repeat(64) }))), schema('sha256 is not 64 lower-case hex characters'));
  t.same(refusal(() => decodeFileOffer(offerJson({ sha256: '0'.repeat(63) }))), schema('sha256 is not 64 lower-case hex characters'));
  const chunkRule = `chunk_size is not a whole number of bytes from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`;
  t.same(refusal(() => decodeFileOffer(offerJson({ chunk_size: MIN_CHUNK_SIZE - 1 }))), schema(chunkRule));
  t.same(refusal(() => decodeFileOffer(offerJson({ chunk_size: MAX_CHUNK_SIZE + 1 }))), schema(chunkRule));
  t.same(refusal(() => decodeFileOffer(offerJson({ chunk_size: 65_536.5 }))), schema(chunkRule));
  t.match(refusal(() => decodeFileOffer(offerJson({ media_type: 'pdf' }))), schema(/^media_type is not type\/subtype of RFC 6838 restricted names/));
  t.match(refusal(() => decodeFileOffer(offerJson({ media_type: 'text/plain; charset=utf-8' }))), schema(/^media_type is not type\/subtype/), 'no parameters');
  t.match(refusal(() => decodeFileOffer(offerJson({ media_type: '+a/b' }))), schema(/^media_type is not type\/subtype/), 'a name starts with a letter or digit');
  t.match(refusal(() => decodeFileOffer(offerJson({ media_type: null }))), schema(/^media_type is not type\/subtype/), 'absent is omitted, not null');
  t.same(refusal(() => decodeFileOffer(offerJson({ media_type: `a/${'b'.repeat(128)}` }))), schema('media_type has a type or subtype longer than 127 characters'));
  t.same(refusal(() => decodeFileOffer(offerJson({ description: 7 }))), schema('description is not a string'));
  t.match(refusal(() => decodeFileOffer(offerJson({ description: 'a\u202eb' }))), schema(/^description holds U\+202E, a control/));
  t.match(refusal(() => decodeFileOffer(offerJson({ description: 'two\nlines' }))), schema(/^description holds U\+000A/));
  t.same(refusal(() => decodeFileOffer(Buffer.from('{"v":1,"name":"a","size":1,"sha256":"' + '0'.repeat(64) + '","chunk_size":65536,"description":"\\ud800"}'))), schema('description holds an unpaired UTF-16 surrogate'));
});

t.test('a file name is a name to show, never a path', async (t) => {
  const nameRefusal = (name: string) => refusal(() => decodeFileOffer(offerJson({ name })));
  t.same(nameRefusal(''), schema(`name is not 1 to ${MAX_FILE_NAME_BYTES} UTF-8 bytes long (0)`));
  t.equal(nameRefusal('a'.repeat(MAX_FILE_NAME_BYTES)), null, '255 bytes');
  t.same(nameRefusal('a'.repeat(MAX_FILE_NAME_BYTES + 1)), schema('name is not 1 to 255 UTF-8 bytes long (256)'));
  t.equal(nameRefusal('é'.repeat(127)), null, '254 bytes in 127 characters');
  t.same(nameRefusal('é'.repeat(128)), schema('name is not 1 to 255 UTF-8 bytes long (256)'), 'bytes count, not characters');
  for (const name of ['../x', 'a/b', 'a\\b', 'C:x']) t.same(nameRefusal(name), schema('name holds /, \\ or :, which would make it a path'), name);
  t.same(nameRefusal('.'), schema('name is ".", which names a directory'));
  t.same(nameRefusal('..'), schema('name is "..", which names a directory'));
  t.equal(nameRefusal('...'), null, 'three dots name a file');
  t.equal(nameRefusal('.bashrc'), null);
  t.same(nameRefusal('   '), schema('name is only whitespace'));
  for (const [character, codePoint] of [
    ['\u0000', '0000'],
    ['\u001b', '001B'],
    ['\u0085', '0085'],
    ['\u2028', '2028'],
    ['\u200b', '200B'],
    ['\u202e', '202E'],
    ['\ufeff', 'FEFF'],
    ['\u034f', '034F'],
    ['\u2800', '2800'],
  ] as const) {
    t.same(nameRefusal(`a${character}.txt`), schema(`name holds U+${codePoint}, a control, line-separator, text-direction, zero-width or invisible character`), `U+${codePoint}`);
  }
  t.same(refusal(() => decodeFileOffer(Buffer.from('{"v":1,"name":"\\udc00","size":1,"sha256":"' + '0'.repeat(64) + '","chunk_size":65536}'))), schema('name holds an unpaired UTF-16 surrogate'));
  t.equal(nameRefusal('rapport final – 2026 (v2).pdf'), null, 'spaces, dashes, parentheses');
  t.equal(nameRefusal('数字.txt'), null);
});

t.test('boundary sizes of an offer', async (t) => {
  t.equal(refusal(() => decodeFileOffer(offerJson({ size: 1 }))), null, 'one byte');
  t.equal(refusal(() => decodeFileOffer(offerJson({ size: MAX_CHUNKS * MAX_CHUNK_SIZE, chunk_size: MAX_CHUNK_SIZE }))), null, '2^32 of the largest chunks');
  t.same(
    refusal(() => decodeFileOffer(offerJson({ size: MAX_FILE_SIZE, chunk_size: MAX_CHUNK_SIZE }))),
    schema(`a size of ${MAX_FILE_SIZE} bytes takes more than ${MAX_CHUNKS} chunks of ${MAX_CHUNK_SIZE} bytes`),
    '2^53 - 1 bytes is a size, but more chunks than an index counts',
  );
  t.same(refusal(() => decodeFileOffer(offerJson({ size: MAX_FILE_SIZE + 1 }))), schema(`size is not a whole number of bytes from 1 to ${MAX_FILE_SIZE}`));
  t.equal(refusal(() => decodeFileOffer(offerJson({ chunk_size: MIN_CHUNK_SIZE }))), null);
  t.equal(refusal(() => decodeFileOffer(offerJson({ chunk_size: MAX_CHUNK_SIZE }))), null);
  t.equal(refusal(() => decodeFileOffer(offerJson({ size: MAX_CHUNKS * MIN_CHUNK_SIZE, chunk_size: MIN_CHUNK_SIZE }))), null, 'exactly 2^32 chunks: the last index is 2^32 - 1');
  t.same(
    refusal(() => decodeFileOffer(offerJson({ size: MAX_CHUNKS * MIN_CHUNK_SIZE + 1, chunk_size: MIN_CHUNK_SIZE }))),
    schema(`a size of ${MAX_CHUNKS * MIN_CHUNK_SIZE + 1} bytes takes more than ${MAX_CHUNKS} chunks of ${MIN_CHUNK_SIZE} bytes`),
    'one byte more would need an index past a u32',
  );
  t.equal(chunkCountOf(1, MIN_CHUNK_SIZE), 1);
  t.equal(chunkCountOf(2 * DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE), 2);
  t.equal(chunkCountOf(2 * DEFAULT_CHUNK_SIZE + 1, DEFAULT_CHUNK_SIZE), 3);
  t.equal(refusal(() => decodeFileOffer(offerJson({ description: 'd'.repeat(MAX_DESCRIPTION_BYTES) }))), null);
  t.equal(refusal(() => decodeFileOffer(offerJson({ description: '😀'.repeat(MAX_DESCRIPTION_BYTES / 4) }))), null, '375 characters of four bytes');
  t.same(refusal(() => decodeFileOffer(offerJson({ description: 'd'.repeat(MAX_DESCRIPTION_BYTES + 1) }))), schema('description is 1501 UTF-8 bytes long, more than 1500'));
  t.same(refusal(() => decodeFileOffer(offerJson({ description: `${'d'.repeat(MAX_DESCRIPTION_BYTES - 1)}é` }))), schema('description is 1501 UTF-8 bytes long, more than 1500'), 'bytes, not characters');
  const padded = (length: number) => {
    const base = Buffer.from(offerJson({}));
    return Buffer.concat([base.subarray(0, base.length - 1), Buffer.alloc(length - base.length, ' '), Buffer.from('}')]);
  };
  t.equal(refusal(() => decodeFileOffer(padded(MAX_OFFER_BYTES))), null, '4096 bytes');
  t.same(refusal(() => decodeFileOffer(padded(MAX_OFFER_BYTES + 1))), { reason: 'too_large', message: 'an offer of 4097 bytes exceeds the 4096 bytes it may take' });
  // `"` is one byte and two in JSON: the worst escaping a name and a description may have.
  const largest = {
    ...offer,
    name: '"'.repeat(MAX_FILE_NAME_BYTES),
    size: MAX_CHUNKS * MAX_CHUNK_SIZE,
    chunkSize: MAX_CHUNK_SIZE,
    mediaType: `${'a'.repeat(127)}/${'b'.repeat(127)}`,
    description: '"'.repeat(MAX_DESCRIPTION_BYTES),
  };
  t.ok(encodeFileOffer(largest).length <= MAX_OFFER_BYTES, 'the largest offer the field rules allow fits the byte limit');
  t.same(decodeFileOffer(encodeFileOffer(largest)), largest);
});

t.test('the offer encoder refuses what a peer would, as INVALID_INPUT with the same message', async (t) => {
  t.throws(() => encodeFileOffer({ ...offer, name: '../../etc/passwd' }), new P2pError('INVALID_INPUT', 'name holds /, \\ or :, which would make it a path'));
  t.throws(() => encodeFileOffer({ ...offer, size: 0 }), INVALID_INPUT);
  t.throws(() => encodeFileOffer({ ...offer, sha256: 'x' }), { message: 'sha256 is not 64 lower-case hex characters' });
  t.throws(() => encodeFileOffer({ ...offer, chunkSize: MAX_CHUNK_SIZE + 1 }), INVALID_INPUT);
  t.throws(() => encodeFileOffer({ ...offer, description: 'x'.repeat(MAX_DESCRIPTION_BYTES + 1) }), INVALID_INPUT);
});

t.test('a control round trips for every action and the reasons this node sends', async (t) => {
  for (const action of FILE_CONTROL_ACTIONS) {
    const bare: FileControl = { action, reason: null };
    t.same(decodeFileControl(encodeFileControl(bare)), bare, action);
    for (const reason of FILE_CONTROL_REASONS[action]) t.same(decodeFileControl(encodeFileControl({ action, reason })), { action, reason }, `${action} ${reason}`);
  }
  t.equal(Buffer.from(encodeFileControl({ action: 'decline', reason: 'too_large' })).toString('utf8'), '{"v":1,"action":"decline","reason":"too_large"}');
  t.same(decodeFileControl(json({ v: 1, action: 'cancel', reason: 'a_later_reason_2' })), { action: 'cancel', reason: 'a_later_reason_2' }, 'a reason of a later version is taken');
  t.throws(() => encodeFileControl({ action: 'cancel', reason: 'a_later_reason_2' }), new P2pError('INVALID_INPUT', '"a_later_reason_2" is no reason this node sends with "cancel"'));
  t.throws(() => encodeFileControl({ action: 'accept', reason: 'user' }), new P2pError('INVALID_INPUT', '"user" is no reason this node sends with "accept"'));
  t.throws(() => encodeFileControl({ action: 'resume' as FileControl['action'], reason: null }), new P2pError('INVALID_INPUT', 'action "resume" is none of accept, decline, cancel, received, failed'));
});

t.test('a control is refused for each rule it breaks', async (t) => {
  const reasonRule = 'reason is not a code: 1 to 64 characters a-z, 0-9 and _, from a letter';
  t.same(refusal(() => decodeFileControl(Buffer.from('not json'))), { reason: 'malformed', message: 'a control is not UTF-8 JSON' });
  t.same(refusal(() => decodeFileControl(json('accept'))), { reason: 'malformed', message: 'a control is not a JSON object' });
  t.same(refusal(() => decodeFileControl(json({ v: 0, action: 'accept' }))), { reason: 'bad_version', message: 'payload version 0 is not 1' });
  t.same(refusal(() => decodeFileControl(json({ v: 1 }))), schema('a control lacks action'));
  t.same(refusal(() => decodeFileControl(json({ v: 1, action: 'accept', offset: 4 }))), schema('a control has no member "offset"'));
  t.same(refusal(() => decodeFileControl(json({ v: 1, action: 'pause' }))), schema('action "pause" is none of accept, decline, cancel, received, failed'));
  t.same(refusal(() => decodeFileControl(json({ v: 1, action: 1 }))), schema('action "1" is none of accept, decline, cancel, received, failed'));
  t.same(refusal(() => decodeFileControl(json({ v: 1, action: 'accept', reason: 'user' }))), schema('accept carries no reason'));
  t.same(refusal(() => decodeFileControl(json({ v: 1, action: 'received', reason: 'user' }))), schema('received carries no reason'));
  for (const reason of ['', 'User', '1user', 'a'.repeat(65), 'user reason', null, 3]) {
    t.same(refusal(() => decodeFileControl(json({ v: 1, action: 'decline', reason }))), schema(reasonRule), JSON.stringify(reason));
  }
  t.equal(refusal(() => decodeFileControl(json({ v: 1, action: 'decline', reason: 'a'.repeat(64) }))), null, '64 characters');
  const padded = (length: number) => Buffer.from(`{"v":1,"action":"accept"${' '.repeat(length - 25)}}`);
  t.equal(padded(MAX_CONTROL_BYTES).length, MAX_CONTROL_BYTES);
  t.equal(refusal(() => decodeFileControl(padded(MAX_CONTROL_BYTES))), null, '512 bytes');
  t.same(refusal(() => decodeFileControl(padded(MAX_CONTROL_BYTES + 1))), { reason: 'too_large', message: 'a control of 513 bytes exceeds the 512 bytes it may take' });
});

t.test('a chunk round trips with the documented binary layout', async (t) => {
  const transferId = Uint8Array.from({ length: 16 }, (_, index) => index);
  const bytes = encodeFileChunk({ transferId, index: 0x01020304, data: Buffer.from('hi') });
  t.equal(Buffer.from(bytes).toString('hex'), `000102030405060708090a0b0c0d0e0f01020304${Buffer.from('hi').toString('hex')}`);
  const decoded = decodeFileChunk(bytes);
  t.same(decoded, { transferId, index: 0x01020304, data: Buffer.from('hi') });
  t.equal(decoded.data.buffer, bytes.buffer, 'the data is a view, not a copy');
  t.not(decoded.transferId.buffer, bytes.buffer, 'the transfer id is its own copy');
  t.equal(decodeFileChunk(encodeFileChunk({ transferId, index: MAX_CHUNKS - 1, data: new Uint8Array(1) })).index, MAX_CHUNKS - 1, 'the largest index');
});

t.test('a chunk is refused for its length alone, and the encoder refuses the same', async (t) => {
  t.same(refusal(() => decodeFileChunk(new Uint8Array(0))), { reason: 'too_short', message: 'a chunk of 0 bytes holds no data after its 20-byte header' });
  t.same(refusal(() => decodeFileChunk(new Uint8Array(CHUNK_HEADER_BYTES))), { reason: 'too_short', message: 'a chunk of 20 bytes holds no data after its 20-byte header' });
  t.equal(refusal(() => decodeFileChunk(new Uint8Array(CHUNK_HEADER_BYTES + 1))), null, 'one byte of data');
  t.equal(refusal(() => decodeFileChunk(new Uint8Array(CHUNK_HEADER_BYTES + MAX_CHUNK_SIZE))), null, 'the largest chunk');
  t.same(refusal(() => decodeFileChunk(new Uint8Array(CHUNK_HEADER_BYTES + MAX_CHUNK_SIZE + 1))), { reason: 'too_large', message: 'a chunk of 1048001 bytes exceeds the 1048000 bytes a chunk holds at most' });
  t.ok(LEAF_FIXED_BYTES + CHUNK_HEADER_BYTES + MAX_CHUNK_SIZE <= 1 << 20, 'the largest chunk fits one leaf under the 1 MiB payload limit');
  const transferId = new Uint8Array(16);
  t.throws(() => encodeFileChunk({ transferId: new Uint8Array(15), index: 0, data: new Uint8Array(1) }), new P2pError('INVALID_INPUT', 'a transfer id is 16 bytes, not 15'));
  t.throws(() => encodeFileChunk({ transferId, index: -1, data: new Uint8Array(1) }), new P2pError('INVALID_INPUT', 'a chunk index is a whole number below 4294967296, not -1'));
  t.throws(() => encodeFileChunk({ transferId, index: MAX_CHUNKS, data: new Uint8Array(1) }), INVALID_INPUT);
  t.throws(() => encodeFileChunk({ transferId, index: 0.5, data: new Uint8Array(1) }), INVALID_INPUT);
  t.throws(() => encodeFileChunk({ transferId, index: 0, data: new Uint8Array(0) }), new P2pError('INVALID_INPUT', 'a chunk holds 1 to 1048000 bytes, not 0'));
  t.throws(() => encodeFileChunk({ transferId, index: 0, data: new Uint8Array(MAX_CHUNK_SIZE + 1) }), INVALID_INPUT);
});

const shownText = (minLength: number, maxLength: number) =>
  fc.string({ unit: 'grapheme', minLength, maxLength }).filter((text) => !/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u2800]/u.test(text));

const offerArbitrary: fc.Arbitrary<FileOffer> = fc
  .record({
    name: shownText(1, 60).filter((name) => !/[/\\:]/.test(name) && name !== '.' && name !== '..' && name.trim() !== '' && Buffer.byteLength(name) <= MAX_FILE_NAME_BYTES),
    chunkSize: fc.integer({ min: MIN_CHUNK_SIZE, max: MAX_CHUNK_SIZE }),
    chunks: fc.integer({ min: 1, max: 2 ** 20 }),
    sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString('hex')),
    mediaType: fc.option(fc.stringMatching(/^[a-z0-9][a-z0-9!#$&^_.+-]{0,20}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,20}$/), { nil: null }),
    description: fc.option(shownText(0, 300).filter((text) => Buffer.byteLength(text) <= MAX_DESCRIPTION_BYTES), { nil: null }),
  })
  .map(({ chunks, chunkSize, ...rest }) => ({ ...rest, chunkSize, size: chunks * chunkSize - (chunks > 1 ? 1 : 0) }));

t.test('property: every offer, control and chunk the rules allow round trips', async () => {
  fc.assert(
    fc.property(offerArbitrary, (value) => {
      return isDeepStrictEqual(decodeFileOffer(encodeFileOffer(value)), value);
    }),
    { numRuns: 300, seed: 18 },
  );
  fc.assert(
    fc.property(
      fc.constantFrom(...FILE_CONTROL_ACTIONS).chain((action) => fc.record({ action: fc.constant(action), reason: fc.constantFrom<string | null>(null, ...FILE_CONTROL_REASONS[action]) })),
      (control) => JSON.stringify(decodeFileControl(encodeFileControl(control))) === JSON.stringify(control),
    ),
    { numRuns: 100, seed: 18 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: MAX_CHUNKS - 1 }), fc.uint8Array({ minLength: 1, maxLength: 2048 }), (transferId, index, data) => {
      const decoded = decodeFileChunk(encodeFileChunk({ transferId, index, data }));
      return Buffer.compare(decoded.transferId, transferId) === 0 && decoded.index === index && Buffer.compare(decoded.data, data) === 0;
    }),
    { numRuns: 300, seed: 18 },
  );
});
