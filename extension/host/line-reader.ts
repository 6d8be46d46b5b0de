import type { Readable } from 'node:stream';
import { AbstractMessageReader, Disposable, type DataCallback, type Message, type RequestMessage } from 'vscode-jsonrpc';
import type { ErrorName } from '../common/errors';
import { classifyMessage } from './message-shape';
import { FALLBACK_RESPONSE_ID, rejectedLineRequest, salvageRequestId } from './rejected-line';
import type { RequestIdMap } from './request-ids';

export interface LineReaderOptions {
  /** Longest accepted line in bytes, newline excluded. */
  maxLineBytes: number;
  /** Shared with the writer, which restores the host's ids in answers. */
  requestIds: RequestIdMap;
  /** Told about every line refused, answered or not (for counters and logs). */
  onRefused?: (errorName: ErrorName, reason: string) => void;
}

/** Bytes of an overlong line kept to recover its id: Nexus writes `id` last. */
const ID_WINDOW_BYTES = 256;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Reads newline-delimited JSON-RPC from a byte stream (Nexus writes one JSON
 * value per line). Never buffers more than `maxLineBytes` of one line: the
 * rest of an overlong line is skipped as it arrives and the line is refused.
 */
export class NewlineMessageReader extends AbstractMessageReader {
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });
  private parts: Buffer[] = [];
  private partsLength = 0;
  private overlong: { head: Buffer; tail: Buffer; length: number } | null = null;
  private callback: DataCallback | null = null;
  private delivered = 0;

  constructor(
    private readonly readable: Readable,
    private readonly options: LineReaderOptions,
  ) {
    super();
  }

  /** Requests (messages with an id and a method) handed to the connection so far, refused lines included. */
  get requestsDelivered(): number {
    return this.delivered;
  }

  listen(callback: DataCallback): Disposable {
    this.callback = callback;
    const onData = (chunk: Buffer | string): void => this.onChunk(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    const onEnd = (): void => this.fireClose();
    const onError = (error: Error): void => this.fireError(error);
    this.readable.on('data', onData);
    this.readable.on('end', onEnd);
    this.readable.on('error', onError);
    return Disposable.create(() => {
      this.callback = null;
      this.readable.off('data', onData);
      this.readable.off('end', onEnd);
      this.readable.off('error', onError);
    });
  }

  private onChunk(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(NEWLINE, start);
      const end = newline === -1 ? chunk.length : newline;
      this.append(chunk.subarray(start, end));
      if (newline === -1) return;
      this.finishLine();
      start = newline + 1;
    }
  }

  private append(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.overlong !== null) {
      this.overlong.length += piece.length;
      this.overlong.tail = lastBytes(Buffer.concat([this.overlong.tail, piece]), ID_WINDOW_BYTES);
      return;
    }
    if (this.partsLength + piece.length > this.options.maxLineBytes) {
      const sofar = Buffer.concat([...this.parts, piece]);
      this.overlong = {
        head: Buffer.from(sofar.subarray(0, ID_WINDOW_BYTES)),
        tail: Buffer.from(lastBytes(sofar, ID_WINDOW_BYTES)),
        length: sofar.length,
      };
      this.parts = [];
      this.partsLength = 0;
      return;
    }
    // Copy: the stream may reuse the chunk's memory.
    this.parts.push(Buffer.from(piece));
    this.partsLength += piece.length;
  }

  private finishLine(): void {
    if (this.overlong !== null) {
      const { head, tail, length } = this.overlong;
      this.overlong = null;
      const id = salvageRequestId(head.toString('latin1'), tail.toString('latin1'));
      this.refuse(id, 'LINE_TOO_LONG', `line of ${length} bytes exceeds the limit of ${this.options.maxLineBytes} bytes`, true);
      return;
    }
    let line = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    this.parts = [];
    this.partsLength = 0;
    if (line.length > 0 && line[line.length - 1] === CARRIAGE_RETURN) line = line.subarray(0, -1);
    if (line.every(isJsonWhitespace)) {
      // Not a message, so nothing to answer; still counted so a misbehaving host shows up.
      this.options.onRefused?.('INVALID_REQUEST', 'blank line ignored');
      return;
    }
    this.deliverLine(line);
  }

  private deliverLine(line: Buffer): void {
    let text: string;
    try {
      text = this.utf8.decode(line);
    } catch {
      const latin = line.toString('latin1');
      this.refuse(salvageRequestId(latin, latin), 'PARSE_ERROR', 'line is not valid UTF-8', true);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      this.refuse(salvageRequestId(text, text), 'PARSE_ERROR', `line is not valid JSON: ${truncate(detail, 200)}`, true);
      return;
    }
    const classified = classifyMessage(value);
    if (classified.kind === 'message') {
      this.deliver(classified.message);
      return;
    }
    this.refuse(classified.id ?? FALLBACK_RESPONSE_ID, classified.errorName, classified.reason, classified.answer);
  }

  private refuse(id: number | string, errorName: ErrorName, reason: string, answer: boolean): void {
    this.options.onRefused?.(errorName, reason);
    if (answer) this.deliver(rejectedLineRequest(id, { errorName, message: reason }));
  }

  private deliver(message: Message): void {
    if (isRequest(message)) {
      this.delivered += 1;
      message.id = this.options.requestIds.admit(message.id);
    }
    this.callback?.(message);
  }
}

function isRequest(message: Message): message is RequestMessage & { id: number | string } {
  const candidate = message as Partial<RequestMessage>;
  return typeof candidate.method === 'string' && (typeof candidate.id === 'number' || typeof candidate.id === 'string');
}

function isJsonWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === CARRIAGE_RETURN;
}

function lastBytes(buffer: Buffer, count: number): Buffer {
  return buffer.length <= count ? buffer : buffer.subarray(buffer.length - count);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
