import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import { AnswerSignals } from '../../../permissions/a2a/answer-signals';
import type { IntervalTimer } from '../../../permissions/a2a/answer-stream';
import { PeerCards } from '../../../permissions/a2a/peer-cards';
import { PeerAgentRoutes, type PeerAgentOptions } from '../../../permissions/a2a/peer-agent-routes';
import type { GateVerdict, PluginDeclaration } from '../../../permissions/gate/types';
import { EventHub } from '../../../permissions/http/event-hub';
import { HostApi, type ExecutionOutcome } from '../../../permissions/http/host-api';
import { TokenStore } from '../../../permissions/http/tokens';
import { MessageArrivals } from '../../../permissions/mcp/message-arrivals';
import { MEETING_CARD } from '../../helpers/a2a-pull-agent';
import { eventually } from '../../helpers/node';

const PLUGIN: PluginDeclaration = { id: 'caller', secret: 'caller-secret-0123456789', extensions: { 'p2p-comm': ['send'] } };
const PEER = 'a'.repeat(51) + 'q';
const STRANGER = 'b'.repeat(51) + 'q';
const REQUEST_ID = 'f'.repeat(32);

const PEER_CARD = {
  ...MEETING_CARD,
  supportedInterfaces: [{ url: `p2p-comm://${PEER}`, protocolBinding: 'urn:p2p-comm:a2a:v1', protocolVersion: '1.0' }],
  signatures: [{ protected: 'x', signature: 'y' }],
};

interface Answer {
  seq: number;
  kind: 'event' | 'result' | 'error' | 'end';
  body: unknown;
}

/** Keepalive ticks the test fires itself. */
class ManualIntervals implements IntervalTimer {
  readonly ticks = new Set<() => void>();
  start(_every: number, tick: () => void): () => void {
    this.ticks.add(tick);
    return () => this.ticks.delete(tick);
  }
  fire(): void {
    for (const tick of this.ticks) tick();
  }
}

interface Harness {
  base: string;
  token: string;
  signals: AnswerSignals;
  intervals: ManualIntervals;
  executed: { operation: string; input: any }[];
  gateCalls: { operation: string; input: any; signal: AbortSignal | undefined }[];
  /** What the peer has answered so far, as a2a_task shows it. */
  answers: Answer[];
  state: { value: string };
  /** Verdict of the gate; a promise holds the call in a "dialog". */
  verdict: { next: (input: any) => GateVerdict | Promise<GateVerdict> };
  hurries: { active: number; taken: number };
  cards: PeerCards;
  /** What `peers` lists. */
  peers: { list: { peer: string; state: string; agent_card: unknown }[] };
  /** Set: a2a_task is refused, as by an extension restarting. */
  taskRefusal: { message: string | undefined };
  /** Run before each a2a_task read, with how many came before it. */
  beforeRead: { hook: (earlier: number) => void };
  rpc(body: unknown, headers?: Record<string, string>, path?: string): Promise<Response>;
}

async function startApi(t: Test, options: PeerAgentOptions = {}): Promise<Harness> {
  const signals = new AnswerSignals();
  const intervals = new ManualIntervals();
  const executed: Harness['executed'] = [];
  const gateCalls: Harness['gateCalls'] = [];
  const answers: Answer[] = [];
  const state = { value: 'queued' };
  const verdict: Harness['verdict'] = { next: () => ({ allowed: true }) };
  const hurries = { active: 0, taken: 0 };
  const beforeRead: Harness['beforeRead'] = { hook: () => undefined };
  const peers: Harness['peers'] = { list: [{ peer: PEER, state: 'trusted', agent_card: PEER_CARD }] };
  const taskRefusal: Harness['taskRefusal'] = { message: undefined };
  const execute = async (operation: string, input: any): Promise<ExecutionOutcome> => {
    executed.push({ operation, input });
    if (operation === 'peers') return { result: { data: { peers: structuredClone(peers.list) } } };
    if (operation === 'a2a_send') {
      if (input.peer !== PEER) return { error: { message: 'not_found: not paired', data: { error: 'not_found' } } };
      return { result: { data: { peer: PEER, request_id: REQUEST_ID, state: 'queued', reattached: false } } };
    }
    if (operation === 'a2a_task') {
      if (taskRefusal.message !== undefined) return { error: { message: taskRefusal.message, data: { error: 'extension_unavailable' } } };
      beforeRead.hook(executed.filter((call) => call.operation === 'a2a_task').length - 1);
      const after = input.after as number;
      const shown = answers.filter((answer) => answer.seq > after);
      const ended = answers.some((answer) => answer.kind !== 'event') && shown.length > 0 ? true : answers.some((answer) => answer.kind !== 'event') && after >= answers.length - 1;
      return { result: { data: { state: state.value, reason: state.value === 'failed' ? 'revoked' : null, task: null, answers: shown, next: shown.at(-1)?.seq ?? after, ended } } };
    }
    return { error: { message: `unexpected ${operation}` } };
  };
  const gate = {
    check: async (_plugin: string, operation: string, input: unknown, signal?: AbortSignal) => {
      gateCalls.push({ operation, input, signal });
      return verdict.next(input);
    },
  };
  const cards = new PeerCards(() => execute('peers', {}));
  const api = new HostApi(
    {
      plugins: new Map([[PLUGIN.id, PLUGIN]]),
      tokens: new TokenStore({ ttlMs: 60_000 }),
      gate,
      execute,
      extension: { id: 'p2p-comm', display_name: 'P2P Comm', description: '', operations: [{ name: 'send' }] },
      events: new EventHub({ extensionId: 'p2p-comm' }),
      permissions: { isActive: () => true, scopeApproved: () => true, scopeDenied: () => false },
      arrivals: new MessageArrivals(),
      a2a: {
        signals,
        hurry: () => {
          hurries.active += 1;
          hurries.taken += 1;
          let released = false;
          return () => {
            if (!released) hurries.active -= 1;
            released = true;
          };
        },
        cards,
      },
    },
    { a2a: { intervals, ...options } },
  );
  const { host, port } = await api.listen();
  t.teardown(() => api.close());
  const base = `http://${host}:${port}`;
  const tokenResponse = await fetch(`${base}/api/v1/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ plugin_id: PLUGIN.id, secret: PLUGIN.secret }) });
  const token = ((await tokenResponse.json()) as { access_token: string }).access_token;
  return {
    base,
    token,
    signals,
    intervals,
    executed,
    gateCalls,
    answers,
    state,
    verdict,
    hurries,
    cards,
    peers,
    taskRefusal,
    beforeRead,
    rpc: (body, headers = {}, path = `/a2a/${PEER}/`) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers }, body: JSON.stringify(body) }),
  };
}

const rpc = (method: string, params: Record<string, unknown>) => ({ jsonrpc: '2.0', id: 11, method, params });
const message = { message: { messageId: 'm-1', role: 'ROLE_USER', parts: [{ text: 'plan a meeting' }] } };
const sent = (api: Harness) => api.executed.filter((call) => call.operation === 'a2a_send');

t.test('the card: public, derived from the peer card, for paired peers only', async (t) => {
  const api = await startApi(t);
  const response = await fetch(`${api.base}/a2a/${PEER}/.well-known/agent-card.json`);
  t.equal(response.status, 200, 'read without a token, as A2A clients do before they authenticate');
  const card = (await response.json()) as Record<string, any>;
  t.equal(card['name'], 'Meeting planner');
  t.same(card['supportedInterfaces'][0], { url: `${api.base}/a2a/${PEER}/`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' });
  t.notOk('signatures' in card);
  t.same(api.gateCalls, [], 'reading a card asks nobody');

  const stranger = await fetch(`${api.base}/a2a/${STRANGER}/.well-known/agent-card.json`);
  t.equal(stranger.status, 404);
  t.match(await stranger.json(), { details: { code: 'not_paired' } });

  const browser = await fetch(`${api.base}/a2a/${PEER}/.well-known/agent-card.json`, { headers: { origin: 'https://evil.example' } });
  t.equal(browser.status, 403, 'a web page is refused, as on the rest of the Host API');
});

t.test('without a token: 401; the path without its trailing slash: 404 naming the right URL', async (t) => {
  const api = await startApi(t);
  const bare = await fetch(`${api.base}/a2a/${PEER}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rpc('SendMessage', message)) });
  t.equal(bare.status, 401);
  const slashless = await api.rpc(rpc('SendMessage', message), {}, `/a2a/${PEER}`);
  t.equal(slashless.status, 404);
  t.match(((await slashless.json()) as any).details.message, `${api.base}/a2a/${PEER}/`);
  const oneUp = await fetch(`${api.base}/a2a/.well-known/agent-card.json`);
  t.equal(oneUp.status, 404, 'where a client given the URL without the slash looks for the card');
  t.match(((await oneUp.json()) as any).details.message, /trailing slash/);
  const browser = await api.rpc(rpc('SendMessage', message), { origin: 'https://evil.example' });
  t.equal(browser.status, 403, 'a web page is refused as on the rest of the Host API');
  t.same(sent(api), []);
});

t.test('methods answered here never reach the gate or the peer', async (t) => {
  const api = await startApi(t);
  const cases: [unknown, Record<string, string>, number][] = [
    [rpc('CreateTaskPushNotificationConfig', { taskId: 't' }), {}, -32003],
    [rpc('GetExtendedAgentCard', {}), {}, -32007],
    [rpc('tasks/get', { id: 't' }), {}, -32601],
    [rpc('SendMessage', message), { 'a2a-version': '0.3' }, -32009],
    [{ id: 11, method: 'SendMessage' }, {}, -32600],
  ];
  for (const [body, headers, code] of cases) {
    const response = await api.rpc(body, headers);
    t.equal(response.status, 200);
    t.match(await response.json(), { jsonrpc: '2.0', id: 11, error: { code } }, String(code));
  }
  const garbled = await fetch(`${api.base}/a2a/${PEER}/`, { method: 'POST', headers: { authorization: `Bearer ${api.token}` }, body: '{"jsonrpc": "2.0", ' });
  t.equal(garbled.status, 200);
  t.same(await garbled.json(), { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error: the body is not valid JSON' } }, 'not JSON: -32700');
  t.same(api.gateCalls, []);
  t.same(sent(api), []);
});

t.test('no send permission, or the peer denied as scope: refused, nothing sent', async (t) => {
  const api = await startApi(t);
  api.verdict.next = () => ({ allowed: false, status: 403, error: 'Permission denied', details: "Plugin 'caller' lacks permission 'ext:p2p-comm:send'" });
  const refused = await api.rpc(rpc('SendMessage', message));
  t.equal(refused.status, 403);
  t.match(await refused.json(), { id: 11, error: { code: -32000, message: /lacks permission/ } });
  api.verdict.next = () => ({ allowed: false, status: 403, error: 'Scope approval denied', details: `User denied access to scope 'peer' = '${PEER}'` });
  const denied = await api.rpc(rpc('SendMessage', message));
  t.equal(denied.status, 403);
  t.match(await denied.json(), { error: { code: -32000, message: /Scope approval denied/ } });
  t.match(api.gateCalls, [
    { operation: 'send', input: { peer: PEER, type: 'json', content: rpc('SendMessage', message) } },
    { operation: 'send', input: { peer: PEER } },
  ]);
  t.same(sent(api), [], 'the gate refused: nothing reached the extension');
});

t.test('a blocking call waits for the answer event, then answers with the result', async (t) => {
  const api = await startApi(t);
  const pending = api.rpc(rpc('SendMessage', message), { 'a2a-extensions': 'urn:x' });
  await eventually(async () => api.executed.some((call) => call.operation === 'a2a_task'), 'the first read of the answers');
  t.equal(api.hurries.active, 1, 'the pump is hurried while the answer is awaited');
  t.match(sent(api), [{ input: { peer: PEER, request: { method: 'SendMessage', params: message }, a2a_extensions: 'urn:x' } }], 'gated as send, run as a2a_send');
  api.answers.push({ seq: 0, kind: 'result', body: { task: { id: 't-1', status: { state: 'TASK_STATE_COMPLETED' } } } });
  api.signals.event({ type: 'p2p.a2a.answer', data: { peer: PEER, request_id: REQUEST_ID, seq: 0, end: true } });
  const response = await pending;
  t.equal(response.status, 200);
  t.same(await response.json(), { jsonrpc: '2.0', id: 11, result: { task: { id: 't-1', status: { state: 'TASK_STATE_COMPLETED' } } } });
  t.equal(api.hurries.active, 0, 'released once answered');
});

t.test('no answer within the wait: -32060 PEER_OFFLINE while queued, ANSWER_PENDING once delivered, with the request id', async (t) => {
  const api = await startApi(t, { waitMs: 0 });
  const offline = await api.rpc(rpc('SendMessage', message));
  t.match(await offline.json(), { id: 11, error: { code: -32060, data: [{ reason: 'PEER_OFFLINE', domain: 'p2p-comm', metadata: { request_id: REQUEST_ID, peer: PEER } }] } });
  api.state.value = 'delivered';
  const pending = await api.rpc(rpc('SendMessage', message));
  t.match(await pending.json(), { error: { code: -32060, data: [{ reason: 'ANSWER_PENDING', metadata: { request_id: REQUEST_ID } }] } });
  api.state.value = 'failed';
  const revoked = await api.rpc(rpc('SendMessage', message));
  t.equal(revoked.status, 404);
  t.match(await revoked.json(), { error: { code: -32062, data: [{ reason: 'NOT_PAIRED' }] } });
  const stranger = await api.rpc(rpc('SendMessage', message), {}, `/a2a/${STRANGER}/`);
  t.equal(stranger.status, 404);
  t.match(await stranger.json(), { id: 11, error: { code: -32062 } }, 'not paired');
});

t.test('a stream: headers at once, one data line per event in seq order, keepalive comments, closed after the end marker', async (t) => {
  const api = await startApi(t);
  const response = await api.rpc(rpc('SendStreamingMessage', message), { accept: 'text/event-stream' });
  t.equal(response.status, 200);
  t.match(response.headers.get('content-type'), /^text\/event-stream/);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const readUntil = async (needle: string): Promise<void> => {
    while (!text.includes(needle)) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error(`stream ended before ${needle}: ${text}`);
      text += decoder.decode(chunk.value);
    }
  };
  await eventually(async () => api.intervals.ticks.size === 1, 'the keepalive');
  api.intervals.fire();
  await readUntil(': keepalive\n\n');
  api.answers.push({ seq: 0, kind: 'event', body: { task: { id: 't-1' } } }, { seq: 1, kind: 'event', body: { statusUpdate: { taskId: 't-1' } } });
  api.signals.event({ type: 'p2p.a2a.answer', data: { peer: PEER, request_id: REQUEST_ID, seq: 1, end: false } });
  await readUntil('statusUpdate');
  api.answers.push({ seq: 2, kind: 'end', body: null });
  api.signals.event({ type: 'p2p.a2a.answer', data: { peer: PEER, request_id: REQUEST_ID, seq: 2, end: true } });
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) break;
    text += decoder.decode(chunk.value);
  }
  t.equal(
    text,
    ': keepalive\n\n' +
      `data: ${JSON.stringify({ jsonrpc: '2.0', id: 11, result: { task: { id: 't-1' } } })}\n\n` +
      `data: ${JSON.stringify({ jsonrpc: '2.0', id: 11, result: { statusUpdate: { taskId: 't-1' } } })}\n\n`,
    'the events in order, then the stream closes',
  );
  t.equal(api.intervals.ticks.size, 0, 'the keepalive stopped');
});

t.test('a stream whose peer answers with an error: an error event', async (t) => {
  const api = await startApi(t);
  api.answers.push({ seq: 0, kind: 'error', body: { code: -32001, message: 'Task not found' } });
  const response = await api.rpc(rpc('SubscribeToTask', { id: 't-9' }));
  t.equal(await response.text(), `event: error\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 11, error: { code: -32001, message: 'Task not found' } })}\n\n`);
});

t.test('a client that leaves while the dialog is open: the call is not run', async (t) => {
  const api = await startApi(t);
  let answer!: (verdict: GateVerdict) => void;
  api.verdict.next = () => new Promise<GateVerdict>((resolve) => (answer = resolve));
  const leaving = new AbortController();
  const pending = fetch(`${api.base}/a2a/${PEER}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${api.token}` },
    body: JSON.stringify(rpc('SendMessage', message)),
    signal: leaving.signal,
  }).catch((error: unknown) => error);
  await eventually(async () => api.gateCalls.length === 1, 'the dialog');
  leaving.abort();
  await pending;
  await eventually(async () => api.gateCalls[0]?.signal?.aborted === true, 'the gate told the caller left');
  answer({ allowed: true });
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.same(sent(api), [], 'approved after the client left: nothing sent behind its back');
});

t.test('a stream with no event within its idle wait ends with -32060, naming the request', async (t) => {
  const api = await startApi(t, { streamIdleMs: 0 });
  api.state.value = 'delivered';
  const response = await api.rpc(rpc('SendStreamingMessage', message));
  const text = await response.text();
  t.match(text, /^event: error\ndata: /);
  t.match(JSON.parse(text.split('data: ')[1] as string), { id: 11, error: { code: -32060, data: [{ reason: 'ANSWER_PENDING', metadata: { request_id: REQUEST_ID } }] } });
  t.equal(api.intervals.ticks.size, 0, 'the keepalive stopped');
});

t.test('a pairing revoked while a call waits wakes it: -32062', async (t) => {
  const api = await startApi(t);
  const pending = api.rpc(rpc('SendMessage', message));
  await eventually(async () => api.executed.some((call) => call.operation === 'a2a_task'), 'the first read of the answers');
  api.signals.event({ type: 'p2p.peer.revoked', data: { peer: STRANGER } });
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.equal(api.executed.filter((call) => call.operation === 'a2a_task').length, 1, 'another peer’s revocation woke nothing');
  api.state.value = 'failed';
  api.signals.event({ type: 'p2p.peer.revoked', data: { peer: PEER } });
  const response = await pending;
  t.equal(response.status, 404);
  t.match(await response.json(), { error: { code: -32062, data: [{ reason: 'NOT_PAIRED', metadata: { request_id: REQUEST_ID, peer: PEER } }] } });
  t.equal(api.executed.filter((call) => call.operation === 'a2a_task').length, 2, 'this one’s did');
});

t.test('an answer recorded without an event heard is found by one more read when the wait ends', async (t) => {
  const api = await startApi(t, { waitMs: 0 });
  api.beforeRead.hook = (earlier) => {
    if (earlier === 1) api.answers.push({ seq: 0, kind: 'result', body: { task: { id: 't-late' } } });
  };
  const response = await api.rpc(rpc('SendMessage', message));
  t.same(await response.json(), { jsonrpc: '2.0', id: 11, result: { task: { id: 't-late' } } }, 'the answer, not -32060');
});

const cardUrl = (api: Harness, peer = PEER) => `${api.base}/a2a/${peer}/.well-known/agent-card.json`;
const peerListings = (api: Harness) => api.executed.filter((call) => call.operation === 'peers').length;

t.test('the card is kept from one listing of the peers, and listed again once an event says a peer changed', async (t) => {
  const api = await startApi(t);
  for (let read = 0; read < 10; read += 1) t.equal((await fetch(cardUrl(api))).status, 200);
  t.equal(peerListings(api), 1, 'ten reads, one extension call');

  api.peers.list = [{ peer: PEER, state: 'trusted', agent_card: { ...PEER_CARD, name: 'Meeting planner 2' } }];
  api.cards.event({ type: 'p2p.peer.card', data: { peer: PEER, name: 'Meeting planner 2' } });
  t.match(await (await fetch(cardUrl(api))).json(), { name: 'Meeting planner 2' }, 'the changed card');

  api.peers.list = [];
  api.cards.event({ type: 'p2p.peer.revoked', data: { peer: PEER } });
  const revoked = await fetch(cardUrl(api));
  t.equal(revoked.status, 404, 'revoked: no card');
  t.match(await revoked.json(), { details: { code: 'not_paired' } });
  t.equal(peerListings(api), 3);

  api.cards.event({ type: 'p2p.message.received', data: { peer: PEER } });
  await fetch(cardUrl(api));
  t.equal(peerListings(api), 3, 'other events change no card');
});

t.test('the card route is rate limited, and a malformed peer id is named as such', async (t) => {
  const api = await startApi(t, { cardRateLimit: { burst: 2, perSecond: 1 }, now: () => 0 });
  const malformed = await fetch(cardUrl(api, 'not-a-peer'));
  t.equal(malformed.status, 404);
  t.match(await malformed.json(), { details: { code: 'not_paired', message: /"not-a-peer" is not a peer id.*52 characters/ } });
  t.equal((await fetch(cardUrl(api))).status, 200);
  const limited = await fetch(cardUrl(api));
  t.equal(limited.status, 429, 'the third read within the second');
  t.equal(limited.headers.get('retry-after'), '1');
  t.match(await limited.json(), { details: { code: 'rate_limited' } });
  t.equal(peerListings(api), 1, 'the refused reads reached no extension');
});

t.test('POST to a malformed peer id: 404 not paired, naming the format; nothing gated or sent', async (t) => {
  const api = await startApi(t);
  const response = await api.rpc(rpc('SendMessage', message), {}, '/a2a/not-a-peer/');
  t.equal(response.status, 404);
  t.match(await response.json(), { id: 11, error: { code: -32062, message: /"not-a-peer" is not a peer id.*ending in "a" or "q"/, data: [{ reason: 'NOT_PAIRED' }] } });
  t.same(api.gateCalls, []);
  t.same(sent(api), []);
});

t.test("a blocking call's wait counts from its start: events from the peer do not extend it", async (t) => {
  const clock = { now: 0 };
  const api = await startApi(t, { waitMs: 1000, now: () => clock.now });
  api.state.value = 'delivered';
  api.beforeRead.hook = (earlier) => {
    // Each read finds a new progress event, 400 ms after the one before; the result would come with the 20th.
    clock.now += 400;
    const seq = api.answers.length;
    api.answers.push(earlier === 20 ? { seq, kind: 'result', body: { task: { id: 't-1' } } } : { seq, kind: 'event', body: { statusUpdate: { taskId: 't-1' } } });
    api.signals.event({ type: 'p2p.a2a.answer', data: { peer: PEER, request_id: REQUEST_ID, seq, end: false } });
  };
  const response = await api.rpc(rpc('SendMessage', message));
  t.match(await response.json(), { id: 11, error: { code: -32060, data: [{ reason: 'ANSWER_PENDING' }] } }, '-32060 once the wait is over');
  t.equal(api.executed.filter((call) => call.operation === 'a2a_task').length, 4, 'reads until the deadline, and one more');
});

t.test('answers that cannot be read: a JSON-RPC -32603 telling to re-attach, the hurry released', async (t) => {
  const api = await startApi(t);
  api.taskRefusal.message = 'the extension is restarting';
  const blocking = await api.rpc(rpc('SendMessage', message));
  t.equal(blocking.status, 503);
  t.match(await blocking.json(), {
    jsonrpc: '2.0',
    id: 11,
    error: { code: -32603, message: /^the p2p-comm node could not read the answers: .*the extension is restarting; send the same message again to re-attach$/ },
  });
  t.equal(api.hurries.active, 0, 'released after the failed read');

  const stream = await api.rpc(rpc('SendStreamingMessage', message));
  const text = await stream.text();
  t.match(text, /^event: error\ndata: /, 'the stream ends with an error event, not a clean end');
  t.match(JSON.parse(text.split('data: ')[1] as string), { id: 11, error: { code: -32603, message: /could not read the answers/ } });
  t.equal(api.hurries.active, 0);
  t.equal(api.intervals.ticks.size, 0, 'the keepalive stopped');
});

t.test('the pump is hurried again after each answer, and released at the end', async (t) => {
  const api = await startApi(t);
  api.answers.push({ seq: 0, kind: 'event', body: { task: { id: 't-1' } } });
  const response = await api.rpc(rpc('SendStreamingMessage', message));
  const reader = response.body!.getReader();
  await reader.read();
  t.equal(api.hurries.taken, 2, 'once at the start, once after the answer');
  t.equal(api.hurries.active, 1, 'the first released when the second was taken');
  api.answers.push({ seq: 1, kind: 'end', body: null });
  api.signals.event({ type: 'p2p.a2a.answer', data: { peer: PEER, request_id: REQUEST_ID, seq: 1, end: true } });
  while (!(await reader.read()).done);
  t.equal(api.hurries.active, 0);
});

t.test('a client gone before its call is handled: nothing asked, nothing sent', async (t) => {
  const gateCalls: string[] = [];
  const executed: string[] = [];
  const routes = new PeerAgentRoutes({
    gate: {
      check: async (_plugin, operation) => {
        gateCalls.push(operation);
        return { allowed: true };
      },
    },
    execute: async (operation) => {
      executed.push(operation);
      return { result: { data: { request_id: REQUEST_ID } } };
    },
    signals: new AnswerSignals(),
    hurry: () => () => undefined,
    cards: { lookup: async () => ({ kind: 'not_paired' }) },
  });
  // What the server holds once the client closed the connection while its body was read.
  const gone = Object.assign(new EventEmitter(), { destroyed: true, writableEnded: false, writableFinished: false }) as unknown as ServerResponse;
  const request = { headers: {}, complete: true } as unknown as IncomingMessage;
  await routes.call(request, gone, PLUGIN.id, PEER, rpc('SendMessage', message));
  t.same(gateCalls, [], 'no dialog for nobody');
  t.same(executed, []);
});
