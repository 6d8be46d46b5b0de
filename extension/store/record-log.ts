import { randomBytes } from 'node:crypto';
import {
  close,
  closeSync,
  fchmod,
  fsync,
  fsyncSync,
  ftruncateSync,
  open,
  openSync,
  readFileSync,
  rename,
  unlink,
  write,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { P2pError } from '../common/errors';
import { createFileAtomic, isErrnoException } from '../common/atomic-file';

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
 * Appends are group-committed: every append that arrives while a write and
 * fsync are under way goes into the next single write and fsync, so the
 * cost of an fsync is shared by all the messages that waited for it, and
 * each append still resolves only once its record is on disk.
 *
 * At open, a last record that is cut short or fails its checksum is what a
 * crash during an append leaves: no caller was told it was stored, so it is
 * dropped and the file cut back. So is a bad record followed only by zeros,
 * which is how some file systems show blocks a crash left unwritten. A bad
 * record with data after it is damage, and p2p-comm will not guess which
 * records around it are still right.
 */
export const RECORD_LOG_MAGIC = Buffer.from('P2PLOG2\n', 'latin1');

/** length u32 + length crc32 u32 + body crc32 u32 before every body. */
export const RECORD_HEADER_BYTES = 12;

/** Appends collected into one write are capped, so a burst of large records never builds one huge buffer. */
const MAX_WRITE_BYTES = 8 * 1024 * 1024;

export interface RecordLogOptions {
  /** Largest body accepted; a longer one in the file is damage. */
  maxRecordBytes: number;
}

export interface RecordLogStats {
  /** fsyncs done for appends (a rewrite's own fsyncs are not counted). */
  flushes: number;
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
}

interface RewriteTask extends Settle {
  kind: 'rewrite';
  bodies: readonly Uint8Array[];
}

interface CloseTask extends Settle {
  kind: 'close';
}

type Task = AppendTask | RewriteTask | CloseTask;

const closeAsync = promisify(close);
const fchmodAsync = promisify(fchmod);
const fsyncAsync = promisify(fsync);
const openAsync = promisify(open);
const renameAsync = promisify(rename);
const unlinkAsync = promisify(unlink);
const writeAsync = promisify(write);

export class RecordLog {
  /** Everything not done yet, in the order it was asked for. */
  private readonly queue: Task[] = [];
  private draining = false;
  private closing: Promise<void> | undefined;
  /** Set when a write failed: what reached the disk is unknown, so nothing more is written. */
  private failure: unknown;
  private flushes = 0;
  private appendedRecords = 0;
  private appendedBytes = 0;

  private constructor(
    private readonly path: string,
    private readonly maxRecordBytes: number,
    private fd: number,
    private size: number,
    /** Bytes dropped at open: an unfinished last record, and any zeros after it. */
    readonly recoveredBytes: number,
  ) {}

  /** Creates the file when it does not exist; returns every record in it, oldest first. */
  static open(path: string, options: RecordLogOptions): { log: RecordLog; records: Uint8Array[] } {
    const fd = openOrCreate(path);
    try {
      const content = readFileSync(fd);
      if (isUnfinishedCreation(content)) {
        // Holds no record, so starting it afresh loses nothing (see isUnfinishedCreation).
        ftruncateSync(fd, 0);
        writeSync(fd, RECORD_LOG_MAGIC, 0, RECORD_LOG_MAGIC.length, 0);
        fsyncSync(fd);
        return { log: new RecordLog(path, options.maxRecordBytes, fd, RECORD_LOG_MAGIC.length, 0), records: [] };
      }
      const { records, end } = readRecords(path, content, options.maxRecordBytes);
      if (end < content.length) {
        ftruncateSync(fd, end);
        fsyncSync(fd);
      }
      return { log: new RecordLog(path, options.maxRecordBytes, fd, end, content.length - end), records };
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
    return { flushes: this.flushes, records: this.appendedRecords, bytes: this.appendedBytes };
  }

  /**
   * Resolves once the record is written and fsync'd. The body is copied when
   * its batch is written: do not change it before the promise settles.
   */
  append(body: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.assertWritable();
      this.assertRecordSize(body);
      this.enqueue({ kind: 'append', body, resolve, reject });
    });
  }

  /**
   * Replaces the whole file with these records (compaction), after every
   * append asked for before; appends asked for meanwhile land after them in
   * the new file. If it fails before the new file is in place, the old one
   * is kept and appends go on.
   */
  rewrite(bodies: readonly Uint8Array[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.assertWritable();
      for (const body of bodies) this.assertRecordSize(body);
      this.enqueue({ kind: 'rewrite', bodies, resolve, reject });
    });
  }

  /** Finishes every append asked for before, then closes the file. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve, reject) => this.enqueue({ kind: 'close', resolve, reject }));
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

  /** The appends at the head of the queue, up to the next rewrite or close and MAX_WRITE_BYTES (at least one). */
  private takeBatch(): AppendTask[] {
    const batch: AppendTask[] = [];
    let bytes = 0;
    for (const task of this.queue) {
      if (task.kind !== 'append') break;
      const framed = RECORD_HEADER_BYTES + task.body.length;
      if (batch.length > 0 && bytes + framed > MAX_WRITE_BYTES) break;
      batch.push(task);
      bytes += framed;
    }
    this.queue.splice(0, batch.length);
    return batch;
  }

  private async flush(batch: readonly AppendTask[]): Promise<void> {
    if (this.failure !== undefined) {
      for (const task of batch) task.reject(this.unusable());
      return;
    }
    const buffer = frame(batch.map((task) => task.body));
    try {
      await writeAll(this.fd, buffer, this.size);
      await fsyncAsync(this.fd);
    } catch (error) {
      this.fail(error, batch);
      return;
    }
    this.size += buffer.length;
    this.flushes += 1;
    this.appendedRecords += batch.length;
    this.appendedBytes += buffer.length;
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
    let size: number;
    try {
      // 'wx': a leftover file of the same name is never reused.
      fd = await openAsync(temp, 'wx', 0o600);
    } catch (error) {
      task.reject(error);
      return;
    }
    try {
      // The umask may have narrowed the mode given to open; set it exactly.
      await fchmodAsync(fd, 0o600);
      size = await writeRecords(fd, task.bodies);
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
    const previous = this.fd;
    this.fd = fd;
    this.size = size;
    try {
      await closeAsync(previous);
      await fsyncDirectory(dirname(this.path));
    } catch (error) {
      // Until the rename is durable a crash can bring the old file back, without what is appended from here on.
      this.fail(error, [task]);
      return;
    }
    task.resolve();
  }

  private async closeFile(task: CloseTask): Promise<void> {
    try {
      await closeAsync(this.fd);
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
    return openSync(path, 'r+');
  } catch (error) {
    if (!isErrnoException(error) || error.code !== 'ENOENT') throw error;
  }
  // Created complete (magic included) under a temp name and linked into place.
  createFileAtomic(path, RECORD_LOG_MAGIC, 0o600);
  return openSync(path, 'r+');
}

/**
 * Empty, or a beginning of the magic: what a crash leaves when a file is
 * created by writing the magic in place. openOrCreate never does that, but
 * such a file can hold no record, so it is taken as a new log, not refused.
 */
function isUnfinishedCreation(content: Buffer): boolean {
  return content.length < RECORD_LOG_MAGIC.length && RECORD_LOG_MAGIC.subarray(0, content.length).equals(content);
}

/** The records, and where the good part of the file ends (anything after it is a torn last record). */
function readRecords(path: string, content: Buffer, maxRecordBytes: number): { records: Uint8Array[]; end: number } {
  if (!content.subarray(0, RECORD_LOG_MAGIC.length).equals(RECORD_LOG_MAGIC)) {
    throw corrupt(path, 0, 'it does not start with P2PLOG2, so it is not a p2p-comm message log');
  }
  const records: Uint8Array[] = [];
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
  return { records, end: offset };
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

/** All bodies framed into one buffer: one write for a whole batch. */
function frame(bodies: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const body of bodies) total += RECORD_HEADER_BYTES + body.length;
  const buffer = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const body of bodies) {
    const start = offset + RECORD_HEADER_BYTES;
    buffer.set(body, start);
    buffer.writeUInt32BE(body.length, offset);
    // Taken over the copies, so the checksums always match the bytes written.
    buffer.writeUInt32BE(crc32(buffer.subarray(offset, offset + 4)), offset + 4);
    buffer.writeUInt32BE(crc32(buffer.subarray(start, start + body.length)), offset + 8);
    offset = start + body.length;
  }
  return buffer;
}

/** Magic and records into a new file, in writes of at most MAX_WRITE_BYTES; returns the file's size. */
async function writeRecords(fd: number, bodies: readonly Uint8Array[]): Promise<number> {
  await writeAll(fd, RECORD_LOG_MAGIC, 0);
  let position = RECORD_LOG_MAGIC.length;
  let chunk: Uint8Array[] = [];
  let chunkBytes = 0;
  for (const body of bodies) {
    const framed = RECORD_HEADER_BYTES + body.length;
    if (chunk.length > 0 && chunkBytes + framed > MAX_WRITE_BYTES) {
      position += await writeAll(fd, frame(chunk), position);
      chunk = [];
      chunkBytes = 0;
    }
    chunk.push(body);
    chunkBytes += framed;
  }
  if (chunk.length > 0) position += await writeAll(fd, frame(chunk), position);
  return position;
}

/** One write unless the system writes less than asked; returns the length written. */
async function writeAll(fd: number, buffer: Uint8Array, position: number): Promise<number> {
  let written = 0;
  while (written < buffer.length) {
    const { bytesWritten } = await writeAsync(fd, buffer, written, buffer.length - written, position + written);
    written += bytesWritten;
  }
  return written;
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
