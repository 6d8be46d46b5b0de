import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import t from 'tap';
import { UpdateStreams } from '../../../permissions/page/update-streams';

/** Just what a stream is written through, recording it. */
class FakeResponse extends EventEmitter {
  readonly written: string[] = [];
  ended = false;
  writeHead(): this {
    return this;
  }
  write(chunk: string): boolean {
    this.written.push(chunk);
    const listener = this.onWrite;
    this.onWrite = undefined;
    listener?.();
    return true;
  }
  end(): this {
    this.ended = true;
    return this;
  }
  onWrite: (() => void) | undefined;
  /** The next write, awaited. */
  nextWrite(): Promise<void> {
    return new Promise((resolve) => (this.onWrite = resolve));
  }
}

const CHANGE = 'event: change\ndata: \n\n';

// The throttle's timer does not keep a process alive (a host that stops must exit): the tests keep theirs alive while they wait.
const keepAlive = setInterval(() => undefined, 60_000);
t.teardown(() => clearInterval(keepAlive));

function streams(options: { minChangeIntervalMs?: number; maxStreams?: number; live?: Set<string> } = {}) {
  let now = 1_000_000;
  const live = options.live ?? new Set(['s1', 's2']);
  const updates = new UpdateStreams({ ...options, sessionLive: (id) => live.has(id), now: () => now });
  const open = (session = 's1'): FakeResponse => {
    const response = new FakeResponse();
    updates.open(response as unknown as ServerResponse, session);
    return response;
  };
  return { updates, open, live, advance: (ms: number) => (now += ms) };
}

t.test('the first change is told at once; changes within the interval are told together, once, when it has passed', async (t) => {
  const { updates, open, advance } = streams({ minChangeIntervalMs: 30 });
  const page = open();
  t.same(page.written, [': connected\n\n']);
  updates.changed();
  t.same(page.written.slice(1), [CHANGE], 'at once');
  const later = page.nextWrite();
  updates.changed();
  updates.changed();
  updates.changed();
  t.same(page.written.slice(1), [CHANGE], 'held back within the interval');
  advance(30);
  await later;
  t.same(page.written.slice(1), [CHANGE, CHANGE], 'three changes told as one');
});

t.test('nothing is scheduled while no page is open', async (t) => {
  const { updates, open } = streams({ minChangeIntervalMs: 60_000 });
  updates.changed();
  const page = open();
  updates.changed();
  t.same(page.written.slice(1), [CHANGE], 'the change with no page open set no clock running');
});

t.test('limits, closing, logging out and expiry', async (t) => {
  const { updates, open, live } = streams({ maxStreams: 2, minChangeIntervalMs: 0 });
  t.equal(updates.limit, 2);
  const first = open('s1');
  const second = open('s2');
  t.ok(updates.full);
  first.emit('close');
  t.notOk(updates.full, 'a closed stream frees its place');
  const third = open('s1');
  updates.endSession('s1');
  t.ok(third.ended, 'logging out ends the session\'s streams');
  t.notOk(second.ended, 'not another session\'s');
  live.delete('s2');
  updates.changed();
  t.ok(second.ended, 'an expired session\'s stream is ended at the next change');
  t.same(second.written, [': connected\n\n'], 'and told nothing more');
});
