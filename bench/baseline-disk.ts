import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nowMs } from './stats';

/**
 * What one durable append costs on this machine's temp file system, where
 * the benchmark nodes keep their logs: a write of a message-sized record
 * and its fsync, nothing else. Every send waits for one (outbox), every
 * receipt for another (inbox).
 */
export function fsyncTimes(count: number, recordBytes: number): number[] {
  const dir = mkdtempSync(join(tmpdir(), 'p2p-comm-bench-disk-'));
  const fd = openSync(join(dir, 'append.log'), 'a');
  const record = Buffer.alloc(recordBytes, 0x61);
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i += 1) {
      const start = nowMs();
      writeSync(fd, record);
      fsyncSync(fd);
      times.push(nowMs() - start);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  return times;
}
