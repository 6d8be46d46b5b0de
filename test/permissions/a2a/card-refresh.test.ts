import { once } from 'node:events';
import { createServer } from 'node:http';
import t from 'tap';
import { CardRefresh } from '../../../permissions/a2a/card-refresh';
import type { GateVerdict } from '../../../permissions/gate/types';
import { eventually } from '../../helpers/node';

const AGENT = { plugin: 'planner', secret: 'planner-secret-0123456789', url: 'http://127.0.0.1:41241/' };

/** An agent whose card the test changes, and the calls the refresh made of the gate and the extension. */
function setUp(verdict: GateVerdict = { allowed: true }) {
  let card: Record<string, unknown> = { name: 'Planner', capabilities: { streaming: true }, supportedInterfaces: [{ url: 'http://127.0.0.1:41242/rpc', protocolBinding: 'JSONRPC' }] };
  const read: string[] = [];
  const gated: unknown[][] = [];
  const executed: unknown[][] = [];
  const warnings: string[] = [];
  const refresh = new CardRefresh({
    gate: {
      check: async (...args) => {
        gated.push(args);
        return verdict;
      },
    },
    execute: async (...args) => {
      executed.push(args);
      return { result: { data: {} } };
    },
    fetch: async (url) => {
      read.push(String(url));
      return new Response(JSON.stringify(card), { headers: { 'content-type': 'application/json' } });
    },
    warn: (line) => warnings.push(line),
  });
  return { refresh, read, gated, executed, warnings, setCard: (next: Record<string, unknown>) => (card = next) };
}

t.test('the card is published through the gate when it changed, not again when it did not; withdrawn when no agent is declared', async (t) => {
  const { refresh, read, gated, executed, setCard } = setUp();
  t.equal(refresh.endpoint(AGENT), AGENT.url, 'the declared url until the card is read');
  await refresh.refresh(AGENT);
  t.same(read, ['http://127.0.0.1:41241/.well-known/agent-card.json']);
  t.equal(gated.length, 1);
  t.match(gated[0], ['planner', 'a2a_set_card', { card: { name: 'Planner' } }]);
  t.match(executed, [['a2a_set_card', { card: { name: 'Planner' } }]]);
  t.equal(refresh.endpoint(AGENT), 'http://127.0.0.1:41242/rpc', "the card's loopback JSONRPC interface");
  t.equal(refresh.streams(AGENT), true);

  await refresh.refresh(AGENT);
  t.equal(read.length, 2, 'read again');
  t.equal(executed.length, 1, 'the same card is not published again');

  setCard({ name: 'Planner 2', supportedInterfaces: [{ url: 'https://example.org/rpc', protocolBinding: 'JSONRPC' }] });
  await refresh.refresh(AGENT);
  t.equal(executed.length, 2, 'a changed card is');
  t.equal(refresh.endpoint(AGENT), AGENT.url, 'an interface off this machine is never used');
  t.equal(refresh.streams(AGENT), false);

  await refresh.refresh(undefined);
  t.same(executed.at(-1), ['a2a_set_card', { card: null }], 'withdrawn with its declaration');
  t.equal(gated.length, 2, 'the host withdraws without asking');
});

t.test('a plugin the gate refuses publishes nothing; the person is not asked again about the same card, the warning is given once', async (t) => {
  const { refresh, gated, executed, warnings, setCard } = setUp({ allowed: false, status: 403, error: 'Permission denied', details: 'no a2a_set_card' });
  await refresh.refresh(AGENT);
  await refresh.refresh(AGENT);
  t.equal(executed.length, 0);
  t.equal(gated.length, 1, 'the refused card is not asked about at every refresh');
  setCard({ name: 'Planner 2' });
  await refresh.refresh(AGENT);
  t.equal(gated.length, 2, 'a changed card is asked about');
  t.same(warnings, ['a2a: plugin planner may not set the agent card (Permission denied: no a2a_set_card); its agent is not published']);
});

t.test('with nothing declared, the first refresh withdraws what an earlier run may have left, later ones send nothing', async (t) => {
  const { refresh, executed, gated } = setUp();
  await refresh.refresh(undefined);
  await refresh.refresh(undefined);
  t.same(executed, [['a2a_set_card', { card: null }]]);
  t.equal(gated.length, 0);
  await refresh.refresh(AGENT);
  await refresh.refresh(undefined);
  t.same(executed.at(-1), ['a2a_set_card', { card: null }], 'a card published since is withdrawn again');
  t.equal(executed.length, 3);
});

t.test('a refused card does not set where requests go; a published or unchanged one does', async (t) => {
  let verdict: GateVerdict = { allowed: true };
  let card: Record<string, unknown> = { name: 'Planner', supportedInterfaces: [{ url: 'http://127.0.0.1:41242/rpc', protocolBinding: 'JSONRPC' }] };
  const refresh = new CardRefresh({
    gate: { check: async () => verdict },
    execute: async () => ({ result: { data: {} } }),
    fetch: async () => new Response(JSON.stringify(card)),
    warn: () => undefined,
  });
  await refresh.refresh(AGENT);
  t.equal(refresh.endpoint(AGENT), 'http://127.0.0.1:41242/rpc');
  verdict = { allowed: false, status: 403, error: 'Permission denied', details: null };
  card = { name: 'Elsewhere', supportedInterfaces: [{ url: 'http://127.0.0.1:9999/other', protocolBinding: 'JSONRPC' }] };
  await refresh.refresh(AGENT);
  t.equal(refresh.endpoint(AGENT), 'http://127.0.0.1:41242/rpc', 'still the published card’s endpoint');
});

t.test('a card naming localhost is POSTed to 127.0.0.1 at its port and path; a name is never resolved', async (t) => {
  const { refresh, setCard } = setUp();
  setCard({ name: 'Sample', supportedInterfaces: [{ url: 'http://localhost:41242/a2a/jsonrpc', protocolBinding: 'JSONRPC' }] });
  await refresh.refresh(AGENT);
  t.equal(refresh.endpoint(AGENT), 'http://127.0.0.1:41242/a2a/jsonrpc');
  setCard({ name: 'Named', supportedInterfaces: [{ url: 'http://my-laptop.local:41242/', protocolBinding: 'JSONRPC' }] });
  await refresh.refresh(AGENT);
  t.equal(refresh.endpoint(AGENT), AGENT.url, 'another name is not used');
});

t.test('the card read follows no redirect and stops at the size limit', async (t) => {
  const hits: string[] = [];
  const server = createServer((request, response) => {
    hits.push(request.url ?? '');
    if (request.url === '/redirect/.well-known/agent-card.json') {
      response.writeHead(307, { location: '/elsewhere' });
      response.end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    // Endless: only the limit ends the read.
    const write = (): void => {
      while (response.write('x'.repeat(65536)));
      response.once('drain', write);
    };
    write();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  const warnings: string[] = [];
  const refresh = new CardRefresh({ gate: { check: async () => ({ allowed: true }) }, execute: async () => ({ result: {} }), warn: (line) => warnings.push(line) });
  await refresh.refresh({ ...AGENT, url: `${base}redirect/` });
  t.same(hits, ['/redirect/.well-known/agent-card.json'], 'the redirect is not followed');
  t.match(warnings, [/could not be read from .*: fetch failed/]);
  await refresh.refresh({ ...AGENT, url: base });
  t.match(warnings.at(-1), /the card is longer than 262144 characters/);
});

t.test('a card read or dialog under way ends when the host stops', async (t) => {
  const stop = new AbortController();
  let gateSignal: AbortSignal | undefined;
  const refresh = new CardRefresh({
    gate: {
      check: (_plugin, _operation, _input, signal) => {
        gateSignal = signal;
        return new Promise((resolve) => signal?.addEventListener('abort', () => resolve({ allowed: false, status: 403, error: 'abandoned', details: null })));
      },
    },
    execute: async () => {
      t.fail('nothing set');
      return {};
    },
    fetch: async () => new Response(JSON.stringify({ name: 'Planner' })),
    warn: (line) => t.fail(line),
    signal: stop.signal,
  });
  const done = refresh.refresh(AGENT);
  await eventually(async () => gateSignal !== undefined, 'the dialog');
  stop.abort();
  await done;
  t.equal(gateSignal, stop.signal);

  const stopRead = new AbortController();
  let fetchSignal: AbortSignal | undefined;
  const reading = new CardRefresh({
    gate: { check: async () => ({ allowed: true }) },
    execute: async () => ({}),
    fetch: (_url, init) => {
      fetchSignal = init?.signal ?? undefined;
      return new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    },
    warn: (line) => t.fail(line),
    signal: stopRead.signal,
  });
  const read = reading.refresh(AGENT);
  await eventually(async () => fetchSignal !== undefined, 'the read under way');
  stopRead.abort();
  await read;
  t.equal(fetchSignal?.aborted, true, 'the read ends with the stop signal, silently');
});
