import { PassThrough } from 'node:stream';
import t from 'tap';
import { DEFAULT_STDIO_LIMITS, type StdioLimits } from '../../extension/config';
import { P2pError } from '../../extension/common/errors';
import { EventOutbox } from '../../extension/events/outbox';
import type { ExtensionApp, OperationOutcome } from '../../extension/host/protocol';
import { HostSession } from '../../extension/host/session';
import { RefusalCounters } from '../../extension/metrics/refusals';
import { LineSplitter } from '../../permissions/host/line-splitter';
import { AsyncQueue } from '../helpers/async-queue';
import { eventually } from '../helpers/node';

interface Harness {
  send(message: object): void;
  next(): Promise<Record<string, unknown>>;
  exited: Promise<number>;
  events: string[];
  outbox: EventOutbox;
}

function harness(app: Partial<ExtensionApp>, limits: Partial<StdioLimits> = {}): Harness {
  const input = new PassThrough();
  const output = new PassThrough();
  const events: string[] = [];
  const outbox = new EventOutbox({ maxQueued: 10, maxQueuedSecurity: 10, tallyIntervalMs: 1000 });
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => {
    exit = resolve;
  });
  const lines = new AsyncQueue<string>();
  const splitter = new LineSplitter();
  output.on('data', (chunk: Buffer) =>
    splitter.push(chunk, (line) => {
      events.push('line');
      lines.push(line);
    }),
  );
  const fullApp: ExtensionApp = {
    initialize: async () => ({ extension_id: 'p2p-comm', version: 'test', data_dir: '/tmp/x' }),
    start: () => events.push('start'),
    execute: async () => ({ data: {}, message: null }),
    resource: async () => ({ data: {}, message: null }),
    onHostEvent: () => undefined,
    close: async () => undefined,
    ...app,
  };
  new HostSession({
    input,
    output,
    app: fullApp,
    outbox,
    refusals: new RefusalCounters(),
    logger: { debug() {}, info() {}, warn() {}, error() {}, release: () => events.push('release') },
    limits: { ...DEFAULT_STDIO_LIMITS, ...limits },
    exit,
  }).start();
  return {
    send: (message) => input.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`),
    next: async () => JSON.parse(await lines.next()) as Record<string, unknown>,
    exited,
    events,
    outbox,
  };
}

async function initialized(app: Partial<ExtensionApp>, limits: Partial<StdioLimits> = {}): Promise<Harness> {
  const h = harness(app, limits);
  h.send({ id: 0, method: 'initialize', params: {} });
  await h.next();
  return h;
}

t.test('stderr is released and slow start-up begins only after the initialize answer', async (t) => {
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const h = harness({
    start: () => {
      h.events.push('start');
      markStarted();
    },
  });
  h.send({ id: 0, method: 'initialize', params: { data_dir: '/tmp/x' } });
  t.match(await h.next(), { id: 0, result: { extension_id: 'p2p-comm' } });
  await started;
  t.same(h.events, ['line', 'release', 'start']);
});

t.test('an unexpected exception becomes INTERNAL_ERROR with its message', async (t) => {
  const h = await initialized({
    execute: async () => {
      throw new Error('boom');
    },
  });
  h.send({ id: 1, method: 'execute', params: { operation: 'status', input: {} } });
  t.match(await h.next(), { id: 1, error: { code: -32603, message: 'internal_error: execute failed unexpectedly: boom', data: { error: 'internal_error' } } });
});

t.test('a P2pError keeps its code and data, and its code name leads the message text', async (t) => {
  const h = await initialized({
    execute: async () => {
      throw new P2pError('NOT_FOUND', 'no pending request 00ff; list them with the requests operation', { path: '/request_id' });
    },
  });
  h.send({ id: 1, method: 'execute', params: { operation: 'accept', input: {} } });
  t.same(await h.next(), {
    jsonrpc: '2.0',
    id: 1,
    error: {
      code: -32013,
      message: 'not_found: no pending request 00ff; list them with the requests operation',
      data: { error: 'not_found', details: { path: '/request_id' } },
    },
  });
});

t.test('a message quoting an unpaired surrogate is answered well formed', async (t) => {
  const h = await initialized({
    execute: async () => {
      throw new P2pError('INVALID_INPUT', 'unexpected field "\ud800"');
    },
  });
  h.send({ id: 1, method: 'execute', params: { operation: 'status', input: {} } });
  t.match(await h.next(), { id: 1, error: { message: 'invalid_input: unexpected field "\ufffd"' } });
});

t.test('data is always present in an execute result', async (t) => {
  const h = await initialized({ execute: async () => ({ data: undefined, message: null }) as unknown as OperationOutcome });
  h.send({ id: 1, method: 'execute', params: { operation: 'status', input: {} } });
  t.same(await h.next(), { jsonrpc: '2.0', id: 1, result: { success: true, data: null, message: null } });
});

t.test('the answer waits for no event.publish reply; a host that never replies is counted once the timeout passes', async (t) => {
  let outbox!: EventOutbox;
  const h = await initialized(
    {
      execute: async () => {
        outbox.enqueue({ type: 'p2p.test', data: {} });
        return { data: 1, message: null };
      },
    },
    { publishTimeoutMs: 20 },
  );
  outbox = h.outbox;
  h.send({ id: 1, method: 'execute', params: { operation: 'status', input: {} } });
  t.match(await h.next(), { method: 'event.publish', params: { type: 'p2p.test' } });
  t.match(await h.next(), { id: 1, result: { success: true, data: 1 } });
  t.match(h.outbox.stats(), { queued: 0, published: 0, failed: 0 }, 'answered before the reply or its timeout');
  await eventually(async () => h.outbox.stats().failed === 1, 'the publish to time out');
  t.match(h.outbox.stats(), { queued: 0, published: 0, dropped: 0, failed: 1 });
});

t.test('events queued before an execute are published while its operation runs, and the answer does not wait for their replies', async (t) => {
  let finishOperation!: () => void;
  const operationStarted = new AsyncQueue<void>();
  const h = await initialized({
    execute: async () => {
      operationStarted.push();
      await new Promise<void>((resolve) => {
        finishOperation = resolve;
      });
      return { data: 'sent', message: null };
    },
  });
  h.outbox.enqueue({ type: 'p2p.earlier', data: {} });
  h.send({ id: 1, method: 'execute', params: { operation: 'send', input: {} } });
  await operationStarted.next();
  const publish = await h.next();
  t.match(publish, { method: 'event.publish', params: { type: 'p2p.earlier' } }, 'written while the operation still runs');
  finishOperation();
  t.match(await h.next(), { id: 1, result: { success: true, data: 'sent' } }, 'answered with the publish still unanswered');
  h.send({ id: publish['id'], result: null });
  await eventually(async () => h.outbox.stats().published === 1, 'the reply to count');
});

t.test('resources.<verb> reaches the app with its verb and params, answered as an execute is, with queued events before the answer', async (t) => {
  const calls: [string, unknown][] = [];
  const h = await initialized({
    resource: async (verb, params) => {
      calls.push([verb, params]);
      return { data: { items: [], total: 0 }, message: null };
    },
  });
  h.outbox.enqueue({ type: 'p2p.peer.request', data: {} });
  h.send({ id: 1, method: 'resources.list', params: { resource_type: 'peers', page: 2 } });
  t.match(await h.next(), { method: 'event.publish', params: { type: 'p2p.peer.request' } }, 'an event goes out while Nexus reads');
  t.same(await h.next(), { jsonrpc: '2.0', id: 1, result: { success: true, data: { items: [], total: 0 }, message: null } });
  t.same(calls, [['list', { resource_type: 'peers', page: 2 }]]);
});

t.test('resources.* before initialize is refused as not initialized', async (t) => {
  const h = harness({});
  h.send({ id: 1, method: 'resources.list', params: { resource_type: 'peers' } });
  t.match(await h.next(), { id: 1, error: { code: -32002, message: /^not_initialized: "resources\.list" arrived before initialize/ } });
});

t.test('at most maxEventsPerCall publishes are unanswered at a time: a host that stops replying stops getting more', async (t) => {
  const h = await initialized({}, { maxEventsPerCall: 2 });
  for (let n = 0; n < 5; n += 1) h.outbox.enqueue({ type: 'p2p.test', data: { n } });
  h.send({ id: 1, method: 'execute', params: { operation: 'status', input: {} } });
  const first = [await h.next(), await h.next()];
  t.match(first, [{ method: 'event.publish' }, { method: 'event.publish' }]);
  t.match(await h.next(), { id: 1, result: { success: true } });
  h.send({ id: 2, method: 'execute', params: { operation: 'status', input: {} } });
  t.match(await h.next(), { id: 2, result: { success: true } }, 'no publish while two are unanswered');
  for (const request of first) h.send({ id: request['id'], result: null });
  await eventually(async () => h.outbox.stats().published === 2, 'the replies to count');
  h.send({ id: 3, method: 'execute', params: { operation: 'status', input: {} } });
  const second = [await h.next(), await h.next()];
  t.match([...second, await h.next()], [{ method: 'event.publish' }, { method: 'event.publish' }, { id: 3 }]);
  for (const request of second) h.send({ id: request['id'], result: null });
  await eventually(async () => h.outbox.stats().published === 4, 'the replies to count');
});

t.test('shutdown exits after the deadline when clean-up hangs', async (t) => {
  const h = await initialized({ close: () => new Promise<void>(() => undefined) }, { shutdownDeadlineMs: 20 });
  h.send({ id: 1, method: 'shutdown' });
  t.same(await h.next(), { jsonrpc: '2.0', id: 1, result: null });
  t.equal(await h.exited, 0);
});

t.test('requests after shutdown are refused as shutting down', async (t) => {
  const h = await initialized({ close: () => new Promise<void>(() => undefined) }, { shutdownDeadlineMs: 1000 });
  h.send({ id: 1, method: 'shutdown' });
  h.send({ id: 2, method: 'execute', params: { operation: 'status', input: {} } });
  await h.next();
  t.match(await h.next(), { id: 2, error: { code: -32004 } });
});

t.test('an execute publishes at most maxEventsPerCall events; the rest wait for the next call', async (t) => {
  let outbox!: EventOutbox;
  const h = await initialized(
    {
      execute: async () => {
        for (let n = 0; n < 5; n += 1) outbox.enqueue({ type: 'p2p.test', data: { n } });
        return { data: 1, message: null };
      },
    },
    { maxEventsPerCall: 2 },
  );
  outbox = h.outbox;
  const publishedBefore = async (id: number): Promise<unknown[]> => {
    const published: unknown[] = [];
    for (;;) {
      const line = await h.next();
      if (line['id'] === id && 'result' in line) return published;
      if (line['method'] === 'event.publish') {
        published.push((line['params'] as { data: { n: number } }).data.n);
        h.send({ id: line['id'], result: null });
      }
    }
  };
  h.send({ id: 1, method: 'execute', params: { operation: 'status', input: {} } });
  t.same(await publishedBefore(1), [0, 1], 'the first call carries two events');
  t.equal(h.outbox.stats().queued, 3, 'three wait');
  h.send({ id: 2, method: 'execute', params: { operation: 'status', input: {} } });
  t.same(await publishedBefore(2), [2, 3], 'the next call carries the next two (its own five join the end of the line)');
});
