import { fstatSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { SharedDescriptor } from '../../extension/store/shared-descriptor';
import { tempDir } from '../helpers/extension';

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

function openedFile(dir: string): number {
  const path = join(dir, 'file');
  writeFileSync(path, 'content');
  return openSync(path, 'r');
}

t.test('a retired descriptor stays open until the last read that borrowed it is done, then closes', async (t) => {
  const shared = new SharedDescriptor(openedFile(tempDir(t)));
  const finish: (() => void)[] = [];
  const reads = [1, 2].map((n) => shared.borrow((fd) => new Promise<number>((resolve) => finish.push(() => resolve(fd + n)))));
  let closed = false;
  const retired = shared.retire().then(() => {
    closed = true;
  });
  t.equal(shared.retire(), shared.retire(), 'retired once');
  await t.rejects(shared.borrow(async () => 0), /is retired/, 'no read starts on a retired descriptor');
  finish[0]?.();
  t.equal(await reads[0], shared.fd + 1);
  t.ok(isOpen(shared.fd) && !closed, 'still held by the other read');
  finish[1]?.();
  t.equal(await reads[1], shared.fd + 2);
  await retired;
  t.notOk(isOpen(shared.fd), 'closed after the last read');
});

t.test('a read that fails releases the descriptor too; one retired while idle closes at once', async (t) => {
  const shared = new SharedDescriptor(openedFile(tempDir(t)));
  await t.rejects(
    shared.borrow(async () => {
      throw new Error('EIO');
    }),
    /EIO/,
  );
  await shared.retire();
  t.notOk(isOpen(shared.fd));
});
