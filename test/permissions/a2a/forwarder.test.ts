import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { A2aForwarder, type ForwarderOptions, type ServedRequest } from '../../../permissions/a2a/a2a-forwarder';
import { declaredAgentOf } from '../../../permissions/a2a/declared-agent';
import { forwardSignature, verifyForwardSignature } from '../../../permissions/a2a/forward-signature';
import type { ExtensionRefusal } from '../../../permissions/http/extension-errors';
import type { GateVerdict, PluginDeclaration } from '../../../permissions/gate/types';
import { loadPluginDeclaration } from '../../../permissions/plugins/plugin-declarations';
import { tempDir } from '../../helpers/extension';
import { eventually } from '../../helpers/node';

const PEER = `${'b'.repeat(51)}q`;
const SECRET = 'a-plugin-secret-of-24-chars';

interface Received {
  headers: IncomingHttpHeaders;
  text: string;
  body: Record<string, unknown>;
}

/** A loopback agent whose answer each test writes; it records what arrived. */
async function fakeAgent(t: Test, answer: (request: Received, response: ServerResponse) => void | Promise<void>): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      const entry = { headers: request.headers, text, body: JSON.parse(text) as Record<string, unknown> };
      received.push(entry);
      void answer(entry, response);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  t.teardown(() => server.closeAllConnections());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, received };
}

function request(id: string, method = 'SendMessage', extra: Partial<ServedRequest> = {}): ServedRequest {
  return { request_id: id.padEnd(32, '0'), method, params: { message: { messageId: id, role: 'ROLE_USER', parts: [{ text: 'hi' }] } }, a2a_extensions: null, claimed: false, answered_seq: null, ...extra };
}

/** A node's side of the forwarder: the requests it lists, and every call the forwarder made of it, in order. */
function fakeNode(requests: ServedRequest[], verdict: GateVerdict = { allowed: true }, streams = false, refuse: (input: Record<string, unknown>) => ExtensionRefusal | undefined = () => undefined) {
  const calls: { operation: string; input: Record<string, unknown> }[] = [];
  const gated: unknown[][] = [];
  const ended = new Set<string>();
  return {
    calls,
    gated,
    responds: () => calls.filter((call) => call.operation === 'a2a_respond').map((call) => call.input),
    deps: (endpoint: string) => ({
      gate: {
        check: async (...args: unknown[]) => {
          gated.push(args);
          return verdict;
        },
      },
      execute: async (operation: string, input: unknown) => {
        const call = { operation, input: input as Record<string, unknown> };
        calls.push(call);
        if (operation === 'peers') return { result: { data: { peers: [{ peer: PEER }] } } };
        if (operation === 'a2a_serve') return { result: { data: { requests: requests.filter((entry) => !ended.has(entry.request_id)) } } };
        const refusal = operation === 'a2a_respond' ? refuse(call.input) : undefined;
        if (refusal !== undefined) return { error: refusal };
        if (call.input['end'] === true) ended.add(call.input['request_id'] as string);
        return { result: { data: { outcome: 'recorded' } } };
      },
      target: () => ({ plugin: 'agent', secret: SECRET, endpoint, streams }),
    }),
  };
}

async function forwardAll(node: ReturnType<typeof fakeNode>, endpoint: string, options: ForwarderOptions = {}): Promise<A2aForwarder> {
  const forwarder = new A2aForwarder(node.deps(endpoint), { warn: () => undefined, ...options });
  await forwarder.start();
  await forwarder.idle();
  return forwarder;
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

t.test('a request goes to the agent with the A2A and p2p-comm headers and the forward signature, after the receive gate and the claim', async (t) => {
  const agent = await fakeAgent(t, ({ body }, response) => json(response, 200, { jsonrpc: '2.0', id: body['id'], result: { task: { id: 't-1' } } }));
  const node = fakeNode([{ ...request('r1'), a2a_extensions: 'https://example.org/ext' }]);
  await forwardAll(node, agent.url);
  t.equal(agent.received.length, 1);
  const [arrived] = agent.received;
  t.match(arrived?.headers, {
    'content-type': 'application/json',
    'a2a-version': '1.0',
    'a2a-extensions': 'https://example.org/ext',
    'p2p-comm-peer': PEER,
    'p2p-comm-request': request('r1').request_id,
    'p2p-comm-signature': /^v1 t=\d+, sig=[A-Za-z0-9_-]{43}$/,
  });
  t.equal(arrived?.headers.authorization, undefined, 'no bearer: a static value would replay for any peer');
  const signed = { peer: PEER, requestId: request('r1').request_id, body: arrived?.text ?? '' };
  const header = arrived?.headers['p2p-comm-signature'] as string;
  const now = Math.floor(Date.now() / 1000);
  t.ok(verifyForwardSignature(SECRET, header, signed, now), 'the agent checks it against what it received');
  t.same(arrived?.body, { jsonrpc: '2.0', id: request('r1').request_id, method: 'SendMessage', params: request('r1').params });
  t.same(node.gated.map((call) => call.slice(0, 3)), [['agent', 'receive', { peer: PEER }]], 'gated as the plugin receiving from that peer');
  t.same(
    node.calls.map((call) => call.operation),
    ['peers', 'a2a_serve', 'a2a_respond', 'a2a_respond'],
  );
  t.same(node.responds(), [
    { peer: PEER, request_id: request('r1').request_id, claim: true },
    { peer: PEER, request_id: request('r1').request_id, seq: 0, result: { task: { id: 't-1' } }, end: true },
  ]);
});

t.test('a forward signature holds only for its peer, request, body and time, in its one spelling', async (t) => {
  const forward = { peer: PEER, requestId: 'a'.repeat(32), body: '{"jsonrpc":"2.0"}' };
  const t0 = 1_800_000_000;
  const header = forwardSignature(SECRET, { ...forward, t: t0 });
  t.ok(verifyForwardSignature(SECRET, header, forward, t0 + 300));
  t.ok(verifyForwardSignature(SECRET, header, forward, t0 - 300));
  t.notOk(verifyForwardSignature(SECRET, header, forward, t0 + 301), 'too old');
  t.notOk(verifyForwardSignature(SECRET, header, { ...forward, body: '{"jsonrpc":"2.0" }' }, t0), 'another body');
  t.notOk(verifyForwardSignature(SECRET, header, { ...forward, peer: `${'c'.repeat(51)}q` }, t0), 'another peer');
  t.notOk(verifyForwardSignature(SECRET, header, { ...forward, requestId: 'b'.repeat(32) }, t0), 'another request');
  t.notOk(verifyForwardSignature('another-secret-of-24-chars', header, forward, t0), 'another secret');
  t.notOk(verifyForwardSignature(SECRET, `${header}!!`, forward, t0), 'trailing characters base64url decoding would ignore');
  t.notOk(verifyForwardSignature(SECRET, header.replace(/t=\d+/, `t=${t0 + 1}`), forward, t0), 'the time is signed');
  t.notOk(verifyForwardSignature(SECRET, undefined, forward, t0));
});

t.test('a peer the owner does not let reach the agent is answered -32066 and the agent never sees it', async (t) => {
  const agent = await fakeAgent(t, (_, response) => json(response, 200, {}));
  const node = fakeNode([request('r1')], { allowed: false, status: 403, error: 'Scope approval denied', details: null });
  await forwardAll(node, agent.url);
  t.equal(agent.received.length, 0);
  t.match(node.responds(), [{ seq: 0, end: true, error: { code: -32066, data: [{ reason: 'REFUSED_BY_OWNER', domain: 'p2p-comm', metadata: { peer: PEER, request_id: request('r1').request_id } }] } }]);
  t.equal(node.responds().length, 1, 'nothing claimed');
});

t.test('a stream is recorded event by event in order, then its end; an error event ends it', async (t) => {
  const agent = await fakeAgent(t, ({ body }, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    const id = body['id'];
    response.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id, result: { task: { id: 't', status: { state: 'TASK_STATE_SUBMITTED' } } } })}\n\n`);
    response.write(': keepalive\n\n');
    // An event split across writes and CRLF line ends still arrives whole.
    response.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id, result: { statusUpdate: { taskId: 't' } } }).slice(0, 10)}`);
    response.write(`${JSON.stringify({ jsonrpc: '2.0', id, result: { statusUpdate: { taskId: 't' } } }).slice(10)}\r\n\r\n`);
    if (body['method'] === 'SubscribeToTask') response.write(`event: error\ndata: ${JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32001, message: 'Task not found' } })}\n\n`);
    else response.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id, result: { artifactUpdate: { taskId: 't' } } })}\n\n`);
    response.end();
  });
  const node = fakeNode([request('s1', 'SendStreamingMessage'), request('s2', 'SubscribeToTask')]);
  await forwardAll(node, agent.url);
  const answersOf = (id: string) => node.responds().filter((answer) => answer['request_id'] === request(id).request_id && answer['claim'] === undefined);
  t.same(
    answersOf('s1').map(({ seq, event, end }) => ({ seq, event, end })),
    [
      { seq: 0, event: { task: { id: 't', status: { state: 'TASK_STATE_SUBMITTED' } } }, end: undefined },
      { seq: 1, event: { statusUpdate: { taskId: 't' } }, end: undefined },
      { seq: 2, event: { artifactUpdate: { taskId: 't' } }, end: undefined },
      { seq: 3, event: undefined, end: true },
    ],
  );
  t.same(
    answersOf('s2').map(({ seq, error, end }) => ({ seq, error, end })),
    [
      { seq: 0, error: undefined, end: undefined },
      { seq: 1, error: undefined, end: undefined },
      { seq: 2, error: { code: -32001, message: 'Task not found' }, end: true },
    ],
  );
});

t.test('a plain JSON-RPC error passes through; HTTP 413 is -32067; an answer that is no JSON-RPC is -32603', async (t) => {
  const agent = await fakeAgent(t, ({ body }, response) => {
    const method = body['method'];
    if (method === 'GetTask') json(response, 200, { jsonrpc: '2.0', id: body['id'], error: { code: -32001, message: 'Task not found' } });
    else if (method === 'SendMessage') json(response, 413, { error: 'too large' });
    else {
      response.writeHead(401);
      response.end('no');
    }
  });
  const node = fakeNode([request('g1', 'GetTask'), request('m1', 'SendMessage'), request('l1', 'ListTasks')]);
  await forwardAll(node, agent.url);
  const last = (id: string) => node.responds().filter((answer) => answer['request_id'] === request(id).request_id).at(-1);
  t.match(last('g1'), { seq: 0, error: { code: -32001, message: 'Task not found' }, end: true });
  t.match(last('m1'), { seq: 0, error: { code: -32067, data: [{ reason: 'TOO_LARGE' }] }, end: true });
  t.match(last('l1'), { seq: 0, error: { code: -32603, message: 'the agent answered HTTP 401 without a JSON-RPC answer' }, end: true });
});

t.test('a blocking SendMessage to an agent that streams goes as a stream and ends with the Task GetTask gives, or the message', async (t) => {
  const task = { id: 't-9', contextId: 'c', status: { state: 'TASK_STATE_COMPLETED' }, artifacts: [{ artifactId: 'a' }], history: [{ messageId: 'm' }] };
  const agent = await fakeAgent(t, ({ body }, response) => {
    const id = body['id'];
    const params = body['params'] as Record<string, any>;
    if (body['method'] === 'GetTask') return json(response, 200, { jsonrpc: '2.0', id, result: { ...task, history: task.history.slice(0, params['historyLength'] ?? 1) } });
    if (body['method'] === 'SendMessage') return json(response, 200, { jsonrpc: '2.0', id, result: { message: { messageId: 'plain' } } });
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    if (params['message'].messageId === 'hello') response.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id, result: { message: { messageId: 'hi back' } } })}\n\n`);
    else {
      response.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id, result: { task: { id: 't-9', status: { state: 'TASK_STATE_SUBMITTED' } } } })}\n\n`);
      response.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id, result: { statusUpdate: { taskId: 't-9', status: { state: 'TASK_STATE_COMPLETED' } } } })}\n\n`);
    }
    response.end();
  });
  const blocking = (id: string, messageId: string, configuration?: Record<string, unknown>): ServedRequest => ({
    ...request(id),
    params: { message: { messageId, role: 'ROLE_USER', parts: [{ text: 'plan' }] }, ...(configuration === undefined ? {} : { configuration }) },
  });
  const node = fakeNode([blocking('b1', 'plan', { historyLength: 0 }), blocking('b2', 'hello'), blocking('b3', 'now', { returnImmediately: true })], { allowed: true }, true);
  await forwardAll(node, agent.url);
  const answersOf = (id: string) => node.responds().filter((answer) => answer['request_id'] === request(id).request_id && answer['claim'] === undefined);
  t.same(
    agent.received.map((entry) => entry.body['method']).sort(),
    ['GetTask', 'SendMessage', 'SendStreamingMessage', 'SendStreamingMessage'],
  );
  t.same(agent.received.find((entry) => entry.body['method'] === 'GetTask')?.body['params'], { id: 't-9', historyLength: 0 }, 'the task the stream named, with the history length asked for');
  t.match(answersOf('b1'), [
    { seq: 0, event: { task: { id: 't-9' } } },
    { seq: 1, event: { statusUpdate: { taskId: 't-9' } } },
    { seq: 2, result: { task: { id: 't-9', status: { state: 'TASK_STATE_COMPLETED' }, artifacts: [{ artifactId: 'a' }], history: [] } }, end: true },
  ]);
  t.match(answersOf('b2'), [{ seq: 0, event: { message: { messageId: 'hi back' } } }, { seq: 1, result: { message: { messageId: 'hi back' } }, end: true }]);
  t.match(answersOf('b3'), [{ seq: 0, result: { message: { messageId: 'plain' } }, end: true }], 'returnImmediately is forwarded as it came');
});

t.test('an agent that cannot be reached is retried with backoff, then the request is answered -32063', async (t) => {
  let clock = 0;
  const slept: number[] = [];
  const attempts: number[] = [];
  const options: ForwarderOptions = {
    retryMs: 60_000,
    retryBaseMs: 1000,
    retryMaxMs: 8000,
    random: () => 0.999999,
    now: () => clock,
    sleep: async (ms) => {
      slept.push(ms);
      clock += ms;
    },
    fetch: async () => {
      attempts.push(clock);
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) });
    },
  };
  const node = fakeNode([request('u1')]);
  await forwardAll(node, 'http://127.0.0.1:9/', options);
  t.same(slept.slice(0, 4), [999, 1999, 3999, 7999], 'the waits double up to the maximum');
  t.ok(slept.slice(4).every((ms) => ms === 7999));
  t.ok(clock <= 60_000, 'given up within the retry time');
  t.ok(clock > 60_000 - 8000, 'not before it');
  t.equal(attempts.length, slept.length + 1);
  t.match(node.responds().at(-1), { seq: 0, error: { code: -32063, data: [{ reason: 'NO_A2A_AGENT' }] }, end: true });

  // One that comes back in time is forwarded.
  const agent = await fakeAgent(t, ({ body }, response) => json(response, 200, { jsonrpc: '2.0', id: body['id'], result: { message: {} } }));
  let failures = 2;
  const back = fakeNode([request('u2')]);
  await forwardAll(back, agent.url, {
    sleep: async () => undefined,
    fetch: async (...args) => {
      if (failures-- > 0) throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
      return fetch(...args);
    },
  });
  t.match(back.responds().at(-1), { seq: 0, result: { message: {} }, end: true });
});

t.test('at most perPeer requests of a peer go to the agent at once; the next when one is answered', async (t) => {
  const held: (() => void)[] = [];
  const agent = await fakeAgent(t, ({ body }, response) => {
    held.push(() => json(response, 200, { jsonrpc: '2.0', id: body['id'], result: { message: {} } }));
  });
  const node = fakeNode([request('a'), request('b'), request('c')]);
  const forwarder = new A2aForwarder(node.deps(agent.url), { perPeer: 2, warn: () => undefined });
  await forwarder.start();
  await waitFor(() => agent.received.length === 2, 'two requests at the agent');
  const claims = () => node.responds().filter((answer) => answer['claim'] === true).length;
  t.equal(claims(), 2, 'the third waits: not even claimed');
  // Another announcement while both places are taken takes nothing more.
  forwarder.event({ id: 'e', type: 'p2p.a2a.request', data: { peer: PEER } });
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(claims(), 2);
  held.shift()?.();
  await waitFor(() => agent.received.length === 3, 'the third at the agent once one was answered');
  t.same(agent.received.map((entry) => entry.body['id']), [request('a').request_id, request('b').request_id, request('c').request_id], 'in the order they came');
  for (const release of held.splice(0)) release();
  await forwarder.idle();
  t.equal(node.responds().filter((answer) => answer['end'] === true).length, 3);
});

t.test('after a restart: a request claimed without its answers is -32064; a read is forwarded again', async (t) => {
  const agent = await fakeAgent(t, ({ body }, response) => json(response, 200, { jsonrpc: '2.0', id: body['id'], result: { id: 't' } }));
  const node = fakeNode([
    request('w1', 'SendMessage', { claimed: true }),
    request('w2', 'SendStreamingMessage', { claimed: true, answered_seq: 1 }),
    request('r1', 'GetTask', { claimed: true }),
  ]);
  await forwardAll(node, agent.url);
  t.same(agent.received.map((entry) => entry.body['method']), ['GetTask'], 'only the read reaches the agent again');
  const lastOf = (id: string) => node.responds().filter((answer) => answer['request_id'] === request(id).request_id).at(-1);
  t.match(lastOf('w1'), { seq: 0, end: true, error: { code: -32064, data: [{ reason: 'SERVING_INTERRUPTED', metadata: { hint: 'ListTasks with your contextId' } }] } });
  t.match(lastOf('w2'), { seq: 2, end: true, error: { code: -32064 } }, 'after the answers already recorded');
  t.match(lastOf('r1'), { seq: 0, result: { id: 't' }, end: true });
});

t.test('stopping ends an open stream and a retry wait without a last answer, for the restart rules to answer', async (t) => {
  const agent = await fakeAgent(t, ({ body }, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id: body['id'], result: { task: { id: 't' } } })}\n\n`);
  });
  const node = fakeNode([request('s1', 'SubscribeToTask')]);
  const forwarder = new A2aForwarder(node.deps(agent.url), { warn: () => undefined });
  await forwarder.start();
  await waitFor(() => node.responds().some((answer) => answer['seq'] === 0), 'the first event recorded');
  forwarder.stop();
  await forwarder.idle();
  t.same(node.responds().filter((answer) => answer['end'] === true), [], 'no end recorded');

  const retrying = fakeNode([request('u1')]);
  let attempts = 0;
  const waiting = new A2aForwarder(retrying.deps('http://127.0.0.1:9/'), {
    warn: () => undefined,
    sleep: () => new Promise(() => undefined),
    fetch: async () => {
      attempts += 1;
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    },
  });
  await waiting.start();
  await waitFor(() => attempts === 1, 'the first attempt');
  waiting.stop();
  await waiting.idle();
  t.equal(attempts, 1);
  t.same(retrying.responds().filter((answer) => answer['end'] === true), [], 'not answered -32063: the agent was not given up on');
});

function waitFor(condition: () => boolean, what: string): Promise<true> {
  return eventually(async () => condition(), what);
}

t.test('a declared agent is on loopback only; a host serves the first declared, the others are left out with a warning', async (t) => {
  const dir = tempDir(t);
  const declare = (url: string): PluginDeclaration => {
    const path = join(dir, 'agent.json');
    writeFileSync(path, JSON.stringify({ id: 'agent', secret: SECRET, extensions: { 'p2p-comm': ['receive'] }, a2a: { url } }));
    return loadPluginDeclaration(path);
  };
  for (const url of ['http://127.0.0.1:41241/', 'http://[::1]:8080/a2a/', 'http://127.0.0.2:3000/', 'http://localhost:3000/']) t.equal(declare(url).a2a?.url, url, `${url} is taken`);
  for (const url of ['http://192.168.1.5:41241/', 'http://localhost.example.org/', 'https://127.0.0.1:41241/', 'http://example.org/', 'http://127.0.0.1.example.org/', 'http://user:pw@127.0.0.1/', 'not a url']) {
    t.throws(
      () => declare(url),
      { message: `a2a.url ${JSON.stringify(url)} is not on this machine; the host forwards A2A requests only to loopback, http://127.x.x.x, http://[::1] or http://localhost (with any port; localhost is taken as 127.0.0.1)` },
      `${url} is refused`,
    );
  }
  t.throws(() => declare('http://127.0.0.1:4/agent'), { message: 'a2a.url "http://127.0.0.1:4/agent" must end with "/" (the card is read at <url>.well-known/agent-card.json); write "http://127.0.0.1:4/agent/"' });
  writeFileSync(join(dir, 'agent.json'), JSON.stringify({ id: 'agent', secret: SECRET, extensions: {}, a2a: { url: 'http://127.0.0.1/', port: 1 } }));
  t.throws(() => loadPluginDeclaration(join(dir, 'agent.json')), /a2a/, 'the a2a field is closed too');

  const warnings: string[] = [];
  const plugin = (id: string, url?: string): PluginDeclaration => ({ id, secret: `${id}-secret-0123456789`, extensions: {}, ...(url === undefined ? {} : { a2a: { url } }) });
  const agent = declaredAgentOf([plugin('zeta', 'http://127.0.0.1:2/'), plugin('plain'), plugin('alpha', 'http://127.0.0.1:1/')], (line) => warnings.push(line));
  t.same(agent, { plugin: 'alpha', secret: 'alpha-secret-0123456789', url: 'http://127.0.0.1:1/' });
  t.same(warnings, ['warning: plugin zeta declares an A2A agent, but plugin alpha already does and a host serves one: the a2a field of zeta is left out']);
  t.equal(declaredAgentOf([plugin('plain')], () => t.fail('no warning')), undefined);
});

t.test('an A2A-Extensions value that is no HTTP field value is answered -32602 at once, and the agent never sees it', async (t) => {
  const agent = await fakeAgent(t, ({ body }, response) => json(response, 200, { jsonrpc: '2.0', id: body['id'], result: { message: {} } }));
  const warnings: string[] = [];
  const node = fakeNode([{ ...request('x1'), a2a_extensions: 'x\r\ny' }, { ...request('x2'), a2a_extensions: 'caf\u00e9' }]);
  await forwardAll(node, agent.url, { warn: (line) => warnings.push(line), sleep: async () => void t.fail('not retried') });
  t.equal(agent.received.length, 0);
  for (const id of ['x1', 'x2']) {
    t.match(node.responds().filter((answer) => answer['request_id'] === request(id).request_id), [{ seq: 0, end: true, error: { code: -32602, message: /A2A-Extensions/ } }]);
  }
  t.match(warnings, [/\(1 so far\)/, /\(2 so far\)/]);
});

t.test('a fetch failure that is no connection error is answered -32603 at once, not retried', async (t) => {
  const node = fakeNode([request('f1')]);
  await forwardAll(node, 'http://127.0.0.1:9/', {
    sleep: async () => void t.fail('not retried'),
    fetch: async () => {
      throw new TypeError('fetch failed', { cause: new Error('unexpected redirect') });
    },
  });
  t.match(node.responds().at(-1), { seq: 0, end: true, error: { code: -32603, message: /could not send the request to its agent \(fetch failed \(unexpected redirect\)\)/ } });
});

t.test('a redirect from the agent is not followed: the request ends -32603', async (t) => {
  const elsewhere = await fakeAgent(t, ({ body }, response) => json(response, 200, { jsonrpc: '2.0', id: body['id'], result: { message: {} } }));
  const agent = await fakeAgent(t, (_, response) => {
    response.writeHead(307, { location: elsewhere.url });
    response.end();
  });
  const node = fakeNode([request('d1')]);
  await forwardAll(node, agent.url);
  t.equal(agent.received.length, 1);
  t.equal(elsewhere.received.length, 0, 'the request went nowhere else');
  t.match(node.responds().at(-1), { seq: 0, end: true, error: { code: -32603, message: /redirect/ } });
});

/** The extension's refusal of an answer larger than a message carries (extension/messaging/payload.ts). */
function refuseOver(bytes: number) {
  return (input: Record<string, unknown>): ExtensionRefusal | undefined => {
    const size = Buffer.byteLength(JSON.stringify(input));
    return size > bytes
      ? { message: `content is ${size} bytes once encoded; the limit is ${bytes} bytes (send it in parts)`, data: { error: 'invalid_input', details: { rule: 'max_bytes', bytes: size, limit: bytes } } }
      : undefined;
  };
}

t.test('an answer the extension refuses ends the request in its place: -32067 when too large, else -32603 naming why', async (t) => {
  const big = 'x'.repeat(1.5 * 1024 * 1024);
  const agent = await fakeAgent(t, ({ body }, response) => {
    const id = body['id'];
    if (body['method'] === 'SendStreamingMessage') {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id, result: { task: { id: 't' } } })}\n\n`);
      response.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id, result: { artifactUpdate: { taskId: 't', text: big } } })}\n\n`);
      response.end(`data: ${JSON.stringify({ jsonrpc: '2.0', id, result: { statusUpdate: { taskId: 't' } } })}\n\n`);
    } else if (body['method'] === 'ListTasks') json(response, 200, { jsonrpc: '2.0', id, result: { tasks: [], text: big } });
    else json(response, 200, { jsonrpc: '2.0', id, error: { code: -32001, message: 'm'.repeat(5000) } });
  });
  const warnings: string[] = [];
  const refuseLarge = refuseOver(1024 * 1024);
  const node = fakeNode([request('e1', 'SendStreamingMessage'), request('l1', 'ListTasks'), request('g1', 'GetTask')], { allowed: true }, false, (input) => {
    const error = input['error'] as { message?: string } | undefined;
    if ((error?.message?.length ?? 0) > 4096) return { message: 'the error message is longer than 4096 characters', data: { error: 'invalid_input' } };
    return refuseLarge(input);
  });
  await forwardAll(node, agent.url, { warn: (line) => warnings.push(line) });
  const accepted = (id: string) => node.responds().filter((answer) => answer['request_id'] === request(id).request_id && answer['claim'] === undefined);
  t.match(accepted('e1').map(({ seq, end, error }) => ({ seq, end, error })), [
    { seq: 0, end: undefined, error: undefined },
    { seq: 1, end: undefined, error: undefined },
    { seq: 1, end: true, error: { code: -32067, data: [{ reason: 'TOO_LARGE' }] } },
  ], 'the 1.5 MiB event is replaced by the end at its seq; nothing after it');
  t.match(accepted('l1').at(-1), { seq: 0, end: true, error: { code: -32067 } }, 'an oversize plain answer');
  t.match(accepted('g1').at(-1), { seq: 0, end: true, error: { code: -32603, message: /could not be carried to the peer: the error message is longer than 4096/ } });
  t.equal(warnings.length, 3, 'each told to the owner');
});

t.test('an error that is no JSON-RPC error object, and a plain body over the limit, are answered without asking the extension', async (t) => {
  const agent = await fakeAgent(t, ({ body }, response) => {
    if (body['method'] === 'GetTask') json(response, 200, { jsonrpc: '2.0', id: body['id'], error: 'oops' });
    else {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('x'.repeat(5000));
    }
  });
  const node = fakeNode([request('g1', 'GetTask'), request('l1', 'ListTasks')]);
  await forwardAll(node, agent.url, { maxEventChars: 1000 });
  const last = (id: string) => node.responds().filter((answer) => answer['request_id'] === request(id).request_id).at(-1);
  t.match(last('g1'), { seq: 0, end: true, error: { code: -32603, message: 'the agent answered with an error that is not a JSON-RPC error object' } });
  t.match(last('l1'), { seq: 0, end: true, error: { code: -32067 } });
});

t.test('a full outbox holds the answer: offered again at the same seq until it fits', async (t) => {
  const agent = await fakeAgent(t, ({ body }, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id: body['id'], result: { task: { id: 't' } } })}\n\n`);
    response.end(`data: ${JSON.stringify({ jsonrpc: '2.0', id: body['id'], result: { statusUpdate: { taskId: 't' } } })}\n\n`);
  });
  let full = 3;
  const node = fakeNode([request('o1', 'SendStreamingMessage')], { allowed: true }, false, (input) =>
    input['seq'] === 1 && full-- > 0 ? { message: 'the outbox for the peer already holds 10000 undelivered messages', data: { error: 'limit_reached' } } : undefined,
  );
  const slept: number[] = [];
  await forwardAll(node, agent.url, { sleep: async (ms) => void slept.push(ms) });
  t.same(node.responds().filter((answer) => answer['claim'] === undefined).map(({ seq, end }) => ({ seq, end })), [
    { seq: 0, end: undefined },
    { seq: 1, end: undefined },
    { seq: 1, end: undefined },
    { seq: 1, end: undefined },
    { seq: 1, end: undefined },
    { seq: 2, end: true },
  ]);
  t.equal(slept.length, 3, 'a wait before each offer again');
});

t.test('an agent that streams more answers than the peer takes is ended at the last seq', async (t) => {
  const agent = await fakeAgent(t, ({ body }, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let index = 0; index < 5; index += 1) response.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id: body['id'], result: { statusUpdate: { taskId: 't' } } })}\n\n`);
    response.end();
  });
  const node = fakeNode([request('n1', 'SendStreamingMessage')]);
  await forwardAll(node, agent.url, { maxAnswers: 3 });
  t.match(node.responds().filter((answer) => answer['claim'] === undefined), [{ seq: 0, event: {} }, { seq: 1, event: {} }, { seq: 2, end: true, error: { code: -32603, message: /more than 2 answers/ } }]);
});

t.test('a request this run claimed whose forwarding failed is ended -32603 at once; one claimed by an earlier run is -32064', async (t) => {
  const agent = await fakeAgent(t, ({ body }, response) => json(response, 200, { jsonrpc: '2.0', id: body['id'], result: { message: {} } }));
  let failing = true;
  const listed = [request('c1')];
  const node = fakeNode(listed, { allowed: true }, false, (input) => (failing && input['claim'] === undefined ? { message: 'the extension is restarting', data: { error: 'extension_unavailable' } } : undefined));
  const warnings: string[] = [];
  const forwarder = await forwardAll(node, agent.url, { warn: (line) => warnings.push(line) });
  t.match(warnings, [/stopped without its last answer/]);
  // Listed again, now as claimed (by this run), once the extension answers again.
  failing = false;
  listed[0] = { ...request('c1'), claimed: true };
  listed.push({ ...request('c2'), claimed: true });
  await forwarder.start();
  await forwarder.idle();
  const last = (id: string) => node.responds().filter((answer) => answer['request_id'] === request(id).request_id).at(-1);
  t.match(last('c1'), { seq: 0, end: true, error: { code: -32603, message: /could not finish forwarding/ } }, 'this run ends it -32603, not "restarted"');
  t.match(last('c2'), { seq: 0, end: true, error: { code: -32064 } }, 'claimed before this run');
  t.equal(agent.received.length, 1, 'neither forwarded again');
});

t.test('an agent answering an HTTP error is told to the owner once', async (t) => {
  const agent = await fakeAgent(t, (_, response) => {
    response.writeHead(401, { 'content-type': 'application/json' });
    response.end('{"error":"only the p2p-comm host may call this agent"}');
  });
  const warnings: string[] = [];
  const node = fakeNode([request('a1'), request('a2')]);
  await forwardAll(node, agent.url, { warn: (line) => warnings.push(line) });
  t.match(warnings, [/the agent answered HTTP 401/]);
  t.equal(warnings.length, 1);
});
