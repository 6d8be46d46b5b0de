import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { P2pError } from '../../extension/common/errors';
import { Journal } from '../../extension/store/journal';
import { RecordLog } from '../../extension/store/record-log';
import { tempDir } from '../helpers/extension';

const OPTIONS = { name: 'test journal', costOfMovingAway: 'nothing is lost in a test', maxRecordBytes: 1024 };

/** Descriptors this process holds open on `path`, read from /proc. */
function openDescriptorsOn(path: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(join('/proc/self/fd', fd)) === path;
    } catch {
      return false;
    }
  }).length;
}

function refusalOf(open: () => unknown): unknown {
  try {
    open();
  } catch (error) {
    return error;
  }
  return undefined;
}

async function logWith(path: string, records: readonly string[]): Promise<void> {
  const { log } = RecordLog.open(path, { maxRecordBytes: 1024 });
  for (const record of records) await log.append(Buffer.from(record));
  await log.close();
}

t.test('records are decoded and applied in order, with their places', async (t) => {
  const path = join(tempDir(t), 'j.log');
  await logWith(path, ['one', 'two']);
  const seen: string[] = [];
  const journal = Journal.open(path, OPTIONS, (body) => Buffer.from(body).toString(), (record, place) => seen.push(`${record}@${place.position}`));
  t.same(seen, ['one@8', 'two@23']);
  await journal.close();
});

t.test('a record the store cannot decode is refused, and the file is closed before the refusal returns', async (t) => {
  const path = join(tempDir(t), 'j.log');
  await logWith(path, ['good', 'bad']);
  const refusal = refusalOf(() =>
    Journal.open(path, OPTIONS, (body) => {
      if (Buffer.from(body).toString() === 'bad') throw new Error('no such kind');
      return body;
    }, () => undefined),
  );
  t.equal(refusal instanceof P2pError ? refusal.errorName : refusal, 'STATE_FILE_CORRUPT');
  t.match((refusal as Error).message, 'record 2 is not an test journal record (no such kind)');
  t.equal(openDescriptorsOn(path), 0, 'no descriptor is left open on the refused file');
});

t.test('a record the store refuses to apply is refused as it was thrown, and the file is closed at once', async (t) => {
  const path = join(tempDir(t), 'j.log');
  await logWith(path, ['good', 'conflicting']);
  const refusal = new P2pError('STATE_FILE_CORRUPT', 'the record contradicts the one before it');
  t.equal(
    refusalOf(() =>
      Journal.open(path, OPTIONS, (body) => Buffer.from(body).toString(), (record) => {
        if (record === 'conflicting') throw refusal;
      }),
    ),
    refusal,
  );
  t.equal(openDescriptorsOn(path), 0, 'no descriptor is left open on the refused file');
});
