import { P2pError } from '../common/errors';
import { RecordLog } from './record-log';

/** Below this the file is never compacted: rewriting a small file saves nothing worth an extra fsync. */
const COMPACTION_MIN_BYTES = 4 * 1024 * 1024;

export interface JournalOptions {
  /** The store, as its errors name it after "an": "inbox", "outbox". */
  name: string;
  /** What moving a corrupt file away loses, for the error that suggests it. */
  costOfMovingAway: string;
  /** Largest record in the file. */
  maxRecordBytes: number;
}

/**
 * The durable half of a store that keeps its state in memory: a RecordLog
 * replayed at open, appended to before each change is applied, and
 * rewritten from memory once it has grown well past what memory holds.
 */
export class Journal {
  /** Records handed to the log and not applied yet, in log order (see compact). */
  private readonly unapplied = new Set<Uint8Array>();
  private compaction: Promise<void> | undefined;

  private constructor(private readonly log: RecordLog) {}

  /** Creates the file when it does not exist; decodes and applies every record in it, oldest first. */
  static open<R>(path: string, options: JournalOptions, decode: (body: Uint8Array) => R, apply: (record: R) => void): Journal {
    const { name, costOfMovingAway, maxRecordBytes } = options;
    const { log, records } = RecordLog.open(path, { maxRecordBytes });
    records.forEach((body, index) => {
      let record: R;
      try {
        record = decode(body);
      } catch (error) {
        // The corruption is what to report, not a failure to close.
        log.close().catch(() => undefined);
        throw new P2pError(
          'STATE_FILE_CORRUPT',
          `the ${name} ${path} is corrupt: record ${index + 1} is not an ${name} record (${(error as Error).message}). ` +
            `p2p-comm will not guess what it held: move the file away to start with an empty ${name} ` +
            `(${costOfMovingAway})`,
        );
      }
      apply(record);
    });
    return new Journal(log);
  }

  /**
   * Appends the record and applies it in the same step once it is durable:
   * between the two it stays in `unapplied`, so that a compaction taken
   * meanwhile, which writes memory and not the old file, still carries it.
   */
  async commit<T>(body: Uint8Array, apply: () => T): Promise<T> {
    this.unapplied.add(body);
    try {
      await this.log.append(body);
    } finally {
      this.unapplied.delete(body);
    }
    return apply();
  }

  /**
   * Compacts once the file is more than twice `liveBytes`, what a compacted
   * file would hold; `snapshot` gives the records memory holds. Stores run
   * it before a write, so a compaction that fails fails that write and
   * changes nothing.
   */
  async compactIfDue(liveBytes: number, snapshot: () => Uint8Array[]): Promise<void> {
    if (this.compaction === undefined) {
      const size = this.log.sizeBytes;
      if (size <= COMPACTION_MIN_BYTES || size <= 2 * liveBytes) return;
      this.compaction = this.compact(snapshot).finally(() => {
        this.compaction = undefined;
      });
    }
    await this.compaction;
  }

  /** Waits for the writes under way. */
  close(): Promise<void> {
    return this.log.close();
  }

  /**
   * Rewrites the file as memory holds it. Records still on their way to the
   * old file are not in memory yet, so they follow, in their order; anything
   * appended from here on lands after the rewrite.
   */
  private async compact(snapshot: () => Uint8Array[]): Promise<void> {
    await this.log.rewrite([...snapshot(), ...this.unapplied]);
  }
}
