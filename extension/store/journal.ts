import { P2pError } from '../common/errors';
import { RecordLog, type RecordPlace, type RewriteEntry } from './record-log';

/**
 * Below this a file is never compacted, unless the store says otherwise. A
 * compaction holds the log's appends while it rewrites the file, so it must
 * be rare: at 4 MiB a node taking 24,000 small messages a second compacted
 * each log about twice a second, and took a quarter fewer messages than at
 * 32 MiB (docs/performance.md). The file is read whole at open, so this is
 * also about what a start reads beyond the live records.
 */
export const DEFAULT_COMPACTION_MIN_BYTES = 32 * 1024 * 1024;

export interface JournalOptions {
  /** The store, as its errors name it after "an": "inbox", "outbox". */
  name: string;
  /** What moving a corrupt file away loses, for the error that suggests it. */
  costOfMovingAway: string;
  /** Largest record in the file. */
  maxRecordBytes: number;
  /** Longest a lazy record waits for a write to carry it (see RecordLog.appendLazy). */
  lazyFlushMs?: number | undefined;
  /** Size below which the file is never compacted (DEFAULT_COMPACTION_MIN_BYTES). */
  compactionMinBytes?: number | undefined;
}

/**
 * The durable half of a store that keeps its state in memory: a RecordLog
 * replayed at open, appended to before each change is applied, and
 * rewritten from memory once it has grown well past what memory holds.
 * A store may keep a record's place instead of the record, and read it
 * back (read); the place stays right across compactions.
 */
export class Journal {
  /** Records handed to the log and not applied yet, in log order, with their places (see compact). */
  private readonly unapplied = new Set<RecordPlace>();
  private compaction: Promise<void> | undefined;

  private constructor(
    private readonly log: RecordLog,
    private readonly compactionMinBytes: number,
  ) {}

  /** Creates the file when it does not exist; decodes and applies every record in it, oldest first, with its place. */
  static open<R>(
    path: string,
    options: JournalOptions,
    decode: (body: Uint8Array) => R,
    apply: (record: R, place: RecordPlace) => void,
  ): Journal {
    const { name, costOfMovingAway, maxRecordBytes, lazyFlushMs } = options;
    const { log, records, positions } = RecordLog.open(path, { maxRecordBytes, lazyFlushMs });
    records.forEach((body, index) => {
      let record: R;
      try {
        record = decode(body);
      } catch (error) {
        log.discard();
        throw new P2pError(
          'STATE_FILE_CORRUPT',
          `the ${name} ${path} is corrupt: record ${index + 1} is not an ${name} record (${(error as Error).message}). ` +
            `p2p-comm will not guess what it held: move the file away to start with an empty ${name} ` +
            `(${costOfMovingAway})`,
        );
      }
      try {
        apply(record, { position: positions[index] as number, length: body.length });
      } catch (error) {
        log.discard();
        throw error;
      }
    });
    return new Journal(log, options.compactionMinBytes ?? DEFAULT_COMPACTION_MIN_BYTES);
  }

  /**
   * Appends the record and applies it in the same step once it is durable,
   * with its place: between the two it stays in `unapplied`, so that a
   * compaction taken meanwhile, which writes memory and not the old file,
   * still carries it.
   */
  commit<T>(body: Uint8Array, apply: (place: RecordPlace) => T): Promise<T> {
    const place: RecordPlace = { position: -1, length: body.length };
    this.unapplied.add(place);
    // A continuation rather than an async function: one promise less for every record.
    return this.log.append(body, place).then(
      () => {
        this.unapplied.delete(place);
        return apply(place);
      },
      (error: unknown) => {
        this.unapplied.delete(place);
        throw error;
      },
    );
  }

  /**
   * Appends a record nobody waits for (RecordLog.appendLazy): the caller
   * applies it at once, and a crash before it is written loses it. Throws
   * at once when the log takes no more writes.
   */
  commitLazy(body: Uint8Array): void {
    this.log.appendLazy(body);
  }

  /** The records at these places, as RecordLog.read gives them. */
  read(places: readonly RecordPlace[]): Promise<(Uint8Array | Error)[]> {
    return this.log.read(places);
  }

  /**
   * Compacts once the file is more than twice `liveBytes`, what a compacted
   * file would hold; `snapshot` gives the records memory holds, as bodies
   * or as the places of records to carry over. Stores run it before a
   * write, so a compaction that fails fails that write and changes nothing.
   * Undefined when there is nothing to wait for, so that a store can go on
   * in the same step.
   */
  compactIfDue(liveBytes: number, snapshot: () => RewriteEntry[]): Promise<void> | undefined {
    if (this.compaction === undefined) {
      const size = this.log.sizeBytes;
      if (size <= this.compactionMinBytes || size <= 2 * liveBytes) return undefined;
      this.compaction = this.compact(snapshot).finally(() => {
        this.compaction = undefined;
      });
    }
    return this.compaction;
  }

  /** Waits for the writes under way. */
  close(): Promise<void> {
    return this.log.close();
  }

  /**
   * Rewrites the file as memory holds it. Records still on their way to the
   * old file are not in memory yet, so they follow, in their order, copied
   * from the old file (the rewrite runs after their appends) and their
   * places moved; anything appended from here on lands after the rewrite.
   */
  private async compact(snapshot: () => RewriteEntry[]): Promise<void> {
    await this.log.rewrite([...snapshot(), ...this.unapplied]);
  }
}
