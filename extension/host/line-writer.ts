import type { Writable } from 'node:stream';
import { AbstractMessageWriter, type Message, type ResponseMessage } from 'vscode-jsonrpc';
import type { RequestIdMap } from './request-ids';

/**
 * Writes one JSON value per line, as Nexus expects: no headers, no pretty
 * printing, flushed in order. JSON.stringify never emits a raw newline, and
 * turns NaN/Infinity into null, so every line is valid JSON for the host.
 */
export class NewlineMessageWriter extends AbstractMessageWriter {
  private lastWrite: Promise<void> = Promise.resolve();
  private errorCount = 0;

  constructor(
    private readonly writable: Writable,
    private readonly requestIds: RequestIdMap,
  ) {
    super();
    writable.on('error', (error: Error) => this.fireError(error, undefined, ++this.errorCount));
    writable.on('close', () => this.fireClose());
  }

  write(message: Message): Promise<void> {
    if (isResponse(message)) message.id = this.requestIds.restore(message.id);
    const line = `${JSON.stringify(message)}\n`;
    const written = new Promise<void>((resolve, reject) => {
      this.writable.write(line, 'utf8', (error) => {
        if (error) {
          this.fireError(error, message, ++this.errorCount);
          reject(error);
        } else {
          resolve();
        }
      });
    });
    this.lastWrite = written.catch(() => undefined);
    return written;
  }

  /** Resolves once every line handed to write() so far has reached the stream. */
  idle(): Promise<void> {
    return this.lastWrite;
  }

  end(): void {
    this.writable.end();
  }
}

function isResponse(message: Message): message is ResponseMessage {
  return !('method' in message) && 'id' in message;
}
