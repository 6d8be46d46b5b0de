import t from 'tap';
import { ChannelDrain } from '../../extension/store/channel-drain';

/** A drain whose runs the test ends one by one, recording which peer each run was for. */
function controlledDrain() {
  const runs: { peer: string; finish: (error?: Error) => void }[] = [];
  const failures: string[] = [];
  const drain = new ChannelDrain(
    (peer) =>
      new Promise<void>((resolve, reject) => {
        runs.push({ peer, finish: (error) => (error === undefined ? resolve() : reject(error)) });
      }),
    (peer, error) => failures.push(`${peer}: ${error.message}`),
  );
  return { drain, runs, failures };
}

t.test('one run per peer at a time; messages stored meanwhile make it run exactly once more', async (t) => {
  const { drain, runs } = controlledDrain();
  drain.schedule('a');
  drain.schedule('b');
  drain.schedule('a');
  drain.schedule('a');
  t.same(runs.map((run) => run.peer), ['a', 'b'], 'a second run of a waits for the first');
  runs[0]?.finish();
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.same(runs.map((run) => run.peer), ['a', 'b', 'a'], 'one more run for the two messages stored during the first');
  t.ok(drain.busy);
  runs[1]?.finish();
  runs[2]?.finish();
  await drain.whenIdle();
  t.notOk(drain.busy);
  t.equal(runs.length, 3);
});

t.test('a failed run is reported, and the peer can be read again', async (t) => {
  const { drain, runs, failures } = controlledDrain();
  drain.schedule('a');
  runs[0]?.finish(new Error('disk gone'));
  await drain.whenIdle();
  t.same(failures, ['a: disk gone']);
  drain.schedule('a');
  t.equal(runs.length, 2, 'the next message starts a new run');
  runs[1]?.finish();
  await drain.whenIdle();
});

t.test('close waits for the runs under way and starts none after', async (t) => {
  const { drain, runs } = controlledDrain();
  drain.schedule('a');
  drain.schedule('a');
  let closed = false;
  const closing = drain.close().then(() => (closed = true));
  drain.schedule('b');
  t.same(runs.map((run) => run.peer), ['a'], 'nothing new starts once closing');
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.notOk(closed, 'close waits for the run under way');
  runs[0]?.finish();
  await closing;
  t.equal(runs.length, 1, 'the run asked for again is dropped: the channel is read at the next start');
});
