import t from 'tap';
import { PerPeerLock } from '../../extension/files/per-peer-lock';

/** A piece of work that runs until the test releases it, noting when it starts. */
function held(log: string[], name: string) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  return { release, work: async () => { log.push(`start ${name}`); await released; log.push(`end ${name}`); return name; } };
}

t.test("one peer's work runs one piece after another, also after a failure; other peers do not wait", async (t) => {
  const lock = new PerPeerLock();
  const log: string[] = [];
  const first = held(log, 'a1');
  const a1 = lock.run('a', first.work);
  const a2 = lock.run('a', async () => {
    log.push('start a2');
    throw new Error('a2 failed');
  });
  const a3 = lock.run('a', async () => {
    log.push('start a3');
    return 'a3';
  });
  const b1 = lock.run('b', async () => {
    log.push('start b1');
    return 'b1';
  });
  t.equal(await b1, 'b1', "another peer's work is not held by a's");
  t.same(log, ['start a1', 'start b1'], 'a2 waits for a1');
  first.release();
  t.equal(await a1, 'a1');
  await t.rejects(a2, { message: 'a2 failed' });
  t.equal(await a3, 'a3', 'a failure does not stop the work after it');
  t.same(log, ['start a1', 'start b1', 'end a1', 'start a2', 'start a3']);
});
