import { request as httpRequest } from 'node:http';
import t, { type Test } from 'tap';
import type { GateVerdict, PluginDeclaration } from '../../permissions/gate/types';
import { EventHub } from '../../permissions/http/event-hub';
import type { PluginPermissions } from '../../permissions/http/event-permissions';
import { HostApi, MAX_CALL_BODY_BYTES, type CallGate, type ExecutionOutcome, type HostApiOptions } from '../../permissions/http/host-api';
import { TokenStore } from '../../permissions/http/tokens';
import { MessageArrivals } from '../../permissions/mcp/message-arrivals';
import { eventually } from '../helpers/node';

const SECRET = 'plugin-secret-do-not-echo';

const PLUGIN: PluginDeclaration = {
  id: 'agent',
  secret: SECRET,
  extensions: { 'p2p-comm': ['status', 'send', 'retired'], 'other-ext': ['thing'] },
};

const OTHER: PluginDeclaration = { id: 'other', secret: 'another-plugin-secret', extensions: { 'p2p-comm': ['peers'] } };

const PEER_A = 'a'.repeat(51) + 'q';
const PEER_B = 'b'.repeat(51) + 'q';

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
  // No data.error: whatever the message says, nothing tells the host it was the caller's fault.
  failing: async () => ({ error: { message: 'internal_error: the store failed' } }),
  ...Object.fromEntries(
    ['invalid_input', 'not_found', 'conflict', 'not_available', 'limit_reached', 'not_initialized', 'shutting_down', 'internal_error', 'unknown_operation', 'constructor'].map(
      (code) => [`refuse_${code}`, async () => ({ error: { message: `${code}: refused`, data: code === 'invalid_input' ? { error: code, details: { path: '/peer', rule: 'pattern' } } : { error: code } } })],
    ),
  ),
  down: async () => {
    throw new Error('extension p2p-comm is not running and did not restart within 10000 ms');
  },
};

/** Grants as the fake gate side holds them: `<plugin> <permission>` active, `<plugin> <permission> <value>` approved. */
class FakePermissions implements PluginPermissions {
  readonly active = new Set<string>(['agent ext:p2p-comm:status']);
  readonly scopes = new Set<string>();

  isActive(plugin: string, permission: string): boolean {
    return this.active.has(`${plugin} ${permission}`);
  }

  scopeApproved(plugin: string, permission: string, value: string): boolean {
    return this.scopes.has(`${plugin} ${permission} ${value}`);
  }

  scopeDenied(): boolean {
    return false;
  }
}

interface Harness {
  base: string;
  port: number;
  events: EventHub;
  plugins: Map<string, PluginDeclaration>;
  permissions: FakePermissions;
  gateCalls: { plugin: string; operation: string; input: unknown }[];
  executed: { operation: string; input: unknown }[];
  /** Moves the clock of the token store and the token exchange's rate limit. */
  advance(ms: number): void;
  token(plugin?: PluginDeclaration): Promise<string>;
}

interface ApiOptions {
  maxSubscribers?: number;
  maxSubscribersPerPlugin?: number;
  keepAliveMs?: number;
  tokenRateLimit?: HostApiOptions['tokenRateLimit'];
}

async function startApi(t: Test, options: ApiOptions = {}): Promise<Harness> {
  let now = 1_000_000;
  const clock = (): number => now;
  const tokens = new TokenStore({ ttlMs: 60_000, now: clock });
  const { tokenRateLimit = { burst: 1000, perSecond: 1 }, ...hubOptions } = options;
  const events = new EventHub({ extensionId: 'p2p-comm', ...hubOptions });
  const plugins = new Map([PLUGIN, OTHER].map((plugin) => [plugin.id, plugin]));
  const permissions = new FakePermissions();
  const gateCalls: Harness['gateCalls'] = [];
  const executed: Harness['executed'] = [];
  const gate: CallGate = {
    check: async (plugin, operation, input) => {
      gateCalls.push({ plugin, operation, input });
      return VERDICTS[operation] ?? { allowed: true };
    },
  };
  const execute = (operation: string, input: unknown): Promise<ExecutionOutcome> => {
    executed.push({ operation, input });
    return (OUTCOMES[operation] ?? OUTCOMES['status']!)();
  };
  const extension = { id: 'p2p-comm', display_name: 'P2P Comm', description: 'Direct messaging.', operations: [{ name: 'status' }, { name: 'send' }] };
  const api = new HostApi({ plugins, tokens, gate, execute, extension, events, permissions, arrivals: new MessageArrivals() }, { tokenRateLimit, now: clock });
  const { host, port } = await api.listen();
  t.teardown(() => api.close());
  const base = `http://${host}:${port}`;
  return {
    base,
    port,
    events,
    plugins,
    permissions,
    gateCalls,
    executed,
    advance: (ms) => {
      now += ms;
    },
    token: async (plugin = PLUGIN) => {
      const response = await postJson(`${base}/api/v1/auth/token`, { plugin_id: plugin.id, secret: plugin.secret });
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
      t.same(JSON.parse(text), { error: 'Unauthorized', details: { code: 'invalid_credentials', message: 'unknown plugin_id or wrong secret' } });
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

t.test('every other route needs a valid bearer token, and a refusal says what was wrong with it', async (t) => {
  const api = await startApi(t);
  const call = (authorization?: string) =>
    fetch(`${api.base}/api/v1/extensions/p2p-comm/status`, {
      method: 'POST',
      headers: authorization === undefined ? {} : { authorization },
      body: '{}',
    });
  const token = await api.token();
  const refusals: [string, string | undefined, string][] = [
    ['missing', undefined, 'token_missing'],
    ['garbage', 'garbage', 'token_malformed'],
    ['wrong scheme', `Basic ${token}`, 'token_malformed'],
    ['characters no token has', `Bearer ${token}!`, 'token_malformed'],
    ['unknown token', `Bearer ${'A'.repeat(43)}`, 'token_unknown'],
    ['the secret itself', `Bearer ${SECRET}`, 'token_unknown'],
  ];
  for (const [what, header, code] of refusals) {
    const response = await call(header);
    t.equal(response.status, 401, what);
    t.match(await jsonOf(t, response), { error: 'Unauthorized', details: { code, message: /POST \/api\/v1\/auth\/token/ } }, what);
    const challenge = response.headers.get('www-authenticate');
    if (code === 'token_missing') t.equal(challenge, 'Bearer', 'no error code when no token was sent (RFC 6750)');
    else t.match(challenge, /^Bearer error="invalid_token", error_description="[^"\\]+"$/, what);
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
  t.match(await jsonOf(t, expired), { error: 'Unauthorized', details: { code: 'token_expired', message: /expired/ } });
  t.match(expired.headers.get('www-authenticate'), /error="invalid_token", error_description="the token has expired/);
  t.match(await jsonOf(t, await call(`Bearer ${token}`)), { details: { code: 'token_expired' } }, 'and stays known as expired');
});

t.test('plugins are looked up on every request', async (t) => {
  const api = await startApi(t);
  const token = await api.token();
  const status = () => postJson(`${api.base}/api/v1/extensions/p2p-comm/status`, { input: {} }, token);
  t.equal((await status()).status, 200);
  api.plugins.delete(PLUGIN.id);
  const removed = await status();
  t.equal(removed.status, 401, "a removed plugin's token stops working");
  t.match(await jsonOf(t, removed), { details: { code: 'token_unknown', message: /agent, is no longer declared/ } });
  const exchange = await postJson(`${api.base}/api/v1/auth/token`, { plugin_id: PLUGIN.id, secret: SECRET });
  t.equal(exchange.status, 401, 'and it gets no new one');
  api.plugins.set(PLUGIN.id, PLUGIN);
  t.equal((await postJson(`${api.base}/api/v1/extensions/p2p-comm/status`, { input: {} }, await api.token())).status, 200, 'added back, it works again');
});

t.test('replacing a plugin secret ends the tokens the old one bought', async (t) => {
  const api = await startApi(t);
  const token = await api.token();
  const status = () => postJson(`${api.base}/api/v1/extensions/p2p-comm/status`, { input: {} }, token);
  t.equal((await status()).status, 200);
  const renewed = { ...PLUGIN, secret: 'a-brand-new-secret-value' };
  api.plugins.set(PLUGIN.id, renewed);
  const refused = await status();
  t.equal(refused.status, 401);
  t.match(await jsonOf(t, refused), { details: { code: 'token_unknown', message: /secret of plugin agent was replaced/ } });
  t.equal((await postJson(`${api.base}/api/v1/extensions/p2p-comm/status`, { input: {} }, await api.token(renewed))).status, 200, 'the new secret buys a working token');
});

/** A request with exactly these headers (fetch would not send a Host of our choosing). */
function rawRequest(url: string, headers: Record<string, string>, setHost = true): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', headers, setHost }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, headers: response.headers }));
    });
    request.on('error', reject);
    request.end(JSON.stringify({ plugin_id: PLUGIN.id, secret: SECRET }));
  });
}

t.test('only local programs may call: no other host name, no web page', async (t) => {
  const api = await startApi(t);
  const tokenUrl = `${api.base}/api/v1/auth/token`;
  t.equal((await rawRequest(tokenUrl, { host: `localhost:${api.port}` })).status, 200, 'localhost with the right port');
  t.equal((await rawRequest(tokenUrl, { host: `LocalHost:${api.port}` })).status, 200, 'host names are case-insensitive');
  for (const host of [`evil.example:${api.port}`, `127.0.0.1:${api.port + 1}`, 'localhost', '127.0.0.1', `localhost.:${api.port}`, `[::1]:${api.port}`]) {
    const refused = await rawRequest(tokenUrl, { host });
    t.equal(refused.status, 421, host);
    t.match(JSON.parse(refused.body), { error: 'Misdirected request', details: { code: 'host_not_allowed', message: `127.0.0.1:${api.port} or localhost:${api.port}` } }, host);
  }
  // Node's server refuses an HTTP/1.1 request without Host before this host sees it.
  t.equal((await rawRequest(tokenUrl, {}, false)).status, 400, 'no Host header at all');
  for (const header of [{ origin: 'https://evil.example' }, { origin: 'null' }, { origin: api.base }, { 'sec-fetch-site': 'same-origin' }, { 'sec-fetch-site': 'none' }]) {
    const refused = await rawRequest(tokenUrl, header);
    t.equal(refused.status, 403, JSON.stringify(header));
    t.match(JSON.parse(refused.body), { error: 'Forbidden', details: { code: 'browser_request' } });
    t.notOk(refused.body.includes('access_token'));
  }
  const preflight = await fetch(tokenUrl, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
  t.equal(preflight.status, 403, 'a CORS preflight too');
  t.equal(preflight.headers.get('access-control-allow-origin'), null);
});

t.test('the token exchange is rate-limited', async (t) => {
  const api = await startApi(t, { tokenRateLimit: { burst: 3, perSecond: 0.5 } });
  const exchange = () => postJson(`${api.base}/api/v1/auth/token`, { plugin_id: PLUGIN.id, secret: SECRET });
  for (let i = 0; i < 3; i += 1) t.equal((await exchange()).status, 200, `burst ${i + 1}`);
  const limited = await exchange();
  t.equal(limited.status, 429);
  t.equal(limited.headers.get('retry-after'), '2');
  t.same(await jsonOf(t, limited), { error: 'Too many requests', details: { code: 'rate_limited', message: 'too many token requests; try again in 2 s' } });
  const wrong = await postJson(`${api.base}/api/v1/auth/token`, { plugin_id: PLUGIN.id, secret: 'guess' });
  t.equal(wrong.status, 429, 'a guess is limited the same way, before the secret is looked at');
  api.advance(1_999);
  t.equal((await exchange()).status, 429, 'not refilled yet');
  api.advance(1);
  t.equal((await exchange()).status, 200, 'one more after 2 s');
  t.equal((await exchange()).status, 429);
  t.equal((await fetch(`${api.base}/api/v1/extensions`, { headers: { authorization: 'Bearer x' } })).status, 401, 'other routes are not limited');
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

  t.test("the extension's refusal gets the status its code deserves, and the code", async (t) => {
    const cases: [operation: string, status: number, details: Record<string, unknown>][] = [
      ['refuse_invalid_input', 400, { code: 'invalid_input', message: 'invalid_input: refused', details: { path: '/peer', rule: 'pattern' } }],
      ['refuse_not_found', 404, { code: 'not_found', message: 'not_found: refused' }],
      ['refuse_conflict', 409, { code: 'conflict', message: 'conflict: refused' }],
      ['refuse_not_available', 409, { code: 'not_available', message: 'not_available: refused' }],
      ['refuse_limit_reached', 429, { code: 'limit_reached', message: 'limit_reached: refused' }],
      ['refuse_not_initialized', 503, { code: 'not_initialized', message: 'not_initialized: refused' }],
      ['refuse_shutting_down', 503, { code: 'shutting_down', message: 'shutting_down: refused' }],
      ['refuse_internal_error', 500, { code: 'internal_error', message: 'internal_error: refused' }],
      ['refuse_unknown_operation', 500, { code: 'unknown_operation', message: 'unknown_operation: refused' }],
      ['refuse_constructor', 500, { code: 'constructor', message: 'constructor: refused' }],
      ['failing', 500, { code: 'internal_error', message: 'internal_error: the store failed' }],
    ];
    for (const [operation, status, details] of cases) {
      const response = await call(operation, { input: {} });
      t.equal(response.status, status, operation);
      t.same(await jsonOf(t, response), { error: 'Extension execution failed', details }, operation);
    }
    const down = await call('down', { input: {} });
    t.equal(down.status, 503, 'no answer from the extension at all');
    t.match(await jsonOf(t, down), { error: 'Extension execution failed', details: { code: 'extension_unavailable', message: /did not restart/ } });
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

  t.test('a number beyond a 64-bit float is 400, not passed on as null', async (t) => {
    const response = await fetch(`${api.base}/api/v1/extensions/p2p-comm/send`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"input":{"type":"json","content":{"n":[1e400]}}}',
    });
    t.equal(response.status, 400);
    t.same(await jsonOf(t, response), {
      error: 'Invalid input',
      details: 'the body at /input/content/n/0 holds a number beyond the range of a 64-bit float (such as 1e400), which would arrive as null; send it as a string',
    });
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
    api.permissions.active.add('agent ext:p2p-comm:receive');
    api.permissions.scopes.add('agent ext:p2p-comm:receive peer-a');
    const response = await subscribe(t, api);
    t.equal(response.status, 200);
    t.match(response.headers.get('content-type'), /^text\/event-stream/);
    const published = api.events.publish({ id: 'evt-1', type: 'p2p.message.received', subject: 'peer-a', data: { message_id: 'm1' } });
    const frame = await new Frames(response).next();
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
    t.equal(await new Frames(await subscribe(t, api)).next(), ': keep-alive\n\n');
  });

  t.test('a plugin sees only the events its permissions cover, as they are when the event is published', async (t) => {
    const api = await startApi(t);
    const agent = new Frames(await subscribe(t, api));
    const other = new Frames(await subscribe(t, api, OTHER));
    let count = 0;
    const publish = (type: string, peer?: string, subject = peer): string => {
      const id = `evt-${(count += 1)}`;
      api.events.publish({ id, type, ...(subject === undefined ? {} : { subject }), data: peer === undefined ? { version: '1' } : { peer, message_id: id } });
      return id;
    };
    // The id is published first, then awaited: the stream keeps order, so any event refused before it would come first.
    const comesNext = async (frames: Frames, id: string, what: string): Promise<void> => {
      t.equal(/^id: (\S+)/.exec(await frames.next())?.[1], id, what);
    };

    // The agent holds only `status`.
    publish('p2p.peer.request', PEER_A);
    publish('p2p.message.received', PEER_A);
    publish('p2p.peer.connected', PEER_A);
    await comesNext(agent, publish('p2p.node.started'), 'with status alone: no pairing request, no message, no peer state');

    api.permissions.active.add('agent ext:p2p-comm:receive');
    api.permissions.scopes.add(`agent ext:p2p-comm:receive ${PEER_A}`);
    publish('p2p.message.received', PEER_B);
    publish('p2p.message.received', PEER_B, PEER_A);
    await comesNext(agent, publish('p2p.message.received', PEER_A), 'receive for peer A: only what peer A sent, and only when data and subject agree');

    publish('p2p.message.delivered', PEER_A);
    api.permissions.active.add('agent ext:p2p-comm:message_status');
    publish('p2p.message.delivered', PEER_A);
    api.permissions.scopes.add(`agent ext:p2p-comm:send ${PEER_A}`);
    publish('p2p.message.failed', PEER_B);
    await comesNext(agent, publish('p2p.message.failed', PEER_A), 'sent-message events need a peer approved for send');

    api.permissions.active.delete('agent ext:p2p-comm:receive');
    publish('p2p.message.received', PEER_A);
    publish('p2p.peer.teleported', PEER_A);
    api.plugins.delete(PLUGIN.id);
    publish('p2p.node.started');
    api.plugins.set(PLUGIN.id, PLUGIN);
    await comesNext(agent, publish('p2p.node.started'), 'nothing after a revocation, of an unknown type, or while the plugin is removed');

    api.permissions.active.add('other ext:p2p-comm:peers');
    await comesNext(other, publish('p2p.peer.connected', PEER_B), 'peer state to a plugin holding peers, whatever the peer');
    api.permissions.active.add('other ext:p2p-comm:requests');
    await comesNext(other, publish('p2p.peer.request', PEER_B), 'pairing requests to a plugin holding requests');
  });

  t.test('one plugin cannot take every stream', async (t) => {
    const api = await startApi(t, { maxSubscribersPerPlugin: 1 });
    t.equal((await subscribe(t, api)).status, 200);
    const refused = await subscribe(t, api);
    t.equal(refused.status, 429);
    t.same(await jsonOf(t, refused), {
      error: 'Too many requests',
      details: { code: 'plugin_subscribers_full', message: 'plugin agent already has 1 event streams open, the most one plugin may have: close one first' },
    });
    t.equal((await subscribe(t, api, OTHER)).status, 200, 'another plugin still gets one');
  });
});

/** Opens an event stream for the plugin, closed when the test ends. */
async function subscribe(t: Test, api: Harness, plugin = PLUGIN): Promise<Response> {
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  return fetch(`${api.base}/api/v1/events/subscribe`, { headers: { authorization: `Bearer ${await api.token(plugin)}` }, signal: controller.signal });
}

/** The frames of an event stream, one at a time, each up to and including its blank line. */
class Frames {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private text = '';

  constructor(response: Response) {
    if (response.body === null) throw new Error('no body');
    this.reader = response.body.getReader();
  }

  async next(): Promise<string> {
    for (;;) {
      const end = this.text.indexOf('\n\n');
      if (end !== -1) {
        const frame = this.text.slice(0, end + 2);
        this.text = this.text.slice(end + 2);
        return frame;
      }
      const { done, value } = await this.reader.read();
      if (done) throw new Error(`stream ended inside a frame: ${this.text}`);
      this.text += this.decoder.decode(value, { stream: true });
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
