import { request as httpRequest } from 'node:http';
import t, { type Test } from 'tap';
import type { GateVerdict, PluginDeclaration } from '../../permissions/gate/types';
import { EventHub } from '../../permissions/http/event-hub';
import { HostApi, MAX_CALL_BODY_BYTES, type CallGate, type ExecutionOutcome } from '../../permissions/http/host-api';
import { TokenStore } from '../../permissions/http/tokens';
import { eventually } from '../helpers/node';

const SECRET = 'plugin-secret-do-not-echo';

const PLUGIN: PluginDeclaration = {
  id: 'agent',
  secret: SECRET,
  extensions: { 'p2p-comm': ['status', 'send', 'retired'], 'other-ext': ['thing'] },
};

/** Verdicts by operation name; everything else is allowed. */
const VERDICTS: Record<string, GateVerdict> = {
  revoked: { allowed: false, status: 403, error: 'Permission denied', details: "Plugin 'agent' lacks permission 'ext:p2p-comm:revoked'" },
  bad_input: { allowed: false, status: 400, error: 'Invalid input', details: '/peer: must be string' },
  bare_refusal: { allowed: false, status: 403, error: 'Forbidden', details: null },
};

/** Answers by operation name, as the extension would. */
const OUTCOMES: Record<string, () => Promise<ExecutionOutcome>> = {
  status: async () => ({ result: { success: true, data: { ok: true }, message: null } }),
  noted: async () => ({ result: { success: false, data: null, message: 'peer is offline' } }),
  unshaped: async () => ({ result: 42 }),
  failing: async () => ({ error: { message: 'UNKNOWN_PEER: no such peer' } }),
  down: async () => {
    throw new Error('extension p2p-comm is not running and did not restart within 10000 ms');
  },
};

interface Harness {
  base: string;
  events: EventHub;
  gateCalls: { plugin: string; operation: string; input: unknown }[];
  executed: { operation: string; input: unknown }[];
  /** Moves the token store's clock. */
  advance(ms: number): void;
  token(): Promise<string>;
}

async function startApi(t: Test, options: { maxSubscribers?: number; keepAliveMs?: number } = {}): Promise<Harness> {
  let now = 1_000_000;
  const tokens = new TokenStore({ ttlMs: 60_000, now: () => now });
  const events = new EventHub({ extensionId: 'p2p-comm', ...options });
  const gateCalls: Harness['gateCalls'] = [];
  const executed: Harness['executed'] = [];
  const gate: CallGate = {
    check: async (plugin, operation, input) => {
      gateCalls.push({ plugin, operation, input });
      return VERDICTS[operation] ?? { allowed: true };
    },
  };
  const api = new HostApi({
    plugins: new Map([[PLUGIN.id, PLUGIN]]),
    tokens,
    gate,
    execute: (operation, input) => {
      executed.push({ operation, input });
      return (OUTCOMES[operation] ?? OUTCOMES['status']!)();
    },
    extension: { id: 'p2p-comm', display_name: 'P2P Comm', description: 'Direct messaging.', operations: [{ name: 'status' }, { name: 'send' }] },
    events,
    permitted: (_plugin, permission) => permission === 'ext:p2p-comm:status',
  });
  const { host, port } = await api.listen();
  t.teardown(() => api.close());
  const base = `http://${host}:${port}`;
  return {
    base,
    events,
    gateCalls,
    executed,
    advance: (ms) => {
      now += ms;
    },
    token: async () => {
      const response = await postJson(`${base}/api/v1/auth/token`, { plugin_id: PLUGIN.id, secret: SECRET });
      return ((await response.json()) as { access_token: string }).access_token;
    },
  };
}

function postJson(url: string, body: unknown, token?: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
}

async function jsonOf(t: Test, response: Response): Promise<Record<string, unknown>> {
  t.match(response.headers.get('content-type'), /^application\/json/);
  return (await response.json()) as Record<string, unknown>;
}

t.test('the token exchange', async (t) => {
  const api = await startApi(t);

  t.test('a right secret gets a bearer token', async (t) => {
    const response = await postJson(`${api.base}/api/v1/auth/token`, { plugin_id: 'agent', secret: SECRET });
    t.equal(response.status, 200);
    const body = await jsonOf(t, response);
    t.match(body, { access_token: /^[A-Za-z0-9_-]{43}$/, token_type: 'Bearer', expires_in: 60 });
    t.equal(response.headers.get('cache-control'), 'no-store');
  });

  t.test('a wrong secret and an unknown plugin get the same 401, without the secret', async (t) => {
    for (const attempt of [
      { plugin_id: 'agent', secret: 'guess' },
      { plugin_id: 'agent', secret: `${SECRET}x` },
      { plugin_id: 'nobody', secret: SECRET },
      { plugin_id: 'agent' },
      { secret: SECRET },
    ]) {
      const response = await postJson(`${api.base}/api/v1/auth/token`, attempt);
      t.equal(response.status, 401, JSON.stringify(attempt));
      const text = await response.text();
      t.same(JSON.parse(text), { error: 'Unauthorized', details: 'unknown plugin_id or wrong secret' });
      t.notOk(text.includes(SECRET), 'the secret is not echoed');
    }
  });

  t.test('a body that is not a JSON object is refused without quoting it', async (t) => {
    for (const body of [`secret=${SECRET}`, `{"plugin_id":"agent","secret":"${SECRET}"`, `["${SECRET}"]`]) {
      const response = await fetch(`${api.base}/api/v1/auth/token`, { method: 'POST', body });
      t.equal(response.status, 400);
      const text = await response.text();
      t.match(JSON.parse(text), { error: 'Invalid input', details: String });
      t.notOk(text.includes(SECRET), 'the secret is not echoed');
    }
  });
});

t.test('every other route needs a valid bearer token', async (t) => {
  const api = await startApi(t);
  const call = (authorization?: string) =>
    fetch(`${api.base}/api/v1/extensions/p2p-comm/status`, {
      method: 'POST',
      headers: authorization === undefined ? {} : { authorization },
      body: '{}',
    });
  const token = await api.token();
  const refusals: [string, string | undefined][] = [
    ['missing', undefined],
    ['garbage', 'garbage'],
    ['wrong scheme', `Basic ${token}`],
    ['unknown token', `Bearer ${'A'.repeat(43)}`],
    ['the secret itself', `Bearer ${SECRET}`],
  ];
  for (const [what, header] of refusals) {
    const response = await call(header);
    t.equal(response.status, 401, what);
    t.same(await jsonOf(t, response), { error: 'Unauthorized' }, what);
    t.equal(response.headers.get('www-authenticate'), 'Bearer');
  }
  const list = await fetch(`${api.base}/api/v1/extensions`);
  t.equal(list.status, 401, 'the listing too');
  const stream = await fetch(`${api.base}/api/v1/events/subscribe`);
  t.equal(stream.status, 401, 'the event stream too');
  t.same(api.executed, [], 'nothing reached the extension');

  t.equal((await call(`Bearer ${token}`)).status, 200, 'the valid token works');
  api.advance(60_000);
  const expired = await call(`Bearer ${token}`);
  t.equal(expired.status, 401, 'an expired token is refused');
  t.same(await jsonOf(t, expired), { error: 'Unauthorized' });
});

t.test('the listing shows only the extensions the plugin declared', async (t) => {
  const api = await startApi(t);
  const response = await fetch(`${api.base}/api/v1/extensions`, { headers: { authorization: `Bearer ${await api.token()}` } });
  t.equal(response.status, 200);
  t.same(await jsonOf(t, response), {
    extensions: [
      { id: 'other-ext', display_name: null, description: null, available: false, operations: [{ name: 'thing', permitted: false, available: false }] },
      {
        id: 'p2p-comm',
        display_name: 'P2P Comm',
        description: 'Direct messaging.',
        available: true,
        operations: [
          { name: 'status', permitted: true, available: true },
          { name: 'send', permitted: false, available: true },
          { name: 'retired', permitted: false, available: false },
        ],
      },
    ],
  });
});

t.test('calling an operation', async (t) => {
  const api = await startApi(t);
  const token = await api.token();
  const call = (operation: string, body: unknown, prefix = '/api/v1') =>
    postJson(`${api.base}${prefix}/extensions/p2p-comm/${operation}`, body, token);

  t.test('both path prefixes reach the gate and the extension', async (t) => {
    for (const prefix of ['/api/v1', '/v1']) {
      api.gateCalls.length = 0;
      const response = await call('send', { input: { peer: 'abc' } }, prefix);
      t.equal(response.status, 200, prefix);
      t.same(api.gateCalls, [{ plugin: 'agent', operation: 'send', input: { peer: 'abc' } }]);
    }
  });

  t.test('a success answers success, data and message, leaving out a null message', async (t) => {
    const ok = await call('status', { input: {} });
    t.equal(ok.status, 200);
    t.same(await jsonOf(t, ok), { success: true, data: { ok: true } });
    const noted = await call('noted', { input: {} });
    t.same(await jsonOf(t, noted), { success: false, data: null, message: 'peer is offline' });
    const unshaped = await call('unshaped', { input: {} });
    t.same(await jsonOf(t, unshaped), { success: true, data: 42 }, 'a result of another shape is wrapped, as Nexus does');
  });

  t.test('an absent input is an empty object', async (t) => {
    api.executed.length = 0;
    t.equal((await call('status', {})).status, 200);
    t.same(api.executed, [{ operation: 'status', input: {} }]);
  });

  t.test('an unknown extension is 403, before the gate', async (t) => {
    api.gateCalls.length = 0;
    const response = await postJson(`${api.base}/api/v1/extensions/nope/status`, { input: {} }, token);
    t.equal(response.status, 403);
    t.same(await jsonOf(t, response), { error: 'Forbidden', details: "No extension with ID 'nope'" });
    t.same(api.gateCalls, []);
  });

  t.test("the gate's refusals pass through unchanged", async (t) => {
    api.executed.length = 0;
    const revoked = await call('revoked', { input: {} });
    t.equal(revoked.status, 403);
    t.same(await jsonOf(t, revoked), { error: 'Permission denied', details: "Plugin 'agent' lacks permission 'ext:p2p-comm:revoked'" });
    const invalid = await call('bad_input', { input: { peer: 1 } });
    t.equal(invalid.status, 400);
    t.same(await jsonOf(t, invalid), { error: 'Invalid input', details: '/peer: must be string' });
    const bare = await call('bare_refusal', { input: {} });
    t.equal(bare.status, 403);
    t.same(await jsonOf(t, bare), { error: 'Forbidden' }, 'no details when the gate gives none');
    t.same(api.executed, [], 'a refused call never reaches the extension');
  });

  t.test("the extension's error is a 500 with its message", async (t) => {
    const failing = await call('failing', { input: {} });
    t.equal(failing.status, 500);
    t.same(await jsonOf(t, failing), { error: 'Extension execution failed', details: 'UNKNOWN_PEER: no such peer' });
    const down = await call('down', { input: {} });
    t.equal(down.status, 500);
    t.match(await jsonOf(t, down), { error: 'Extension execution failed', details: /did not restart/ });
  });

  t.test('a body that is not a JSON object is 400', async (t) => {
    for (const body of ['not json', '[1,2]', 'null', '"input"', '']) {
      const response = await fetch(`${api.base}/api/v1/extensions/p2p-comm/status`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
      t.equal(response.status, 400, JSON.stringify(body));
      t.match(await jsonOf(t, response), { error: 'Invalid input', details: String });
    }
  });

  t.test('a body over the limit is 413, declared or streamed', async (t) => {
    const atLimit = JSON.stringify({ input: { text: 'x'.repeat(MAX_CALL_BODY_BYTES - 30) } });
    t.equal((await call('status', JSON.parse(atLimit))).status, 200, 'just under the limit is fine');
    const declared = await fetch(`${api.base}/api/v1/extensions/p2p-comm/status`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: 'x'.repeat(MAX_CALL_BODY_BYTES + 1),
    });
    t.equal(declared.status, 413, 'a declared length over the limit');
    t.match(await jsonOf(t, declared), { error: 'Payload too large' });
    const streamed = await streamBody(`${api.base}/api/v1/extensions/p2p-comm/status`, token, MAX_CALL_BODY_BYTES + 1);
    t.equal(streamed.status, 413, 'a chunked body that grows over the limit');
    t.match(JSON.parse(streamed.body), { error: 'Payload too large' });
  });
});

/** Sends a chunked body (no content-length) of `size` bytes, in 64 KiB pieces, and reads the answer. */
function streamBody(url: string, token: string, size: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const request = httpRequest(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'transfer-encoding': 'chunked' } }, (response) => {
      answered = true;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    // The server closes the connection once it has answered, which cuts the upload short.
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    const piece = Buffer.alloc(64 * 1024, 0x78);
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        const chunk = piece.subarray(0, Math.min(piece.length, size - sent));
        sent += chunk.length;
        if (!request.write(chunk)) {
          request.once('drain', pump);
          return;
        }
      }
      request.end();
    };
    pump();
  });
}

t.test('the event stream', async (t) => {
  t.test('a subscriber receives a published event as a CloudEvent', async (t) => {
    const api = await startApi(t);
    const controller = new AbortController();
    t.teardown(() => controller.abort());
    const response = await fetch(`${api.base}/api/v1/events/subscribe`, {
      headers: { authorization: `Bearer ${await api.token()}` },
      signal: controller.signal,
    });
    t.equal(response.status, 200);
    t.match(response.headers.get('content-type'), /^text\/event-stream/);
    const published = api.events.publish({ id: 'evt-1', type: 'p2p.message.received', subject: 'peer-a', data: { message_id: 'm1' } });
    const frame = await readUntil(response, '\n\n');
    t.equal(frame, `id: evt-1\nevent: p2p.message.received\ndata: ${JSON.stringify(published)}\n\n`);
    t.match(JSON.parse(frame.split('\ndata: ')[1] ?? ''), {
      specversion: '1.0',
      id: 'evt-1',
      source: 'nexus://extension/p2p-comm',
      type: 'p2p.message.received',
      subject: 'peer-a',
      time: /^\d{4}-\d\d-\d\dT/,
      datacontenttype: 'application/json',
      data: { message_id: 'm1' },
    });
  });

  t.test('subscribers beyond the bound are refused with 503 until one leaves', async (t) => {
    const api = await startApi(t, { maxSubscribers: 1 });
    const token = await api.token();
    const subscribe = (signal?: AbortSignal) =>
      fetch(`${api.base}/api/v1/events/subscribe`, { headers: { authorization: `Bearer ${token}` }, ...(signal === undefined ? {} : { signal }) });
    const first = new AbortController();
    t.equal((await subscribe(first.signal)).status, 200);
    const refused = await subscribe();
    t.equal(refused.status, 503);
    t.match(await jsonOf(t, refused), { error: 'Service unavailable' });
    first.abort();
    await eventually(async () => api.events.subscriberCount === 0, 'the closed subscriber to be removed');
    const next = new AbortController();
    t.teardown(() => next.abort());
    t.equal((await subscribe(next.signal)).status, 200, 'its place is free again');
  });

  t.test('an idle stream gets keep-alive comments', async (t) => {
    const api = await startApi(t, { keepAliveMs: 10 });
    const controller = new AbortController();
    t.teardown(() => controller.abort());
    const response = await fetch(`${api.base}/api/v1/events/subscribe`, {
      headers: { authorization: `Bearer ${await api.token()}` },
      signal: controller.signal,
    });
    t.equal(await readUntil(response, '\n\n'), ': keep-alive\n\n');
  });
});

/** Reads the stream until `terminator` has arrived; returns everything up to and including it. */
async function readUntil(response: Response, terminator: string): Promise<string> {
  if (response.body === null) throw new Error('no body');
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`stream ended before ${JSON.stringify(terminator)}: ${text}`);
    text += decoder.decode(value, { stream: true });
    const end = text.indexOf(terminator);
    if (end !== -1) {
      reader.releaseLock();
      return text.slice(0, end + terminator.length);
    }
  }
}

t.test('unknown routes are 404 and wrong methods 405', async (t) => {
  const api = await startApi(t);
  const token = await api.token();
  const auth = { authorization: `Bearer ${token}` };
  for (const path of ['/', '/api/v1/extension', '/api/v1/extensions/p2p-comm', '/api/v1/extensions/p2p-comm/status/extra', '/v1/extensions', '/v1/auth/token']) {
    const response = await fetch(`${api.base}${path}`, { headers: auth });
    t.equal(response.status, 404, path);
    t.same(await jsonOf(t, response), { error: 'Not found' }, path);
  }
  const wrongMethod = await fetch(`${api.base}/api/v1/extensions/p2p-comm/status`, { headers: auth });
  t.equal(wrongMethod.status, 405);
  t.equal(wrongMethod.headers.get('allow'), 'POST');
  t.match(await jsonOf(t, wrongMethod), { error: 'Method not allowed' });
  const getToken = await fetch(`${api.base}/api/v1/auth/token`);
  t.equal(getToken.status, 405);
});
