import { randomBytes } from 'node:crypto';
import {
  close,
  closeSync,
  constants,
  fchmod,
  fsync,
  fsyncSync,
  ftruncateSync,
  open,
  openSync,
  read,
  readFileSync,
  rename,
  unlink,
  writev,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { P2pError } from '../common/errors';
import { createFileAtomic, isErrnoException } from '../common/atomic-file';
import { SharedDescriptor } from './shared-descriptor';

/**
 * An append-only file of records: the durable half of the message stores,
 * which keep their state in memory and replay this file at start.
 *
 * File: the 8 bytes `P2PLOG2\n`, then records `length u32 BE | length_crc
 * u32 BE | body_crc u32 BE | body`, CRC-32 (IEEE, zlib.crc32) of the four
 * length bytes and of the body. The length has its own checksum so that a
 * damaged length in the middle of the file, pointing past its end, is seen
 * as damage and not mistaken for a write cut short. A body has at least one
 * byte: a header of zeros, which is what a file system shows for a block it
 * allocated but never wrote, would otherwise pass as an empty record.
 *
 * The file is open with O_DSYNC, so one write is durable by the time it
 * returns: a commit is a single job in the thread pool, where a write and
 * then an fsync took two (and the wait between them) for the same guarantee.
 * Appends are group-committed: every append that arrives while a write is
 * under way goes into the next single write, so the cost of a durable write
 * is shared by all the messages that waited for it, and each append still
 * resolves only once its record is on disk.
 *
 * Every commit grows the file. Writing into zeros made ahead would save the
 * file system's metadata commit (about 50 µs a write here), but then a
 * power loss could keep a later page of an unfinished write and lose an
 * earlier one: a bad record with data after it, which open cannot tell
 * from damage. A write that grows the file is seen whole or not at all.
 *
 * A lazy append (appendLazy) is for a record whose loss a crash may cause
 * without harm (the store says why for each): it never starts a write of its
 * own while writes come, but rides at the end of the next one, or goes
 * alone once lazyFlushMs passed without one, or at close. So it never makes
 * an append wait, and it still lands after everything appended before it.
 *
 * At open, a last record that is cut short or fails its checksum is what a
 * crash during an append leaves: no caller was told it was stored, so it is
 * dropped and the file cut back. So is a bad record followed only by zeros,
 * which is how some file systems show blocks a crash left unwritten. A bad
 * record with data after it is damage, and p2p-comm will not guess which
 * records around it are still right.
 *
 * A store may keep a record's place (RecordPlace) instead of its body and
 * read the body back when it needs it. A rewrite moves the records it
 * carries, and updates their places in the same step as it switches files;
 * a read takes the file and the places at once, and the file it took stays
 * open until the read is done, so a read never mixes the two files.
 */
export const RECORD_LOG_MAGIC = Buffer.from('P2PLOG2\n', 'latin1');

/** length u32 + length crc32 u32 + body crc32 u32 before every body. */
export const RECORD_HEADER_BYTES = 12;

/** Appends collected into one write are capped, so a burst of large records never builds one huge buffer. */
const MAX_WRITE_BYTES = 8 * 1024 * 1024;

/** Records read back are read in spans of at most this (a larger record alone takes one span of its own)... */
const MAX_READ_BYTES = 1024 * 1024;

/** ...and a span goes on over a gap of other records up to this long: one read is cheaper than two until then. */
const MAX_READ_GAP_BYTES = 64 * 1024;

/**
 * Where a record is in the file: the offset of its header, and the length
 * of its body. Set by append once the record is on disk (-1 before), and
 * moved by a rewrite that carries the record.
 */
export interface RecordPlace {
  position: number;
  readonly length: number;
}

/** What a rewrite writes: a body, or the record at a place in the current file, copied and its place moved. */
export type RewriteEntry = Uint8Array | RecordPlace;

export interface RecordLogOptions {
  /** Largest body accepted; a longer one in the file is damage. */
  maxRecordBytes: number;
  /** Longest a lazy append waits for a write to ride on before it is written alone (see appendLazy). */
  lazyFlushMs?: number | undefined;
}

/** How long a lazy append waits for a write to carry it, unless the log is told otherwise. */
export const DEFAULT_LAZY_FLUSH_MS = 100;


export interface RecordLogStats {
  /** Durable writes done for appends, one O_DSYNC write each (a rewrite's writes and fsyncs are not counted). */
  flushes: number;
  /** Lazy records written at the end of a write that appends started. */
  carried: number;
  /** Records appended since open. */
  records: number;
  /** Bytes appended since open, record headers included. */
  bytes: number;
}

interface Settle {
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface AppendTask extends Settle {
  kind: 'append';
  body: Uint8Array;
  place: RecordPlace | undefined;
}

interface RewriteTask extends Settle {
  kind: 'rewrite';
  entries: readonly RewriteEntry[];
}

interface CloseTask extends Settle {
  kind: 'close';
}

type Task = AppendTask | RewriteTask | CloseTask;

/** Every write to the log is durable by the time it returns (see the file comment). */
const LOG_OPEN_FLAGS = constants.O_RDWR | constants.O_DSYNC;

const closeAsync = promisify(close);
const fchmodAsync = promisify(fchmod);
const fsyncAsync = promisify(fsync);
const openAsync = promisify(open);
const readAsync = promisify(read);
const renameAsync = promisify(rename);
const unlinkAsync = promisify(unlink);
const writevAsync = promisify(writev);

export class RecordLog {
  /** Everything not done yet, in the order it was asked for. */
  private readonly queue: Task[] = [];
  private draining = false;
  private closing: Promise<void> | undefined;
  /** Set when a write failed: what reached the disk is unknown, so nothing more is written. */
  private failure: unknown;
  private flushes = 0;
  private carried = 0;
  /** Lazy appends not handed to the writer yet, oldest first. */
  private lazy: AppendTask[] = [];
  private lazyTimer: NodeJS.Timeout | undefined;
  private appendedRecords = 0;
  private appendedBytes = 0;

  private file: SharedDescriptor;


  private constructor(
    private readonly path: string,
    private readonly maxRecordBytes: number,
    private readonly lazyFlushMs: number,
    fd: number,
    private size: number,
    /** Bytes dropped at open: an unfinished last record, and any zeros after it. */
    readonly recoveredBytes: number,
  ) {
    this.file = new SharedDescriptor(fd);
  }

  /**
   * Creates the file when it does not exist; returns every record in it,
   * oldest first, and where each is in the file (the positions of their
   * places).
   */
  static open(path: string, options: RecordLogOptions): { log: RecordLog; records: Uint8Array[]; positions: number[] } {
    const fd = openOrCreate(path);
    const lazyFlushMs = options.lazyFlushMs ?? DEFAULT_LAZY_FLUSH_MS;
    try {
      const content = readFileSync(fd);
      if (isUnfinishedCreation(content)) {
        // Holds no record, so starting it afresh loses nothing (see isUnfinishedCreation).
        ftruncateSync(fd, 0);
        writeSync(fd, RECORD_LOG_MAGIC, 0, RECORD_LOG_MAGIC.length, 0);
        fsyncSync(fd);
        const log = new RecordLog(path, options.maxRecordBytes, lazyFlushMs, fd, RECORD_LOG_MAGIC.length, 0);
        return { log, records: [], positions: [] };
      }
      const { records, positions, end } = readRecords(path, content, options.maxRecordBytes);
      if (end < content.length) {
        ftruncateSync(fd, end);
        fsyncSync(fd);
      }
      const log = new RecordLog(path, options.maxRecordBytes, lazyFlushMs, fd, end, content.length - end);
      return { log, records, positions };
    } catch (error) {
      closeQuietly(fd);
      throw error;
    }
  }

  /** Bytes in the file: every finished append and rewrite. */
  get sizeBytes(): number {
    return this.size;
  }

  get stats(): RecordLogStats {
    return { flushes: this.flushes, carried: this.carried, records: this.appendedRecords, bytes: this.appendedBytes };
  }

  /**
   * Resolves once the record is durably written, and `place`, if given,
   * says where. The body is copied when its batch is written: do not change
   * it before the promise settles.
   */
  append(body: Uint8Array, place?: RecordPlace): Promise<void> {
    return new Promise((resolve, reject) => {
      this.assertWritable();
      this.assertRecordSize(body);
      if (place !== undefined && place.length !== body.length) {
        throw new RangeError(`a place of ${place.length} bytes given for a record of ${body.length}`);
      }
      this.enqueue({ kind: 'append', body, place, resolve, reject });
    });
  }

  /**
   * Appends the record without a durable write of its own: it is written at
   * the end of the next write appends start, or alone after lazyFlushMs, or
   * at close, always after every append asked for before it. Nobody waits
   * for it: a write that fails makes the log unusable, which the next
   * append reports. A crash before it is written loses it; use it only for
   * records whose loss the store recovers from.
   */
  appendLazy(body: Uint8Array): void {
    this.assertWritable();
    this.assertRecordSize(body);
    this.lazy.push({ kind: 'append', body, place: undefined, resolve: ignore, reject: ignore });
    // Not unref'd: a process about to end waits the short while it takes to write the record; close clears it.
    this.lazyTimer ??= setTimeout(() => {
      this.lazyTimer = undefined;
      this.handOverLazy();
    }, this.lazyFlushMs);
  }

  /**
   * Replaces the whole file with these records (compaction), after every
   * append asked for before; appends asked for meanwhile land after them in
   * the new file. A place is read from the old file when the rewrite runs
   * (so it may be the place of an append asked for before) and checked
   * against its checksum. If it fails before the new file is in place, the
   * old one is kept, places are left as they were, and appends go on.
   */
  rewrite(entries: readonly RewriteEntry[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.assertWritable();
      for (const entry of entries) if (entry instanceof Uint8Array) this.assertRecordSize(entry);
      this.enqueue({ kind: 'rewrite', entries, resolve, reject });
    });
  }

  /**
   * The bodies of the records at these places, in the order given, each
   * checked against its checksum. A record that cannot be read is an Error
   * in its slot: a P2pError STATE_FILE_CORRUPT when the file does not hold
   * it intact, which takes nothing else with it, or the error of a read the
   * system failed, in the slots of the records that read was for. Reads
   * only what appends and rewrites finished, so it never waits for them.
   */
  async read(places: readonly RecordPlace[]): Promise<(Uint8Array | Error)[]> {
    if (this.closing !== undefined) throw new P2pError('SHUTTING_DOWN', `${this.path} is closed: p2p-comm is shutting down`);
    // The file and the places in one step, as a rewrite moves places and switches files in one step.
    return this.file.borrow((fd) => readRanges(this.path, fd, places));
  }

  /**
   * Closes the file at once, for a log whose records the caller refused
   * right after open: nothing was appended or read yet, so nothing waits.
   * Unlike close, it holds no descriptor open past the refusal, so a
   * process that keeps going (a retry, a test) does not run out of them.
   */
  discard(): void {
    if (this.closing !== undefined) return;
    this.closing = Promise.resolve();
    closeQuietly(this.file.fd);
  }

  /** Finishes every append asked for before, then closes the file. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve, reject) => {
      this.handOverLazy();
      this.enqueue({ kind: 'close', resolve, reject });
    });
    return this.closing;
  }

  private assertWritable(): void {
    if (this.closing !== undefined) throw new P2pError('SHUTTING_DOWN', `${this.path} is closed: p2p-comm is shutting down`);
    if (this.failure !== undefined) throw this.unusable();
  }

  private assertRecordSize(body: Uint8Array): void {
    if (body.length === 0 || body.length > this.maxRecordBytes) {
      throw new P2pError(
        'INVALID_INPUT',
        `a record in ${this.path} holds 1 to ${this.maxRecordBytes} bytes, this one ${body.length}; send a smaller message`,
      );
    }
  }

  /** The lazy appends join the queue as ordinary ones: written next, alone if nothing else comes. */
  private handOverLazy(): void {
    clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
    const lazy = this.lazy;
    this.lazy = [];
    for (const task of lazy) this.enqueue(task);
  }

  private enqueue(task: Task): void {
    this.queue.push(task);
    if (this.draining) return;
    this.draining = true;
    // Started after the current job, so appends made in the same turn share the first write.
    queueMicrotask(() => void this.drain());
  }

  /** The one writer: tasks run one at a time, in order. Never throws; each task settles its own promise. */
  private async drain(): Promise<void> {
    for (let task = this.queue[0]; task !== undefined; task = this.queue[0]) {
      if (task.kind === 'append') {
        await this.flush(this.takeBatch());
      } else {
        this.queue.shift();
        await (task.kind === 'rewrite' ? this.replaceFile(task) : this.closeFile(task));
      }
    }
    this.draining = false;
  }

  /**
   * The appends at the head of the queue, up to the next rewrite or close
   * and MAX_WRITE_BYTES (at least one), then lazy appends that fit: they
   * were asked for after every append in the queue, so they go last.
   */
  private takeBatch(): AppendTask[] {
    const batch: AppendTask[] = [];
    let bytes = 0;
    const fits = (task: AppendTask): boolean => {
      const framed = RECORD_HEADER_BYTES + task.body.length;
      if (batch.length > 0 && bytes + framed > MAX_WRITE_BYTES) return false;
      batch.push(task);
      bytes += framed;
      return true;
    };
    for (const task of this.queue) if (task.kind !== 'append' || !fits(task)) break;
    this.queue.splice(0, batch.length);
    // Carried only when nothing else waits in the queue: a lazy record must not pass an append asked for before it.
    if (this.queue.length > 0) return batch;
    let carried = 0;
    while (carried < this.lazy.length && fits(this.lazy[carried] as AppendTask)) carried += 1;
    this.lazy.splice(0, carried);
    this.carried += carried;
    if (this.lazy.length === 0) {
      clearTimeout(this.lazyTimer);
      this.lazyTimer = undefined;
    }
    return batch;
  }

  private async flush(batch: readonly AppendTask[]): Promise<void> {
    if (this.failure !== undefined) {
      for (const task of batch) task.reject(this.unusable());
      return;
    }
    const bodies = batch.map((task) => task.body);
    const length = framedLength(bodies);
    const parts = frame(bodies);
    try {
      // Durable once it returns: the file is open with O_DSYNC.
      await writeAll(this.file.fd, parts, this.size);
    } catch (error) {
      this.fail(error, batch);
      return;
    }
    let position = this.size;
    for (const task of batch) {
      if (task.place !== undefined) task.place.position = position;
      position += RECORD_HEADER_BYTES + task.body.length;
    }
    this.size += length;
    this.flushes += 1;
    this.appendedRecords += batch.length;
    this.appendedBytes += length;
    for (const task of batch) task.resolve();
  }

  /** Temp file in the same directory (rename is atomic only within one file system), fsync, rename, fsync the directory. */
  private async replaceFile(task: RewriteTask): Promise<void> {
    if (this.failure !== undefined) {
      task.reject(this.unusable());
      return;
    }
    const temp = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    let fd: number;
    let written: { size: number; positions: number[] };
    try {
      // Exclusive: a leftover file of the same name is never reused; read too, for the reads that follow; and
      // O_DSYNC, as the appends that follow the rename go to this descriptor.
      fd = await openAsync(temp, LOG_OPEN_FLAGS | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (error) {
      task.reject(error);
      return;
    }
    try {
      // The umask may have narrowed the mode given to open; set it exactly.
      await fchmodAsync(fd, 0o600);
      written = await this.writeRecords(fd, task.entries);
      await fsyncAsync(fd);
      await renameAsync(temp, this.path);
    } catch (error) {
      // The old file is untouched and still the log.
      await closeAsync(fd).catch(ignore);
      await unlinkAsync(temp).catch(ignore);
      task.reject(error);
      return;
    }
    // The renamed file is the log now; its descriptor stays open for the appends that follow.
    const previous = this.file;
    this.file = new SharedDescriptor(fd);
    this.size = written.size;
    task.entries.forEach((entry, index) => {
      if (!(entry instanceof Uint8Array)) entry.position = written.positions[index] as number;
    });
    // Closed once the reads that took it are done; its file is already replaced, so a failure to close loses nothing.
    previous.retire().catch(ignore);
    try {
      await fsyncDirectory(dirname(this.path));
    } catch (error) {
      // Until the rename is durable a crash can bring the old file back, without what is appended from here on.
      this.fail(error, [task]);
      return;
    }
    task.resolve();
  }

  /**
   * Magic and records into a new file, in writes of at most MAX_WRITE_BYTES,
   * records at places read from the current file a write's worth at a time;
   * returns the new file's size and where each record landed.
   */
  private async writeRecords(fd: number, entries: readonly RewriteEntry[]): Promise<{ size: number; positions: number[] }> {
    let size = await writeAll(fd, [RECORD_LOG_MAGIC], 0);
    const positions: number[] = [];
    let chunk: RewriteEntry[] = [];
    let chunkBytes = 0;
    const writeChunk = async (): Promise<void> => {
      const bodies = await this.bodiesOf(chunk);
      const start = size;
      for (const body of bodies) {
        positions.push(size);
        size += RECORD_HEADER_BYTES + body.length;
      }
      await writeAll(fd, frame(bodies), start);
      chunk = [];
      chunkBytes = 0;
    };
    for (const entry of entries) {
      const framed = RECORD_HEADER_BYTES + entry.length;
      if (chunk.length > 0 && chunkBytes + framed > MAX_WRITE_BYTES) await writeChunk();
      chunk.push(entry);
      chunkBytes += framed;
    }
    if (chunk.length > 0) await writeChunk();
    return { size, positions };
  }

  /** The entries as bodies, those at places read from the current file; throws if one cannot be read. */
  private async bodiesOf(entries: readonly RewriteEntry[]): Promise<Uint8Array[]> {
    const places = entries.filter((entry): entry is RecordPlace => !(entry instanceof Uint8Array));
    const read = await readRanges(this.path, this.file.fd, places);
    let next = 0;
    return entries.map((entry) => {
      if (entry instanceof Uint8Array) return entry;
      const body = read[next++];
      if (body instanceof Error) throw body;
      return body as Uint8Array;
    });
  }

  private async closeFile(task: CloseTask): Promise<void> {
    try {
      await this.file.retire();
      task.resolve();
    } catch (error) {
      task.reject(error);
    }
  }

  private fail(error: unknown, tasks: readonly Settle[]): void {
    this.failure = error;
    for (const task of tasks) task.reject(error);
  }

  private unusable(): P2pError {
    const cause = this.failure instanceof Error ? this.failure.message : String(this.failure);
    return new P2pError(
      'INTERNAL_ERROR',
      `writing ${this.path} failed (${cause}) and p2p-comm cannot tell which records reached the disk, so it writes ` +
        'nothing more to it: fix the cause (often a full disk) and restart p2p-comm, which reads the file again',
    );
  }
}

/**
 * Builds the record bodies of the stores field by field, into a buffer of
 * the size the caller computed from the same fields: the size a store counts
 * for a record is then the size it writes. Numbers beyond u32 (times,
 * cursors) are float64, exact for every whole number up to 2^53.
 */
export class RecordWriter {
  private readonly buffer: Buffer;
  private offset = 0;

  constructor(size: number) {
    this.buffer = Buffer.allocUnsafe(size);
  }

  u8(value: number): this {
    this.offset = this.buffer.writeUInt8(value, this.offset);
    return this;
  }

  u32(value: number): this {
    this.offset = this.buffer.writeUInt32BE(value, this.offset);
    return this;
  }

  uint(value: number): this {
    // NaN or a fraction would be written fine and refused when read back.
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`a record number must be a whole number >= 0, got ${value}`);
    this.offset = this.buffer.writeDoubleBE(value, this.offset);
    return this;
  }

  /** `length` bytes spelled in hex (a message id), written as they are read: no Buffer in between. */
  hex(value: string, length: number): this {
    if (value.length !== 2 * length || this.buffer.write(value, this.offset, length, 'hex') !== length) {
      throw new RangeError(`expected ${length} bytes in hex, got ${JSON.stringify(value.slice(0, 2 * length + 2))}`);
    }
    this.offset += length;
    return this;
  }

  /** One byte per character (text the caller checked is ASCII), written as it is read: no Buffer in between. */
  latin1(value: string): this {
    if (this.buffer.write(value, this.offset, 'latin1') !== value.length) throw new RangeError(`no room for ${value.length} bytes of text`);
    this.offset += value.length;
    return this;
  }

  bytes(value: Uint8Array): this {
    this.buffer.set(value, this.offset);
    this.offset += value.length;
    return this;
  }

  finish(): Uint8Array {
    if (this.offset !== this.buffer.length) {
      throw new RangeError(`record layout mismatch: ${this.offset} bytes written into ${this.buffer.length}`);
    }
    return this.buffer;
  }
}

/** Reads what RecordWriter wrote; throws, naming the problem, on a body that does not fit its layout. */
export class RecordReader {
  private readonly view: Buffer;
  private offset = 0;

  constructor(body: Uint8Array) {
    this.view = Buffer.from(body.buffer, body.byteOffset, body.length);
  }

  u8(): number {
    return this.view.readUInt8(this.take(1));
  }

  u32(): number {
    return this.view.readUInt32BE(this.take(4));
  }

  uint(): number {
    const value = this.view.readDoubleBE(this.take(8));
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`it holds ${value} where a whole number belongs`);
    return value;
  }

  /** A copy: what a store keeps must not pin the buffer the whole file was read into. */
  bytes(length: number): Uint8Array {
    const start = this.take(length);
    return new Uint8Array(this.view.subarray(start, start + length));
  }

  /** Not a copy: for what the caller uses and lets go, which need not cost a copy (a message's content). */
  window(length: number): Uint8Array {
    const start = this.take(length);
    return new Uint8Array(this.view.buffer, this.view.byteOffset + start, length);
  }

  finish(): void {
    const left = this.view.length - this.offset;
    if (left !== 0) throw new Error(`${left} bytes follow its last field`);
  }

  private take(length: number): number {
    const start = this.offset;
    if (start + length > this.view.length) throw new Error('it ends before its last field');
    this.offset += length;
    return start;
  }
}

function openOrCreate(path: string): number {
  try {
    return openSync(path, LOG_OPEN_FLAGS);
  } catch (error) {
    if (!isErrnoException(error) || error.code !== 'ENOENT') throw error;
  }
  // Created complete (magic included) under a temp name and linked into place.
  createFileAtomic(path, RECORD_LOG_MAGIC, 0o600);
  return openSync(path, LOG_OPEN_FLAGS);
}

/**
 * Empty, or a beginning of the magic: what a crash leaves when a file is
 * created by writing the magic in place. openOrCreate never does that, but
 * such a file can hold no record, so it is taken as a new log, not refused.
 */
function isUnfinishedCreation(content: Buffer): boolean {
  return content.length < RECORD_LOG_MAGIC.length && RECORD_LOG_MAGIC.subarray(0, content.length).equals(content);
}

/** The records, where each starts, and where the good part of the file ends (anything after it is a torn last record). */
function readRecords(path: string, content: Buffer, maxRecordBytes: number): { records: Uint8Array[]; positions: number[]; end: number } {
  if (!content.subarray(0, RECORD_LOG_MAGIC.length).equals(RECORD_LOG_MAGIC)) {
    throw corrupt(path, 0, 'it does not start with P2PLOG2, so it is not a p2p-comm message log');
  }
  const records: Uint8Array[] = [];
  const positions: number[] = [];
  let offset = RECORD_LOG_MAGIC.length;
  while (offset + RECORD_HEADER_BYTES <= content.length) {
    const length = content.readUInt32BE(offset);
    const lengthTrusted = crc32(content.subarray(offset, offset + 4)) === content.readUInt32BE(offset + 4);
    const checksum = content.readUInt32BE(offset + 8);
    const start = offset + RECORD_HEADER_BYTES;
    const end = start + length;
    const complete = end <= content.length;
    const intact = lengthTrusted && complete && length > 0 && crc32(content.subarray(start, end)) === checksum;
    if (intact && length <= maxRecordBytes) {
      records.push(content.subarray(start, end));
      positions.push(offset);
      offset = end;
      continue;
    }
    if (intact) throw corrupt(path, offset, `the record there has ${length} bytes, more than the ${maxRecordBytes} allowed`);
    // A length that fails its own checksum, or that no writer writes, says nothing about where the record ends.
    const sane = lengthTrusted && length > 0 && length <= maxRecordBytes;
    // A write cut short, or zeros after it: blocks the crash left unwritten, not records.
    if ((sane && !complete) || isAllZero(content.subarray(sane ? end : start))) break;
    let problem = `the record there claims ${length} bytes (1 to ${maxRecordBytes} are allowed) and more data follows it`;
    if (sane) problem = 'the record there fails its checksum and more data follows it';
    else if (!lengthTrusted) problem = 'the length of the record there fails its checksum and more data follows it';
    throw corrupt(path, offset, problem);
  }
  return { records, positions, end: offset };
}

function isAllZero(bytes: Buffer): boolean {
  return bytes.every((byte) => byte === 0);
}

function corrupt(path: string, offset: number, problem: string): P2pError {
  return new P2pError(
    'STATE_FILE_CORRUPT',
    `${path} is corrupt at byte ${offset}: ${problem}. p2p-comm will not guess which messages in it are intact: ` +
      'move the file away to start with an empty store (the messages in it are then lost)',
  );
}

function framedLength(bodies: readonly Uint8Array[]): number {
  let total = 0;
  for (const body of bodies) total += RECORD_HEADER_BYTES + body.length;
  return total;
}

/**
 * Bodies from this size up are written from where they are, not copied
 * into the write's buffer: a message's content is then not copied once
 * more on its way to the disk. Smaller ones are copied, as a part of their
 * own costs the writev more than the copy.
 */
const UNCOPIED_BODY_BYTES = 16 * 1024;

/**
 * All bodies framed, as the parts of one writev for a whole batch: headers
 * and small bodies packed into buffers, large bodies as they are. Each
 * checksum is taken over the bytes that are written (a large body must
 * not change until its append settles, as append says).
 */
function frame(bodies: readonly Uint8Array[]): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let packed = 0;
  for (const body of bodies) packed += RECORD_HEADER_BYTES + (body.length >= UNCOPIED_BODY_BYTES ? 0 : body.length);
  const buffer = Buffer.allocUnsafe(packed);
  let offset = 0;
  let partStart = 0;
  for (const body of bodies) {
    buffer.writeUInt32BE(body.length, offset);
    buffer.writeUInt32BE(crc32(buffer.subarray(offset, offset + 4)), offset + 4);
    buffer.writeUInt32BE(crc32(body), offset + 8);
    offset += RECORD_HEADER_BYTES;
    if (body.length >= UNCOPIED_BODY_BYTES) {
      parts.push(buffer.subarray(partStart, offset), body);
      partStart = offset;
    } else {
      buffer.set(body, offset);
      offset += body.length;
    }
  }
  if (offset > partStart) parts.push(buffer.subarray(partStart, offset));
  return parts;
}

/** The buffers one after another from `position`, in one writev unless the system writes less than asked; returns the length written. */
async function writeAll(fd: number, buffers: readonly Uint8Array[], position: number): Promise<number> {
  let pending = buffers.filter((buffer) => buffer.length > 0);
  let written = 0;
  while (pending.length > 0) {
    let { bytesWritten } = await writevAsync(fd, pending, position + written);
    written += bytesWritten;
    while (pending.length > 0 && bytesWritten >= (pending[0] as Uint8Array).length) bytesWritten -= (pending.shift() as Uint8Array).length;
    if (bytesWritten > 0) pending[0] = (pending[0] as Uint8Array).subarray(bytesWritten);
  }
  return written;
}

/**
 * The records at these places, read in spans (see MAX_READ_BYTES), each
 * checked as readRecords checks it at open. The places are taken as they
 * are when it is called.
 */
function readRanges(path: string, fd: number, places: readonly RecordPlace[]): Promise<(Uint8Array | Error)[]> {
  const wanted = places.map(({ position, length }, index) => {
    // Node reads from the descriptor's own offset at a position of -1: never for a place.
    if (position < RECORD_LOG_MAGIC.length) throw new RangeError(`a record of ${length} bytes is read before it was written`);
    return { index, position, length };
  });
  return readSpans(path, fd, wanted.sort((a, b) => a.position - b.position), places.length);
}

async function readSpans(path: string, fd: number, sorted: readonly (RecordPlace & { index: number })[], count: number): Promise<(Uint8Array | Error)[]> {
  const results: (Uint8Array | Error)[] = new Array(count);
  let span: (RecordPlace & { index: number })[] = [];
  let spanStart = 0;
  let spanEnd = 0;
  const readSpan = async (): Promise<void> => {
    const buffer = Buffer.allocUnsafe(spanEnd - spanStart);
    let filled: number;
    try {
      filled = await readFully(fd, buffer, spanStart);
    } catch (error) {
      for (const { index } of span) results[index] = error instanceof Error ? error : new Error(String(error));
      return;
    }
    // A span read over gaps holds bytes nobody asked for: its bodies are copied out, so it does not stay in memory with them.
    let asked = 0;
    for (const place of span) asked += RECORD_HEADER_BYTES + place.length;
    const copy = asked < buffer.length;
    for (const place of span) {
      const record = recordIn(path, buffer.subarray(0, filled), spanStart, place);
      results[place.index] = copy && record instanceof Uint8Array ? new Uint8Array(record) : record;
    }
  };
  for (const place of sorted) {
    const end = place.position + RECORD_HEADER_BYTES + place.length;
    if (span.length > 0 && (place.position - spanEnd > MAX_READ_GAP_BYTES || end - spanStart > MAX_READ_BYTES)) {
      await readSpan();
      span = [];
    }
    if (span.length === 0) {
      spanStart = place.position;
      spanEnd = end;
    }
    span.push(place);
    spanEnd = Math.max(spanEnd, end);
  }
  if (span.length > 0) await readSpan();
  return results;
}

/** The body of the record at `place`, out of `bytes` read from `offset` of the file, or what is wrong with it. */
function recordIn(path: string, bytes: Buffer, offset: number, place: RecordPlace): Uint8Array | Error {
  const { position, length } = place;
  const start = position - offset;
  const bodyStart = start + RECORD_HEADER_BYTES;
  const damaged = (problem: string) =>
    new P2pError('STATE_FILE_CORRUPT', `${path} no longer holds the record of ${length} bytes written at byte ${position}: ${problem}`);
  if (bodyStart + length > bytes.length) return damaged(`the file ends at byte ${offset + bytes.length}`);
  if (crc32(bytes.subarray(start, start + 4)) !== bytes.readUInt32BE(start + 4)) return damaged('the length there fails its checksum');
  if (bytes.readUInt32BE(start) !== length) return damaged(`the record there has ${bytes.readUInt32BE(start)} bytes`);
  const body = bytes.subarray(bodyStart, bodyStart + length);
  if (crc32(body) !== bytes.readUInt32BE(start + 8)) return damaged('the record there fails its checksum');
  return new Uint8Array(body.buffer, body.byteOffset, body.length);
}

/** Fills `buffer` from `position` on, short only where the file ends; returns the bytes read. */
async function readFully(fd: number, buffer: Uint8Array, position: number): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await readAsync(fd, buffer, filled, buffer.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** Makes the new directory entry itself durable, not only the file's contents. */
async function fsyncDirectory(directory: string): Promise<void> {
  const fd = await openAsync(directory, 'r');
  try {
    await fsyncAsync(fd);
  } finally {
    await closeAsync(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // The failure that led here is the one worth reporting.
  }
}

/** For clean-up after a failure: the first failure is the one worth reporting. */
function ignore(): void {}
