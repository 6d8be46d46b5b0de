import { readFileSync } from 'node:fs';
import { RECORD_HEADER_BYTES, RECORD_LOG_MAGIC } from '../../extension/store/record-log';

/**
 * Where the records of a log file end: a log that is open runs ahead of its
 * records with zeros (room for the next writes), so the file's size is not
 * the size of what it holds. Read by the format alone: header after header
 * until a header of zeros or the end of the file.
 */
export function recordsEndOf(path: string): number {
  const content = readFileSync(path);
  let offset = RECORD_LOG_MAGIC.length;
  while (offset + RECORD_HEADER_BYTES <= content.length) {
    const length = content.readUInt32BE(offset);
    if (length === 0) break;
    offset += RECORD_HEADER_BYTES + length;
  }
  return Math.min(offset, content.length);
}
