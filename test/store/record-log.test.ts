import * as fs from 'node:fs';
import { appendFileSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { RECORD_HEADER_BYTES, RECORD_LOG_MAGIC, RecordLog, type RecordPlace, RecordReader, RecordWriter } from '../../extension/store/record-log';
import { tempDir } from '../helpers/extension';
import { eventually } from '../helpers/node';

const MAX = 1024;

function body(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

function texts(records: readonly Uint8Array[]): string[] {
  return records.map((record) => Buffer.from(record).toString('utf8'));
}

/** A closed log file holding these records. */
async function logWith(path: string, contents: readonly string[]): Promise<void> {
  const { log } = RecordLog.open(path, { maxRecordBytes: MAX });
  await Promise.all(contents.map((text) => log.append(body(text))));
  await log.close();
}

function reopen(path: string, maxRecordBytes = MAX) {
  return RecordLog.open(path, { maxRecordBytes });
}

t.test('a new log is the magic alone, owner-only; records come back in order after reopening', async (t) => {
  const path = join(tempDir(t), 'test.log');
  const { log, records } = RecordLog.open(path, { maxRecordBytes: MAX });
  t.same(records, []);
  t.equal(log.recoveredBytes, 0);
  t.same(readFileSync(path), RECORD_LOG_MAGIC);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.equal(log.sizeBytes, 8);
  await log.append(body('first'));
  await log.append(new Uint8Array([0, 255, 0x80, 0]));
  t.equal(log.sizeBytes, statSync(path).size);
  t.same(log.stats, { flushes: 2, carried: 0, records: 2, bytes: 2 * RECORD_HEADER_BYTES + 5 + 4 });
  await log.close();
  const again = reopen(path);
  t.same(again.records, [body('first'), new Uint8Array([0, 255, 0x80, 0])]);
  t.equal(again.log.recoveredBytes, 0);
  t.equal(again.log.sizeBytes, statSync(path).size, 'a closed log is its records alone');
  await again.log.close();
});

t.test('appends made while a write is under way share one write and one fsync', async (t) => {
  const path = join(tempDir(t), 'test.log');
  const { log } = RecordLog.open(path, { maxRecordBytes: MAX });
  const appends: Promise<void>[] = [];
  for (let i = 0; i < 1000; i += 1) appends.push(log.append(body(`record ${i}`)));
  await Promise.all(appends);
  t.ok(log.stats.flushes < 50, `1000 appends took ${log.stats.flushes} fsyncs`);
  t.equal(log.stats.records, 1000);

  // 100 writers, each waiting for its own append before the next: the way requests arrive.
  const before = log.stats.flushes;
  await Promise.all(
    Array.from({ length: 100 }, async (_, writer) => {
      for (let i = 0; i < 10; i += 1) await log.append(body(`writer ${writer} record ${i}`));
    }),
  );
  const flushes = log.stats.flushes - before;
  t.ok(flushes <= 20, `1000 appends from 100 writers took ${flushes} fsyncs`);
  t.comment(`records per fsync: ${1000 / (before || 1)} (one burst), ${1000 / flushes} (100 writers)`);
  await log.close();

  const { records, log: again } = reopen(path);
  t.equal(records.length, 2000);
  t.same(texts(records.slice(0, 1000)), Array.from({ length: 1000 }, (_, i) => `record ${i}`));
  for (let writer = 0; writer < 100; writer += 1) {
    const own = texts(records.slice(1000)).filter((text) => text.startsWith(`writer ${writer} `));
    t.same(own, Array.from({ length: 10 }, (_, i) => `writer ${writer} record ${i}`), `writer ${writer} in order`);
  }
  await again.close();
});

t.test('a torn last record is dropped and the file cut back to the last good one', async (t) => {
  const dir = tempDir(t);
  const lastFramed = RECORD_HEADER_BYTES + 'third record'.length;
  const cases: [string, (path: string, size: number) => void][] = [
    ['cut inside the header', (path, size) => truncateSync(path, size - lastFramed + 3)],
    ['cut inside the body', (path, size) => truncateSync(path, size - 2)],
    [
      'a flipped byte in the body',
      (path, size) => {
        const bytes = readFileSync(path);
        bytes[size - 1] = (bytes[size - 1] ?? 0) ^ 0x01;
        writeFileSync(path, bytes);
      },
    ],
    ['blocks of zeros after the body (space the crash left unwritten)', (path) => appendFileSync(path, Buffer.alloc(4096))],
    [
      'a header of zeros followed by zeros',
      (path, size) => {
        truncateSync(path, size - lastFramed);
        appendFileSync(path, Buffer.alloc(100));
      },
    ],
  ];
  for (const [name, damage] of cases) {
    await t.test(name, async (t) => {
      const path = join(dir, `${name}.log`);
      const expected = name.includes('zeros after') ? ['first', 'second', 'third record'] : ['first', 'second'];
      await logWith(path, ['first', 'second', 'third record']);
      const intactSize = statSync(path).size - (name.includes('zeros after') ? 0 : lastFramed);
      const damagedSize = statSync(path).size;
      damage(path, damagedSize);
      const before = statSync(path).size;
      const { log, records } = reopen(path);
      t.same(texts(records), expected);
      t.equal(log.sizeBytes, intactSize, 'the records end after the last good one');
      t.equal(statSync(path).size, intactSize, 'the file is cut back to the end of the last good record');
      t.equal(log.recoveredBytes, before - intactSize);
      await log.append(body('after the crash'));
      await log.close();
      const again = reopen(path);
      t.same(texts(again.records), [...expected, 'after the crash']);
      t.equal(again.log.recoveredBytes, 0);
      await again.log.close();
    });
  }
});

t.test('damage with data after it is refused, naming the file and the byte, and the file is left alone', async (t) => {
  const dir = tempDir(t);
  const secondOffset = RECORD_LOG_MAGIC.length + RECORD_HEADER_BYTES + 'first'.length;
  const cases: [string, (bytes: Buffer) => void, RegExp][] = [
    ['a flipped byte in a middle record', (bytes) => void (bytes[secondOffset + RECORD_HEADER_BYTES] = 0x21), /fails its checksum and more data follows/],
    ['a middle record too long to be one', (bytes) => bytes.writeUInt32BE(MAX + 1, secondOffset), /length of the record there fails its checksum and more data follows/],
    ['a middle record whose damaged length points past the end of the file', (bytes) => bytes.writeUInt32BE(900, secondOffset), /length of the record there fails its checksum/],
    ['a middle record of zeros', (bytes) => bytes.fill(0, secondOffset, secondOffset + RECORD_HEADER_BYTES + 'second'.length), /length of the record there fails its checksum/],
  ];
  for (const [name, damage, problem] of cases) {
    await t.test(name, async (t) => {
      const path = join(dir, `${name}.log`);
      await logWith(path, ['first', 'second', 'third']);
      const bytes = readFileSync(path);
      damage(bytes);
      writeFileSync(path, bytes);
      t.throws(() => reopen(path), {
        name: 'P2pError',
        errorName: 'STATE_FILE_CORRUPT',
        message: new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt at byte ${secondOffset}: .*move the file away`),
      });
      t.throws(() => reopen(path), { message: problem });
      t.same(readFileSync(path), bytes, 'the file is untouched');
    });
  }
});

t.test('a file that is not a record log is refused', async (t) => {
  const path = join(tempDir(t), 'test.log');
  writeFileSync(path, '{"version": 1}\n');
  t.throws(() => reopen(path), { name: 'P2pError', errorName: 'STATE_FILE_CORRUPT', message: /at byte 0: it does not start with P2PLOG2/ });
  t.equal(readFileSync(path, 'utf8'), '{"version": 1}\n');
});

t.test('an intact record longer than allowed is refused, not dropped', async (t) => {
  const path = join(tempDir(t), 'test.log');
  await logWith(path, ['short', 'a much longer record']);
  t.throws(() => reopen(path, 10), { name: 'P2pError', errorName: 'STATE_FILE_CORRUPT', message: /has 20 bytes, more than the 10 allowed/ });
});

t.test('an empty file, or a beginning of the magic, is what a crash during creation leaves: an empty log', async (t) => {
  const dir = tempDir(t);
  for (const content of [Buffer.alloc(0), RECORD_LOG_MAGIC.subarray(0, 3)]) {
    const path = join(dir, `${content.length}.log`);
    writeFileSync(path, content);
    const { log, records } = reopen(path);
    t.same(records, []);
    t.same(readFileSync(path), RECORD_LOG_MAGIC);
    await log.append(body('one'));
    await log.close();
    const again = reopen(path);
    t.same(texts(again.records), ['one']);
    await again.log.close();
  }
});

t.test('bodies must hold 1 to maxRecordBytes bytes', async (t) => {
  const path = join(tempDir(t), 'test.log');
  const { log } = RecordLog.open(path, { maxRecordBytes: 16 });
  await t.rejects(log.append(new Uint8Array(17)), { name: 'P2pError', errorName: 'INVALID_INPUT', message: /holds 1 to 16 bytes, this one 17/ });
  await t.rejects(log.append(new Uint8Array(0)), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  await t.rejects(log.rewrite([new Uint8Array(17)]), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  await log.append(new Uint8Array(16));
  await log.close();
  t.same(reopen(path, 16).records, [new Uint8Array(16)]);
});

t.test('rewrite keeps exactly the given records; appends asked for meanwhile land after them', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'test.log');
  const { log } = RecordLog.open(path, { maxRecordBytes: MAX });
  for (let i = 0; i < 5; i += 1) await log.append(body(`old ${i}`));
  const before = log.append(body('asked for before the rewrite'));
  const rewrite = log.rewrite([body('kept 1'), body('kept 2')]);
  const during = [log.append(body('during 1')), log.append(body('during 2'))];
  await Promise.all([before, rewrite, ...during]);
  await log.append(body('after'));
  t.equal(log.sizeBytes, statSync(path).size);
  t.same(readdirSync(dir), ['test.log'], 'no temp file is left behind');
  t.equal(statSync(path).mode & 0o777, 0o600);
  await log.close();
  const { records, log: again } = reopen(path);
  t.same(texts(records), ['kept 1', 'kept 2', 'during 1', 'during 2', 'after']);
  await again.close();
});

t.test('a rewrite larger than one write goes out in pieces', async (t) => {
  const path = join(tempDir(t), 'test.log');
  const big = 1024 * 1024;
  const { log } = RecordLog.open(path, { maxRecordBytes: big });
  const bodies = Array.from({ length: 20 }, (_, i) => new Uint8Array(big).fill(i + 1));
  await log.rewrite(bodies);
  t.equal(log.sizeBytes, 8 + 20 * (RECORD_HEADER_BYTES + big));
  await log.close();
  const { records, log: again } = reopen(path, big);
  t.same(records.map((record) => [record.length, record[0], record[big - 1]]), bodies.map((_, i) => [big, i + 1, i + 1]));
  await again.close();
});

t.test('close waits for the appends under way; later appends are refused', async (t) => {
  const path = join(tempDir(t), 'test.log');
  const { log } = RecordLog.open(path, { maxRecordBytes: MAX });
  const pending = [log.append(body('a')), log.append(body('b'))];
  await log.close();
  await Promise.all(pending);
  await t.rejects(log.append(body('c')), { name: 'P2pError', errorName: 'SHUTTING_DOWN' });
  const again = reopen(path);
  t.same(texts(again.records), ['a', 'b']);
  await again.log.close();
});

t.test('RecordWriter and RecordReader lay out fields and refuse what does not fit', async (t) => {
  const written = new RecordWriter(1 + 4 + 8 + 3).u8(7).u32(0xfffffffe).uint(2 ** 53 - 1).bytes(new Uint8Array([1, 2, 3])).finish();
  const reader = new RecordReader(written);
  t.same([reader.u8(), reader.u32(), reader.uint(), [...reader.bytes(3)]], [7, 0xfffffffe, 2 ** 53 - 1, [1, 2, 3]]);
  t.doesNotThrow(() => reader.finish());
  t.throws(() => new RecordWriter(2).u8(1).finish(), /layout mismatch/);
  t.throws(() => new RecordWriter(8).uint(Number.NaN), RangeError);
  t.throws(() => new RecordWriter(8).uint(1.5), RangeError);
  t.throws(() => new RecordReader(new Uint8Array(3)).u32(), /ends before its last field/);
  const nan = Buffer.alloc(8);
  nan.writeDoubleBE(Number.NaN);
  t.throws(() => new RecordReader(nan).uint(), /where a whole number belongs/);
  const extra = new RecordReader(new Uint8Array(2));
  extra.u8();
  t.throws(() => extra.finish(), /1 bytes follow its last field/);
});

t.test('RecordWriter writes hex and latin1 text as the bytes they spell, and refuse what does not fit', async (t) => {
  const written = new RecordWriter(2 + 3).hex('0aff', 2).latin1('a:Z').finish();
  t.same([...written], [0x0a, 0xff, 0x61, 0x3a, 0x5a]);
  t.throws(() => new RecordWriter(2).hex('0aff00', 2), RangeError, 'too long');
  t.throws(() => new RecordWriter(2).hex('0a', 2), RangeError, 'too short');
  t.throws(() => new RecordWriter(2).hex('0azz', 2), RangeError, 'not hex');
  t.throws(() => new RecordWriter(2).latin1('abc'), RangeError, 'no room');
});

/** Appends each body with a place, one write each; returns the places. */
async function appendPlaced(log: RecordLog, bodies: readonly Uint8Array[]): Promise<RecordPlace[]> {
  const places: RecordPlace[] = [];
  for (const record of bodies) {
    const place: RecordPlace = { position: -1, length: record.length };
    await log.append(record, place);
    places.push(place);
  }
  return places;
}

/** Byte-exact, without tap diffing megabytes element by element. */
function sameBytes(results: readonly (Uint8Array | Error | undefined)[], expected: readonly Uint8Array[]): boolean {
  return results.length === expected.length && results.every((result, i) => result instanceof Uint8Array && Buffer.from(result).equals(expected[i] as Uint8Array));
}

function bodies(results: readonly (Uint8Array | Error)[]): (string | Error)[] {
  return results.map((result) => (result instanceof Error ? result : Buffer.from(result).toString('utf8')));
}

t.test('an append says where its record is; read gives bodies back by place, in the order asked, also as open found them', async (t) => {
  const path = join(tempDir(t), 'test.log');
  const { log } = RecordLog.open(path, { maxRecordBytes: 2 * 1024 * 1024 });
  // Small records close together, gaps past the longest one read spans, and records past the largest span.
  const large = (fill: number, length: number) => new Uint8Array(length).fill(fill);
  const written = [body('one'), large(1, 100_000), body('two'), large(2, 1_500_000), body('three'), large(3, 70_000), body('four')];
  const places = await appendPlaced(log, written);
  t.same(places.map((place) => place.length), written.map((record) => record.length));
  t.equal(places[0]?.position, RECORD_LOG_MAGIC.length, 'the first record right after the magic');
  t.ok(sameBytes(await log.read(places), written));
  t.same(bodies(await log.read([places[6], places[0], places[4], places[2]] as RecordPlace[])), ['four', 'one', 'three', 'two']);
  t.same(await log.read([]), []);
  await log.close();

  const again = reopen(path, 2 * 1024 * 1024);
  t.same(again.positions, places.map((place) => place.position));
  t.ok(sameBytes(await again.log.read(again.positions.map((position, i) => ({ position, length: written[i]?.length ?? 0 }))), written));
  await again.log.close();
});

t.test('a rewrite carries records by place, from the old file, and moves their places with it', async (t) => {
  const path = join(tempDir(t), 'test.log');
  const { log } = RecordLog.open(path, { maxRecordBytes: MAX });
  const [a, dropped, c] = (await appendPlaced(log, [body('a'), body('dropped'), body('c')])) as [RecordPlace, RecordPlace, RecordPlace];
  const before = { a: a.position, c: c.position };
  // Asked for before the rewrite, so in the old file by the time the rewrite copies it.
  const late: RecordPlace = { position: -1, length: 4 };
  const appended = log.append(body('late'), late);
  await Promise.all([appended, log.rewrite([body('new'), c, a, late])]);
  t.not(c.position, before.c);
  t.not(a.position, before.a);
  t.same(bodies(await log.read([a, c, late])), ['a', 'c', 'late']);
  t.equal(dropped.position, RECORD_LOG_MAGIC.length + RECORD_HEADER_BYTES + 1, 'a place the rewrite did not carry is left as it was');
  await log.close();
  const again = reopen(path);
  t.same(texts(again.records), ['new', 'c', 'a', 'late']);
  t.same([c, a, late].map((place) => place.position), again.positions.slice(1));
  await again.log.close();
});

t.test('a read keeps the file it started on: a rewrite meanwhile changes neither what it reads nor which file', async (t) => {
  const path = join(tempDir(t), 'test.log');
  const { log } = RecordLog.open(path, { maxRecordBytes: MAX });
  const contents = Array.from({ length: 200 }, (_, i) => body(`record ${i}`));
  const places = await appendPlaced(log, contents);
  const kept = places.filter((_, i) => i % 2 === 1);
  for (let round = 0; round < 20; round += 1) {
    const reading = log.read(kept);
    const rewriting = log.rewrite(round % 2 === 0 ? kept : [body('first'), ...kept]);
    const [read] = await Promise.all([reading, rewriting]);
    t.same(bodies(read), bodies(contents.filter((_, i) => i % 2 === 1)), `round ${round}`);
  }
  t.same(bodies(await log.read(kept)), bodies(contents.filter((_, i) => i % 2 === 1)), 'and after the last rewrite');
  await log.close();
});

t.test('a record no longer intact is an error in its own slot; the others come back', async (t) => {
  const path = join(tempDir(t), 'test.log');
  const { log } = RecordLog.open(path, { maxRecordBytes: MAX });
  const places = await appendPlaced(log, [body('intact'), body('damaged'), body('intact too'), body('cut off')]);
  const [, damaged, , cut] = places as [RecordPlace, RecordPlace, RecordPlace, RecordPlace];
  const file = readFileSync(path);
  file.writeUInt8(file.readUInt8(damaged.position + RECORD_HEADER_BYTES + 2) ^ 0x01, damaged.position + RECORD_HEADER_BYTES + 2);
  writeFileSync(path, file.subarray(0, cut.position + RECORD_HEADER_BYTES + 3));
  const read = await log.read(places);
  t.same(bodies([read[0], read[2]] as Uint8Array[]), ['intact', 'intact too']);
  t.match(read[1], {
    name: 'P2pError',
    errorName: 'STATE_FILE_CORRUPT',
    message: `${path} no longer holds the record of 7 bytes written at byte ${damaged.position}: the record there fails its checksum`,
  });
  t.match(read[3], { errorName: 'STATE_FILE_CORRUPT', message: new RegExp(`written at byte ${cut.position}: the file ends at byte ${cut.position + 15}$`) });
  const wrongLength = await log.read([{ position: damaged.position, length: 6 }]);
  t.match(wrongLength[0], { errorName: 'STATE_FILE_CORRUPT', message: /the record there has 7 bytes$/ });
  await t.rejects(log.read([{ position: -1, length: 3 }]), RangeError, 'a place never written is a bug, not a read from wherever the file offset is');
  await log.close();
});

t.test('a rewrite that cannot read a record it carries fails and keeps the old file and places', async (t) => {
  const path = join(tempDir(t), 'test.log');
  const { log } = RecordLog.open(path, { maxRecordBytes: MAX });
  const [good, damaged] = (await appendPlaced(log, [body('good'), body('damaged')])) as [RecordPlace, RecordPlace];
  const file = readFileSync(path);
  file.writeUInt8(file.readUInt8(damaged.position + RECORD_HEADER_BYTES) ^ 0x01, damaged.position + RECORD_HEADER_BYTES);
  writeFileSync(path, file);
  const before = good.position;
  await t.rejects(log.rewrite([good, damaged]), { name: 'P2pError', errorName: 'STATE_FILE_CORRUPT', message: /fails its checksum/ });
  t.equal(good.position, before);
  t.same(readdirSync(dirname(path)), ['test.log'], 'no temp file is left behind');
  await log.append(body('appends go on'));
  t.same(bodies(await log.read([good])), ['good']);
  await log.close();
});

t.test('reads under way when close is asked for finish; later ones are refused', async (t) => {
  const path = join(tempDir(t), 'test.log');
  const { log } = RecordLog.open(path, { maxRecordBytes: MAX });
  const places = await appendPlaced(log, [body('a'), body('b')]);
  const reading = log.read(places);
  const closing = log.close();
  await t.rejects(log.read(places), { name: 'P2pError', errorName: 'SHUTTING_DOWN' });
  t.same(bodies(await reading), ['a', 'b']);
  await closing;
});

t.test('RecordReader.window is a view of the record, not a copy', async (t) => {
  const record = new Uint8Array([1, 2, 3, 4]);
  const reader = new RecordReader(record);
  reader.u8();
  const window = reader.window(2);
  t.same([...window], [2, 3]);
  record[1] = 9;
  t.equal(window[0], 9);
  t.throws(() => reader.window(2), /ends before its last field/);
});

t.test('records read over a gap are copied out of the span, so the bytes nobody asked for are not kept', async (t) => {
  const path = join(tempDir(t), 'test.log');
  const { log } = RecordLog.open(path, { maxRecordBytes: MAX });
  const [x, filler, y] = (await appendPlaced(log, [body('x'), new Uint8Array(1000).fill(7), body('y')])) as [RecordPlace, RecordPlace, RecordPlace];
  const overGap = (await log.read([x, y])) as Uint8Array[];
  t.same(bodies(overGap), ['x', 'y']);
  t.ok(overGap.every((record) => record.buffer.byteLength === record.length), 'each body in a buffer of its own');
  const contiguous = (await log.read([x, filler, y])) as Uint8Array[];
  t.equal(contiguous[0]?.buffer, contiguous[2]?.buffer, 'one span, nothing wasted: views into it');
  await log.close();
});

/** RecordLog over a node:fs that counts writes and fsyncs, and fails writes while `failing` is set; `opened` holds the flags of each open. */
function instrumentedLog(t: Test) {
  const counts = { writes: 0, fsyncs: 0, failing: false, opened: [] as number[] };
  const realWritev = promisify(fs.writev);
  const writev = Object.assign(() => undefined, {
    [promisify.custom]: (fd: number, buffers: readonly Uint8Array[], position: number) => {
      counts.writes += 1;
      if (counts.failing) return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
      return realWritev(fd, buffers, position);
    },
  });
  const fsync = (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
    counts.fsyncs += 1;
    fs.fsync(fd, callback);
  };
  const openSync = (path: fs.PathLike, flags: number, mode?: number) => {
    if (String(path).endsWith('.log')) counts.opened.push(flags);
    return fs.openSync(path, flags, mode);
  };
  const { RecordLog: Log } = t.mockRequire<typeof import('../../extension/store/record-log')>('../../extension/store/record-log', {
    'node:fs': { ...fs, writev, fsync, openSync },
  });
  return { Log, counts };
}

t.test('a commit is one write to a file open with O_DSYNC: no fsync, however many records it carries', async (t) => {
  const { Log, counts } = instrumentedLog(t);
  const path = join(tempDir(t), 'test.log');
  const { log } = Log.open(path, { maxRecordBytes: MAX });
  t.ok(counts.opened.length > 0 && counts.opened.every((flags) => (flags & fs.constants.O_DSYNC) !== 0), 'opened with O_DSYNC');
  await log.append(body('one'));
  t.same({ writes: counts.writes, fsyncs: counts.fsyncs }, { writes: 1, fsyncs: 0 });
  await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(body(`record ${i}`))));
  t.same({ writes: counts.writes, fsyncs: counts.fsyncs }, { writes: 2, fsyncs: 0 }, '50 appends of one turn: one write');
  t.match(log.stats, { flushes: 2, records: 51 });
  await log.close();
  t.equal(reopen(path).records.length, 51);
});

t.test('a rewrite still fsyncs its file and directory, and the appends after it go to a descriptor open with O_DSYNC', async (t) => {
  const { Log, counts } = instrumentedLog(t);
  const path = join(tempDir(t), 'test.log');
  const { log } = Log.open(path, { maxRecordBytes: MAX });
  await log.append(body('old'));
  await log.rewrite([body('kept')]);
  t.equal(counts.fsyncs, 2, 'the new file and its directory');
  const writes = counts.writes;
  await log.append(body('after'));
  t.same({ writes: counts.writes - writes, fsyncs: counts.fsyncs }, { writes: 1, fsyncs: 2 }, 'one write, no fsync');
  await log.close();
  t.same(texts(reopen(path).records), ['kept', 'after']);
});

t.test('a lazy record starts no write: it rides at the end of the next one, after every append asked for before it', async (t) => {
  const { Log, counts } = instrumentedLog(t);
  const path = join(tempDir(t), 'test.log');
  const { log } = Log.open(path, { maxRecordBytes: MAX, lazyFlushMs: 60_000 });
  const first = log.append(body('first'));
  await eventually(async () => counts.writes === 1, "the write of 'first' to start");
  // Asked for once 'first' is being written: the lazy one waits for the next write, behind 'second'.
  const second = log.append(body('second'));
  log.appendLazy(body('lazy'));
  await Promise.all([first, second]);
  t.same(texts(reopen(path).records), ['first', 'second', 'lazy']);
  t.match(log.stats, { flushes: 2, carried: 1, records: 3 });
  log.appendLazy(body('alone'));
  t.equal(counts.writes, 2, 'no write for a lazy record');
  t.same(texts(reopen(path).records), ['first', 'second', 'lazy'], 'not on disk yet: a crash now loses it');
  await log.append(body('third'));
  t.same(texts(reopen(path).records), ['first', 'second', 'lazy', 'third', 'alone'], 'carried by the next append');
  t.equal(counts.writes, 3);
  await log.close();
});

t.test('a lazy record with nothing to ride on is written alone after lazyFlushMs, or at close', async (t) => {
  const { Log } = instrumentedLog(t);
  const path = join(tempDir(t), 'test.log');
  const { log } = Log.open(path, { maxRecordBytes: MAX, lazyFlushMs: 5 });
  log.appendLazy(body('timed'));
  await eventually(async () => log.stats.records === 1, 'the lazy record to be written alone');
  t.same(texts(reopen(path).records), ['timed']);
  t.match(log.stats, { flushes: 1, carried: 0 });

  const other = join(tempDir(t), 'other.log');
  const { log: closing } = Log.open(other, { maxRecordBytes: MAX, lazyFlushMs: 60_000 });
  closing.appendLazy(body('at close'));
  await closing.close();
  t.same(texts(reopen(other).records), ['at close']);
  t.throws(() => closing.appendLazy(body('late')), { name: 'P2pError', errorName: 'SHUTTING_DOWN' });
});

t.test('a failed write rejects its appends, takes the lazy records it carried along, and the log takes nothing more', async (t) => {
  const { Log, counts } = instrumentedLog(t);
  const path = join(tempDir(t), 'test.log');
  const { log } = Log.open(path, { maxRecordBytes: MAX, lazyFlushMs: 60_000 });
  await log.append(body('kept'));
  log.appendLazy(body('lazy'));
  counts.failing = true;
  await t.rejects(log.append(body('lost')), { code: 'ENOSPC' });
  counts.failing = false;
  t.throws(() => log.appendLazy(body('after')), { errorName: 'INTERNAL_ERROR', message: /cannot tell which records reached the disk/ });
  await t.rejects(log.append(body('after')), { name: 'P2pError', errorName: 'INTERNAL_ERROR' });
  await log.close();
  t.same(texts(reopen(path).records), ['kept']);
});

t.test('a system that writes less than asked: the rest follows, and every record reads back whole', async (t) => {
  const realWritev = promisify(fs.writev);
  const calls: number[] = [];
  // At most 7 bytes per call: every record and its header are cut somewhere.
  const writev = Object.assign(() => undefined, {
    [promisify.custom]: async (fd: number, buffers: readonly Uint8Array[], position: number) => {
      const first = Buffer.concat(buffers).subarray(0, 7);
      calls.push(first.length);
      return realWritev(fd, [first], position);
    },
  });
  const { RecordLog: Log } = t.mockRequire<typeof import('../../extension/store/record-log')>('../../extension/store/record-log', {
    'node:fs': { ...fs, writev },
  });
  const path = join(tempDir(t), 'short.log');
  const { log } = Log.open(path, { maxRecordBytes: MAX });
  await Promise.all(['one', 'two', 'three'].map((text) => log.append(body(text))));
  await log.append(body('four'));
  t.ok(calls.length >= Math.ceil((log.sizeBytes - RECORD_LOG_MAGIC.length) / 7), `written in ${calls.length} calls`);
  t.equal(statSync(path).size, log.sizeBytes);
  await log.close();
  t.same(texts(reopen(path).records), ['one', 'two', 'three', 'four']);
});

t.test('large records are written from where they are, between small ones, and read back whole', async (t) => {
  const path = join(tempDir(t), 'mixed.log');
  const { log } = RecordLog.open(path, { maxRecordBytes: 64 * 1024 });
  const records = [body('small before'), new Uint8Array(16 * 1024).fill(1), body('small between'), new Uint8Array(40_000).fill(2), new Uint8Array(20_000).fill(3), body('small after')];
  const places = records.map((record) => ({ position: -1, length: record.length }));
  // One turn: one group commit, one writev.
  await Promise.all(records.map((record, index) => log.append(record, places[index])));
  t.equal(log.stats.flushes, 1, 'one write');
  const read = await log.read(places);
  t.same(read.map((bytes) => Buffer.from(bytes as Uint8Array).toString('hex')), records.map((record) => Buffer.from(record).toString('hex')));
  await log.close();
  t.same(
    reopen(path, 64 * 1024).records.map((bytes) => Buffer.from(bytes).toString('hex')),
    records.map((record) => Buffer.from(record).toString('hex')),
  );
});
