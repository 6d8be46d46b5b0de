import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import t, { type Test } from 'tap';
import { manifest } from '../../../extension/common/manifest';
import type { PluginDeclaration } from '../../../permissions/gate/types';
import type { RpcResponse } from '../../../permissions/host/extension-process';
import { EventHub } from '../../../permissions/http/event-hub';
import { HostApi } from '../../../permissions/http/host-api';
import { TokenStore } from '../../../permissions/http/tokens';
import { MessageArrivals } from '../../../permissions/mcp/message-arrivals';
import { PagePrompter } from '../../../permissions/page/page-prompter';
import { MAX_FORM_BYTES } from '../../../permissions/page/page-http';
import { PageServer } from '../../../permissions/page/page-server';
import { PageSessions } from '../../../permissions/page/page-sessions';
import { PeerActivity } from '../../../permissions/page/peer-activity';
import { eventually } from '../../helpers/node';
import { sendContext } from '../../helpers/approval-context';

/**
 * The web page over HTTP, as a browser (or a page on another site, or a
 * program pretending to be one) reaches it: the Host API and the page in
 * this process, the extension a fake that records every call.
 */

const PEER_ID = `${'c'.repeat(51)}q`;
const REQUEST_ID = 'f'.repeat(32);
const PLUGIN: PluginDeclaration = { id: 'agent', secret: 'plugin-secret', extensions: { 'p2p-comm': ['status'] } };
const HOSTILE = `"><img src=x onerror=alert(1)><script>alert(2)</script>`;

const PEER_ROW = {
  id: PEER_ID,
  self_chosen_name: `Bob${HOSTILE}`,
  note: 'old note',
  fingerprint: '01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10',
  safety_number: '12345 12345 12345 12345 12345 12345 12345 12345 12345 12345 12345 12345 12345 12345',
  state: 'trusted',
  request_state: null,
  online: true,
  path: 'direct',
  addresses: ['127.0.0.1:4000'],
  last_seen: null,
  trusted_at: '2026-11-30T11:00:00.000Z',
  capabilities: null,
};

const REQUEST_ROW = {
  id: REQUEST_ID,
  direction: 'incoming',
  fingerprint: '01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10',
  self_chosen_name: 'Carol',
  peer: PEER_ID,
  safety_number: PEER_ROW.safety_number,
  address: `10.0.0.1:5${HOSTILE}`,
  state: 'waiting_for_you',
  created_at: '2026-11-30T11:59:00.000Z',
  expires_at: '2026-12-01T11:59:00.000Z',
  changes_since_arrival: null,
  attempts: null,
  last_error: null,
};

const CONTEXT = sendContext({ details: [`peer ${HOSTILE}`] });

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer | undefined;
}

type Answer = (params: Record<string, unknown>) => RpcResponse;

interface Harness {
  port: number;
  origin: string;
  calls: { method: string; params: Record<string, unknown> }[];
  /** Answers by JSON-RPC method, or `execute:<operation>`; the default is a success with message "done". */
  answers: Map<string, Answer>;
  rows: Record<string, Record<string, unknown>[]>;
  dialogs: PagePrompter;
  activity: PeerActivity;
  page: PageServer;
  sessions: PageSessions;
  send(path: string, options?: SendOptions): Promise<Reply>;
  /** Logs in; the value for a Cookie header. */
  login(): Promise<string>;
  /** A form POST from the page itself, logged in. */
  post(path: string, form: Record<string, string>, cookie: string, headers?: Record<string, string>): Promise<Reply>;
  /** Calls that change something (neither a list nor a read of the identity). */
  changes(): { method: string; params: Record<string, unknown> }[];
}

function ok(result: unknown): RpcResponse {
  return { id: 1, result };
}

async function startPage(t: Test, options: { maxUpdateStreams?: number; pageSize?: number; now?: () => number } = {}): Promise<Harness> {
  const calls: Harness['calls'] = [];
  const answers = new Map<string, Answer>();
  const rows: Harness['rows'] = { peers: [PEER_ROW], requests: [REQUEST_ROW] };
  const call = async (method: string, params: unknown): Promise<RpcResponse> => {
    const record = params as Record<string, unknown>;
    calls.push({ method, params: record });
    const key = method === 'execute' ? `execute:${String(record['operation'])}` : method;
    const answer = answers.get(key);
    if (answer !== undefined) return answer(record);
    if (method === 'resources.list') {
      const items = rows[String(record['resource_type'])] ?? [];
      return ok({ success: true, data: { items, total: items.length }, message: null });
    }
    if (key === 'execute:identity') {
      return ok({ success: true, data: { display_name: `Alice${HOSTILE}`, fingerprint: 'aa:bb', link: 'p2p-comm://link' }, message: null });
    }
    return ok({ success: true, data: null, message: 'done' });
  };
  let page: PageServer | undefined;
  const dialogs = new PagePrompter(() => page?.changed());
  const sessions = new PageSessions({ loginRateLimit: { burst: 1000, perSecond: 1 }, ...(options.now === undefined ? {} : { now: options.now }) });
  const activity = new PeerActivity();
  page = new PageServer({ manifest, call, dialogs, activity, sessions }, options);
  const api = new HostApi({
    plugins: new Map([[PLUGIN.id, PLUGIN]]),
    tokens: new TokenStore(),
    gate: { check: async () => ({ allowed: true }) },
    execute: async () => ({ result: { success: true, data: null } }),
    extension: { id: 'p2p-comm', display_name: 'P2P Comm', description: 'Direct messaging.', operations: [{ name: 'status' }] },
    events: new EventHub({ extensionId: 'p2p-comm' }),
    permissions: { isActive: () => true, scopeApproved: () => true, scopeDenied: () => false },
    arrivals: new MessageArrivals(),
    page,
  });
  const { port } = await api.listen();
  t.teardown(() => api.close());
  const origin = `http://127.0.0.1:${port}`;
  const send = (path: string, sendOptions: SendOptions = {}): Promise<Reply> => request(port, path, sendOptions);
  const harness: Harness = {
    port,
    origin,
    calls,
    answers,
    rows,
    dialogs,
    activity,
    page,
    sessions,
    send,
    login: async () => {
      const reply = await send(`/ui/login?code=${sessions.newLoginCode()}`);
      const cookie = setCookie(reply);
      if (reply.status !== 303 || cookie === undefined) throw new Error(`login failed: ${reply.status}`);
      return cookie.split(';', 1)[0] as string;
    },
    post: (path, form, cookie, headers = {}) =>
      send(path, {
        method: 'POST',
        headers: { origin, cookie, 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', ...headers },
        body: new URLSearchParams(form).toString(),
      }),
    changes: () => calls.filter(({ method, params }) => method !== 'resources.list' && !(method === 'execute' && params['operation'] === 'identity')),
  };
  return harness;
}

/** One request on its own connection; `Host` is 127.0.0.1:<port> unless given. */
function request(port: number, path: string, { method = 'GET', headers = {}, body }: SendOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const outgoing = httpRequest({ host: '127.0.0.1', port, path, method, agent: false, headers: { host: `127.0.0.1:${port}`, ...headers } }, (response) => {
      answered = true;
      collect(response).then(resolve, reject);
    });
    // A server that answered before reading the whole body may close while it is still being sent.
    outgoing.on('error', (error) => {
      if (!answered) reject(error);
    });
    outgoing.end(body);
  });
}

async function collect(response: IncomingMessage): Promise<Reply> {
  const chunks: Buffer[] = [];
  for await (const chunk of response as AsyncIterable<Buffer>) chunks.push(chunk);
  return { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') };
}

function setCookie(reply: Reply): string | undefined {
  return reply.headers['set-cookie']?.[0];
}

/** The page's one-line notice, if any: its class and its text. */
function notice(body: string): { className: string; text: string } | undefined {
  const match = /<p class="(notice[^"]*)" role="status">([^<]*)<\/p>/.exec(body);
  return match === null ? undefined : { className: match[1] as string, text: match[2] as string };
}

t.test('logging in', async (t) => {
  const page = await startPage(t);

  t.test('without a session cookie the page is 401 and says how to log in', async (t) => {
    const reply = await page.send('/ui/');
    t.equal(reply.status, 401);
    t.match(reply.body, 'open a login link: p2p-comm-host prints one when it starts, and p2p-comm-host page prints a new one');
    t.match(reply.body, '<code>not_logged_in</code>');
    t.notMatch(reply.body, '/ui/page.js', 'a page not logged in does not follow updates');
    t.same(page.calls, [], 'nothing is asked of the extension');
  });

  t.test('a login sent by another site is refused before its code is tried', async (t) => {
    for (const site of ['cross-site', 'same-site']) {
      const reply = await page.send(`/ui/login?code=${page.sessions.newLoginCode()}`, { headers: { 'sec-fetch-site': site } });
      t.equal(reply.status, 403, site);
      t.match(reply.body, 'cross_site_request');
      t.equal(reply.headers['set-cookie'], undefined);
    }
    const fromTerminal = await page.send(`/ui/login?code=${page.sessions.newLoginCode()}`, { headers: { 'sec-fetch-site': 'none' } });
    t.equal(fromTerminal.status, 303, 'a link opened from outside any page logs in');
  });

  t.test('a wrong code is 403 and sets no cookie', async (t) => {
    for (const query of ['code=wrong', '', `code=${page.sessions.newLoginCode()}x`, `code=${page.sessions.newLoginCode().slice(1)}`]) {
      const reply = await page.send(`/ui/login?${query}`);
      t.equal(reply.status, 403, query);
      t.match(reply.body, 'login_wrong_code');
      t.equal(reply.headers['set-cookie'], undefined);
    }
  });

  t.test('a link logs in once: used again it is 403 and says how to get a new one', async (t) => {
    const code = page.sessions.newLoginCode();
    t.equal((await page.send(`/ui/login?code=${code}`)).status, 303);
    const again = await page.send(`/ui/login?code=${code}`);
    t.equal(again.status, 403);
    t.match(again.body, 'login_used_code');
    t.match(again.body, 'run p2p-comm-host page for a new one');
    t.equal(again.headers['set-cookie'], undefined);
  });

  t.test('the right code is a 303 to /ui/ with an HttpOnly, SameSite=Strict cookie named after the port', async (t) => {
    const code = page.sessions.newLoginCode();
    const reply = await page.send(`/ui/login?code=${code}`);
    t.equal(reply.status, 303);
    t.equal(reply.headers.location, '/ui/', 'the code leaves the address bar');
    const cookie = setCookie(reply) ?? '';
    const [pair, ...attributes] = cookie.split(';').map((part) => part.trim());
    t.match(pair, new RegExp(`^p2p_comm_page_${page.port}=[A-Za-z0-9_-]{43}$`));
    t.not(pair?.split('=')[1], code, 'the cookie is not the login code');
    t.ok(attributes.includes('HttpOnly'));
    t.ok(attributes.includes('SameSite=Strict'));
    t.ok(attributes.includes('Path=/ui'));
    t.ok(attributes.includes(`Max-Age=${page.sessions.ttlSeconds}`));
    const main = await page.send('/ui/', { headers: { cookie: pair ?? '' } });
    t.equal(main.status, 200);
    t.match(main.body, '<script src="/ui/page.js" defer></script>');
    t.match(main.body, 'id="resource-peers"');
    t.match(main.body, 'id="resource-requests"');
  });

  t.test('a cookie under another port\'s name is not this host\'s', async (t) => {
    const cookie = await page.login();
    const id = cookie.split('=')[1] as string;
    for (const other of [`p2p_comm_page_${page.port + 1}=${id}`, `p2p_comm_page_=${id}`, `p2p_comm_page=${id}`, `x${cookie}`]) {
      t.equal((await page.send('/ui/', { headers: { cookie: other } })).status, 401, other);
    }
    t.equal((await page.send('/ui/', { headers: { cookie: `a=b; ${cookie}; c=d` } })).status, 200, 'found among other cookies');
    t.equal((await page.send('/ui/', { headers: { cookie: `${cookie.split('=')[0]}=${id}x` } })).status, 401, 'an id one character off');
    const planted = `${cookie.split('=')[0]}=planted-by-another-port`;
    t.equal((await page.send('/ui/', { headers: { cookie: `${planted}; ${cookie}` } })).status, 200, 'a cookie of the same name planted first does not lock the person out');
  });

  t.test('logging out ends the session and clears the cookie', async (t) => {
    const cookie = await page.login();
    const reply = await page.post('/ui/logout', {}, cookie);
    t.equal(reply.status, 303);
    t.match(setCookie(reply), new RegExp(`^p2p_comm_page_${page.port}=; .*Max-Age=0`));
    t.equal((await page.send('/ui/', { headers: { cookie } })).status, 401, 'the old cookie no longer works');
  });

  t.test('too many login attempts are 429, the right code included', async (t) => {
    const limited = new PageSessions({ loginRateLimit: { burst: 2, perSecond: 1 }, now: () => 0 });
    const server = new PageServer({ manifest, call: async () => ok(null), dialogs: undefined, activity: new PeerActivity(), sessions: limited });
    const api = new HostApi({
      plugins: new Map(),
      tokens: new TokenStore(),
      gate: { check: async () => ({ allowed: true }) },
      execute: async () => ({ result: null }),
      extension: { id: 'p2p-comm', display_name: 'P2P Comm', description: '', operations: [] },
      events: new EventHub({ extensionId: 'p2p-comm' }),
      permissions: { isActive: () => true, scopeApproved: () => true, scopeDenied: () => false },
      arrivals: new MessageArrivals(),
      page: server,
    });
    const { port } = await api.listen();
    t.teardown(() => api.close());
    t.equal((await request(port, '/ui/login?code=a', {})).status, 403);
    t.equal((await request(port, '/ui/login?code=b', {})).status, 403);
    const reply = await request(port, `/ui/login?code=${limited.newLoginCode()}`, {});
    t.equal(reply.status, 429);
    t.match(reply.body, 'rate_limited');
    t.equal(reply.headers['set-cookie'], undefined);
  });
});

t.test('requests from elsewhere', async (t) => {
  const page = await startPage(t);
  const cookie = await page.login();

  t.test('a Host header naming another host is 421, login included (DNS rebinding)', async (t) => {
    for (const host of [`evil.example:${page.port}`, 'evil.example', `127.0.0.1:${page.port + 1}`, `127.0.0.1.evil.example:${page.port}`]) {
      for (const path of ['/ui/', `/ui/login?code=${page.sessions.newLoginCode()}`, '/ui/page.js']) {
        const reply = await page.send(path, { headers: { host, cookie } });
        t.equal(reply.status, 421, `${host} ${path}`);
        t.match(JSON.parse(reply.body), { details: { code: 'host_not_allowed' } });
        t.equal(reply.headers['set-cookie'], undefined);
      }
    }
    t.equal((await page.send('/ui/', { headers: { host: `localhost:${page.port}`, cookie } })).status, 200, 'localhost is this host too');
  });

  t.test('Sec-Fetch-Site cross-site or same-site is 403 cross_site_request, before the session is looked at', async (t) => {
    for (const site of ['cross-site', 'same-site', 'other']) {
      for (const path of ['/ui/', '/ui/updates', '/ui/page.js', `/ui/message?peer=${PEER_ID}&cursor=1`, '/']) {
        const reply = await page.send(path, { headers: { cookie, 'sec-fetch-site': site } });
        t.equal(reply.status, 403, `${site} ${path}`);
        t.match(reply.body, '<code>cross_site_request</code>');
      }
      const posted = await page.post(`/ui/resources/peers/delete`, { id: PEER_ID }, cookie, { 'sec-fetch-site': site });
      t.equal(posted.status, 403);
      t.match(posted.body, 'cross_site_request');
    }
    for (const site of ['same-origin', 'none']) t.equal((await page.send('/ui/', { headers: { cookie, 'sec-fetch-site': site } })).status, 200, site);
    t.same(page.changes(), [], 'nothing was changed');
  });

  t.test('a form without this page\'s Origin is 403 origin_not_allowed and reaches nothing', async (t) => {
    const origins: (string | undefined)[] = [undefined, 'null', `http://127.0.0.1:${page.port + 1}`, `http://localhost:${page.port + 1}`, `https://127.0.0.1:${page.port}`, `http://evil.example`, `${page.origin}/`];
    for (const origin of origins) {
      const headers: Record<string, string> = { cookie, 'content-type': 'application/x-www-form-urlencoded' };
      if (origin !== undefined) headers['origin'] = origin;
      for (const path of ['/ui/resources/peers/delete', '/ui/resources/peers/create', '/ui/dialogs', '/ui/logout']) {
        const reply = await page.send(path, { method: 'POST', headers, body: `id=${PEER_ID}&field.link=x` });
        t.equal(reply.status, 403, `${String(origin)} ${path}`);
        t.match(reply.body, '<code>origin_not_allowed</code>');
      }
    }
    t.same(page.changes(), [], 'the extension was never called');
    t.equal((await page.send('/ui/', { headers: { cookie } })).status, 200, 'and the session still works: logout was refused too');
  });

  t.test('a form from this page without a session is 401 and reaches nothing', async (t) => {
    const reply = await page.post('/ui/resources/peers/delete', { id: PEER_ID }, `p2p_comm_page_${page.port}=forged`);
    t.equal(reply.status, 401);
    t.same(page.changes(), []);
  });

  t.test('the API refuses browsers even with a valid page cookie', async (t) => {
    for (const headers of [{ origin: page.origin }, { 'sec-fetch-site': 'same-origin' }, { origin: page.origin, 'sec-fetch-site': 'none' }]) {
      for (const [method, path] of [
        ['GET', '/api/v1/extensions'],
        ['POST', '/api/v1/auth/token'],
        ['POST', '/api/v1/extensions/p2p-comm/status'],
        ['GET', '/api/v1/events/subscribe'],
      ] as const) {
        const reply = await page.send(path, { method, headers: { cookie, 'content-type': 'application/json', ...headers }, body: method === 'POST' ? JSON.stringify({ plugin_id: PLUGIN.id, secret: PLUGIN.secret }) : undefined });
        t.equal(reply.status, 403, `${method} ${path} ${JSON.stringify(headers)}`);
        t.match(JSON.parse(reply.body), { details: { code: 'browser_request' } });
      }
    }
    const program = await page.send('/api/v1/auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ plugin_id: PLUGIN.id, secret: PLUGIN.secret }) });
    t.equal(program.status, 200, 'a local program still gets its token');
  });
});

t.test('security headers', async (t) => {
  const page = await startPage(t);
  const cookie = await page.login();
  const replies = {
    'the page': await page.send('/ui/', { headers: { cookie } }),
    'a refusal': await page.send('/ui/'),
    'a redirect': await page.send('/ui'),
    'the script': await page.send('/ui/page.js'),
    'the style': await page.send('/ui/page.css'),
    'a missing page': await page.send('/ui/nothing', { headers: { cookie } }),
  };
  for (const [what, reply] of Object.entries(replies)) {
    const csp = String(reply.headers['content-security-policy']);
    t.match(csp, "default-src 'none'", what);
    t.match(csp, "script-src 'self'", what);
    t.match(csp, "frame-ancestors 'none'", what);
    t.match(csp, "form-action 'self'", what);
    t.notMatch(csp, 'unsafe-inline', `${what}: no inline script or style`);
    t.notMatch(csp, 'unsafe-eval', what);
    t.equal(reply.headers['x-frame-options'], 'DENY', what);
    t.equal(reply.headers['x-content-type-options'], 'nosniff', what);
    t.equal(reply.headers['cache-control'], 'no-store', what);
  }
  t.equal(replies['a redirect'].status, 303);
  t.equal(replies['a redirect'].headers.location, '/ui/');
  t.equal(replies['a missing page'].status, 404);
  t.match(replies['the script'].headers['content-type'], /^text\/javascript/);
  t.match(replies['the style'].headers['content-type'], /^text\/css/);
  const main = replies['the page'].body;
  t.notMatch(main, /<script>|<style|\sstyle="|\son[a-z]+="/i, 'the page itself has no inline script, style or handler');
});

t.test('hostile values from the extension are shown as text', async (t) => {
  const page = await startPage(t);
  const cookie = await page.login();
  const main = (await page.send('/ui/', { headers: { cookie } })).body;
  t.notMatch(main, /<img|<script>/);
  t.match(main, 'Alice&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
  t.match(main, '<bdi>Bob&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;</bdi>');
  t.match(main, '10.0.0.1:5&quot;&gt;&lt;img');
  const pending = page.dialogs.approvePermission(CONTEXT, new AbortController().signal);
  const withDialog = (await page.send('/ui/', { headers: { cookie } })).body;
  t.match(withDialog, '<dd>peer &quot;&gt;&lt;img');
  t.notMatch(withDialog, /<img|<script>/);
  page.dialogs.answer(page.dialogs.list()[0]?.id ?? '', 'deny');
  await pending;
});

t.test('changing resources', async (t) => {
  const page = await startPage(t);
  const cookie = await page.login();

  t.test('a delete calls resources.delete with the type and the id, and says so on the next page', async (t) => {
    page.calls.length = 0;
    const reply = await page.post('/ui/resources/peers/delete', { id: PEER_ID }, cookie);
    t.equal(reply.status, 303);
    t.equal(reply.headers.location, '/ui/#resource-peers');
    t.same(page.changes(), [{ method: 'resources.delete', params: { resource_type: 'peers', id: PEER_ID } }]);
    t.same(notice((await page.send('/ui/', { headers: { cookie } })).body), { className: 'notice', text: 'Peers: done.' });
  });

  t.test('an update sends the row as shown with the edited field; an emptied nullable field is null', async (t) => {
    page.calls.length = 0;
    await page.post('/ui/resources/peers/update', { id: PEER_ID, row: JSON.stringify(PEER_ROW), 'field.note': 'new <note>' }, cookie);
    await page.post('/ui/resources/peers/update', { id: PEER_ID, row: JSON.stringify(PEER_ROW), 'field.note': '' }, cookie);
    await page.post('/ui/resources/peers/update', { id: PEER_ID, row: JSON.stringify(PEER_ROW) }, cookie);
    t.same(
      page.changes().map(({ params }) => params),
      [
        { resource_type: 'peers', id: PEER_ID, data: { ...PEER_ROW, note: 'new <note>' } },
        { resource_type: 'peers', id: PEER_ID, data: { ...PEER_ROW, note: null } },
        { resource_type: 'peers', id: PEER_ID, data: PEER_ROW },
      ],
    );
    t.ok(page.changes().every(({ method }) => method === 'resources.update'));
  });

  t.test('an emptied field the schema does not let be null is left out; a read-only field is not taken from the form', async (t) => {
    page.calls.length = 0;
    const row = { ...REQUEST_ROW, decision: 'accept' };
    await page.post('/ui/resources/requests/update', { id: REQUEST_ID, row: JSON.stringify(row), 'field.decision': '', 'field.state': 'trusted', 'field.fingerprint': 'forged' }, cookie);
    const sent = page.changes()[0]?.params['data'] as Record<string, unknown>;
    t.notOk('decision' in sent, 'the emptied decision is left out');
    t.equal(sent['state'], 'waiting_for_you', 'read-only fields come from the row, never from form fields');
    t.equal(sent['fingerprint'], REQUEST_ROW.fingerprint);
  });

  t.test('a create sends the editable fields entered', async (t) => {
    page.calls.length = 0;
    await page.post('/ui/resources/peers/create', { 'field.link': 'p2p-comm://abc', 'field.note': '', 'field.id': 'forged', row: '{"state":"trusted"}' }, cookie);
    t.same(page.changes(), [{ method: 'resources.create', params: { resource_type: 'peers', data: { link: 'p2p-comm://abc', note: null } } }], 'no id, no row, no read-only field');
  });

  t.test('a row that is not JSON is 400 and reaches nothing', async (t) => {
    page.calls.length = 0;
    const reply = await page.post('/ui/resources/peers/update', { id: PEER_ID, row: '{not json', 'field.note': 'x' }, cookie);
    t.equal(reply.status, 400);
    t.match(reply.body, 'invalid_input');
    t.same(page.changes(), []);
  });

  t.test('an unknown resource type is 404', async (t) => {
    for (const type of ['nope', 'constructor', '__proto__', 'tostring', 'hasownproperty']) {
      const reply = await page.post(`/ui/resources/${type}/create`, { 'field.link': 'x' }, cookie);
      t.equal(reply.status, 404, type);
      t.match(reply.body, '<code>unknown_resource_type</code>', 'an inherited name is no resource type either');
    }
    for (const path of ['/ui/resources/peers/list', '/ui/resources/Peers/delete', '/ui/resources/peers/delete/x', '/ui/resources/peers%2Fdelete']) {
      t.equal((await page.post(path, { id: PEER_ID }, cookie)).status, 404, path);
    }
    t.same(page.changes(), []);
  });

  t.test('a form in another content type is 415 and reaches nothing', async (t) => {
    for (const type of ['application/json', 'text/plain', 'multipart/form-data; boundary=x', '']) {
      const reply = await page.send('/ui/resources/peers/delete', { method: 'POST', headers: { cookie, origin: page.origin, 'content-type': type }, body: `id=${PEER_ID}` });
      t.equal(reply.status, 415, JSON.stringify(type));
      t.match(reply.body, 'not_a_form');
    }
    t.same(page.changes(), []);
  });

  t.test('a form over 64 KiB is 413, declared or streamed, and the page keeps serving', async (t) => {
    const headers = { cookie, origin: page.origin, 'content-type': 'application/x-www-form-urlencoded' };
    const declared = await page.send('/ui/resources/peers/create', { method: 'POST', headers, body: `field.link=${'x'.repeat(MAX_FORM_BYTES)}` });
    t.equal(declared.status, 413);
    t.match(declared.body, 'form_too_large');
    const streamed = await streamForm(page.port, '/ui/resources/peers/create', headers, MAX_FORM_BYTES + 1);
    t.equal(streamed.status, 413, 'a chunked form growing over the limit');
    t.match(streamed.body, 'form_too_large');
    t.same(page.changes(), []);
    t.equal((await page.send('/ui/', { headers: { cookie } })).status, 200, 'still serving');
    const atLimit = `id=${PEER_ID}&pad=${'x'.repeat(MAX_FORM_BYTES - 60 - PEER_ID.length)}`;
    t.ok(Buffer.byteLength(atLimit) <= MAX_FORM_BYTES);
    t.equal((await page.send('/ui/resources/peers/delete', { method: 'POST', headers, body: atLimit })).status, 303, 'a form just under the limit goes through');
  });

  t.test('an extension error on create is shown once on the next page, as failed', async (t) => {
    page.answers.set('resources.create', () => ({ id: 1, error: { code: -32000, message: 'invalid_input: <link> is not a pairing link', data: { error: 'invalid_input' } } }));
    t.teardown(() => page.answers.delete('resources.create'));
    const reply = await page.post('/ui/resources/peers/create', { 'field.link': 'nonsense' }, cookie);
    t.equal(reply.status, 303, 'the form still goes back to the page');
    // The script swaps in the live sections only, so a refresh must leave the notice for the page itself.
    t.equal((await page.send('/ui/', { headers: { cookie, 'x-page-refresh': '1' } })).status, 200);
    const first = await page.send('/ui/', { headers: { cookie } });
    t.same(notice(first.body), { className: 'notice failed', text: 'Peers: invalid_input: &lt;link&gt; is not a pairing link' });
    const second = await page.send('/ui/', { headers: { cookie } });
    t.equal(notice(second.body), undefined, 'shown once');
    t.notMatch(second.body, 'is not a pairing link');
  });

  t.test('a notice belongs to the session that sent the form', async (t) => {
    const other = await page.login();
    await page.post('/ui/resources/peers/delete', { id: PEER_ID }, cookie);
    t.equal(notice((await page.send('/ui/', { headers: { cookie: other } })).body), undefined);
    t.ok(notice((await page.send('/ui/', { headers: { cookie } })).body));
  });

  t.test('a listing the extension refuses is shown in its section; the rest of the page, dialogs included, still works', async (t) => {
    page.answers.set('resources.list', (params) =>
      params['resource_type'] === 'peers' ? { id: 1, error: { code: -32000, message: 'not_initialized: <starting>' } } : ok({ success: true, data: { items: [], total: 0 }, message: null }),
    );
    t.teardown(() => page.answers.delete('resources.list'));
    const reply = await page.send('/ui/', { headers: { cookie } });
    t.equal(reply.status, 200);
    t.match(reply.body, /<section class="resource" id="resource-peers" data-live>\s*<h2>Peers<\/h2>\s*<p class="notice failed">Could not be listed: not_initialized: &lt;starting&gt;/);
    t.match(reply.body, 'id="resource-requests"', 'the other type is listed');
    t.match(reply.body, 'id="dialogs"', 'dialogs never need the extension');
    t.match(reply.body, 'id="own-fingerprint"');
  });

  t.test('a sort column the schema does not have (an old bookmark) is not sent to the extension', async (t) => {
    const before = page.calls.length;
    t.equal((await page.send('/ui/?peers.sort=no_such_column&peers.order=desc', { headers: { cookie } })).status, 200);
    const listing = page.calls.slice(before).find((call) => call.method === 'resources.list' && call.params['resource_type'] === 'peers');
    t.match(listing?.params, { sort_by: 'self_chosen_name', sort_order: 'asc' }, "the manifest's order");
  });
});

t.test('listing: paging and sorting reach the extension', async (t) => {
  const page = await startPage(t, { pageSize: 2 });
  const cookie = await page.login();
  page.rows['peers'] = [PEER_ROW, { ...PEER_ROW, id: `${'d'.repeat(51)}q` }];
  page.answers.set('resources.list', (params) =>
    ok({ success: true, data: { items: params['resource_type'] === 'peers' ? page.rows['peers'] : [], total: params['resource_type'] === 'peers' ? 5 : 0 }, message: null }),
  );
  page.calls.length = 0;
  const main = (await page.send('/ui/?peers.page=2&peers.sort=note&peers.order=desc&requests.page=-1', { headers: { cookie } })).body;
  const lists = page.calls.filter(({ method }) => method === 'resources.list').map(({ params }) => params);
  t.same(lists, [
    { resource_type: 'peers', page: 2, page_size: 2, sort_order: 'desc', sort_by: 'note' },
    { resource_type: 'requests', page: 1, page_size: 2, sort_order: 'desc', sort_by: 'created_at' },
  ], 'the page\'s parameters, and the manifest\'s defaults where none or a bad one is given');
  t.match(main, 'page 2 of 3');
  t.match(main, /href="\/ui\/\?peers\.page=1&amp;peers\.sort=note&amp;peers\.order=desc&amp;requests\.page=-1#resource-peers">previous</);
  t.match(main, /href="\/ui\/\?peers\.page=3&amp;[^"]*#resource-peers">next</);
});

t.test('dialogs on the page', async (t) => {
  const page = await startPage(t);
  const cookie = await page.login();
  const pending = page.dialogs.approvePermission(CONTEXT, new AbortController().signal);
  const dialog = page.dialogs.list()[0];
  const main = (await page.send('/ui/', { headers: { cookie } })).body;
  t.match(main, `data-dialog="${dialog?.id}"`);
  t.match(main, '<button type="submit" name="answer" value="approve">Approve from now on</button>');

  const wrong = await page.post('/ui/dialogs', { dialog: dialog?.id ?? '', answer: 'allow' }, cookie);
  t.equal(wrong.status, 303);
  t.same(notice((await page.send('/ui/', { headers: { cookie } })).body), { className: 'notice failed', text: 'That is not one of the answers offered.' });
  t.equal(page.dialogs.list().length, 1, 'still open');

  await page.post('/ui/dialogs', { dialog: dialog?.id ?? '', answer: 'once' }, cookie);
  t.equal(await pending, 'once');
  t.same(notice((await page.send('/ui/', { headers: { cookie } })).body), { className: 'notice', text: 'Answered “once” to plugin “agent”: send.' });

  await page.post('/ui/dialogs', { dialog: dialog?.id ?? '', answer: 'approve' }, cookie);
  t.match(notice((await page.send('/ui/', { headers: { cookie } })).body), { className: 'notice failed', text: /no longer open/ });
  t.same(page.changes(), [], 'answering a dialog calls nothing on the extension');
});

t.test('a received message is shown on request, as text', async (t) => {
  const page = await startPage(t);
  const cookie = await page.login();
  page.answers.set('execute:receive', (params) => {
    const input = params['input'] as { after: number };
    return ok({ success: true, data: { messages: [{ cursor: input.after + 1, message_id: 'ab', type: 'text', sent_at: 'now', content: `hi ${HOSTILE}` }] }, message: null });
  });
  const reply = await page.send(`/ui/message?peer=${PEER_ID}&cursor=3`, { headers: { cookie } });
  t.equal(reply.status, 200);
  t.match(reply.body, '<pre class="untrusted" id="message-content">hi &quot;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;</pre>');
  t.same(page.calls.at(-1), { method: 'execute', params: { operation: 'receive', input: { peer: PEER_ID, after: 2, limit: 1 } } });
  for (const query of [`peer=${PEER_ID}&cursor=0`, `peer=${PEER_ID}&cursor=x`, `peer=${PEER_ID}`, 'peer=nope&cursor=1', `peer=${PEER_ID}x&cursor=1`]) {
    t.equal((await page.send(`/ui/message?${query}`, { headers: { cookie } })).status, 400, query);
  }
  t.equal((await page.send(`/ui/message?peer=${PEER_ID}&cursor=3`)).status, 401, 'not without a session');
});

t.test('a peer\'s recent messages: what, never what was said, and a link only to one still in the inbox', async (t) => {
  const page = await startPage(t);
  const cookie = await page.login();
  t.match((await page.send('/ui/', { headers: { cookie } })).body, 'No messages since this host started.');
  page.activity.event({ id: '1', type: 'p2p.message.received', data: { peer: PEER_ID, message_id: `m1${HOSTILE}`, type: `text${HOSTILE}`, size: 5, cursor: 4 } });
  page.activity.call('send', { peer: PEER_ID, type: 'text', content: 'secret words' }, { success: true, data: { message_id: 'm2', state: 'queued', size: 12 } });
  page.activity.event({ id: '2', type: 'p2p.message.failed', data: { peer: PEER_ID, message_id: 'm2', reason: `peer_revoked${HOSTILE}` } });
  const body = (await page.send('/ui/', { headers: { cookie } })).body;
  const table = /<table class="activity">.*?<\/table>/s.exec(body)?.[0] ?? '';
  t.notMatch(table, /<img|<script>/);
  t.notMatch(body, 'secret words', 'content is never on the page');
  const rows = [...table.matchAll(/<tr data-message="([^"]*)">(.*?)<\/tr>/gs)];
  t.same(rows.map((row) => row[1]), ['m2', 'm1&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;'], 'newest first');
  t.match(rows[0]?.[2], '<td>to them</td><td>text</td><td>12 B</td>');
  t.match(rows[0]?.[2], '<span class="chip chip-failed">failed</span> <small>peer_revoked&quot;&gt;&lt;img');
  t.notMatch(rows[0]?.[2], '<a ', 'a sent message has no content to open here');
  t.match(rows[1]?.[2], `<td>from them</td><td>text&quot;&gt;&lt;img`);
  t.match(rows[1]?.[2], `<a href="/ui/message?peer=${PEER_ID}&amp;cursor=4">Open</a>`);
});

t.test('update streams', async (t) => {
  const page = await startPage(t, { maxUpdateStreams: 2 });
  const cookie = await page.login();
  t.equal((await page.send('/ui/updates')).status, 401, 'not without a session');
  const first = await openStream(t, page.port, cookie);
  const second = await openStream(t, page.port, cookie);
  const refused = await page.send('/ui/updates', { headers: { cookie } });
  t.equal(refused.status, 503);
  t.match(refused.body, '<code>too_many_pages</code>');

  const told = Promise.all([first.next(), second.next()]);
  page.page.changed();
  t.same(await told, ['event: change\ndata: \n\n', 'event: change\ndata: \n\n'], 'every open page is told of a change');

  const dialogShown = first.next();
  const pending = page.dialogs.approveHighRisk(CONTEXT, new AbortController().signal);
  t.equal(await dialogShown, 'event: change\ndata: \n\n', 'a new dialog is a change');
  page.dialogs.answer(page.dialogs.list()[0]?.id ?? '', 'deny');
  await pending;

  first.close();
  // The host learns of the close from its socket; until then a third page is still refused.
  const freed = await eventually(async () => {
    const opened = await openStream(t, page.port, cookie, { refusedIsUndefined: true });
    return opened ?? false;
  }, 'a closed stream freeing its place');
  t.ok(freed, 'a page closed makes room for another');
});

t.test('a session that logs out or expires hears no more changes', async (t) => {
  const clock = { ms: Date.parse('2026-11-30T12:00:00Z') };
  const page = await startPage(t, { now: () => clock.ms });
  const [leaving, staying, expiring] = [await page.login(), await page.login(), await page.login()];
  const streams = { leaving: await openStream(t, page.port, leaving), staying: await openStream(t, page.port, staying) };
  t.equal((await page.post('/ui/logout', {}, leaving)).status, 303);
  await streams.leaving.ended;
  t.pass('logging out ends that session\'s stream');
  const told = streams.staying.next();
  page.page.changed();
  t.equal(await told, 'event: change\ndata: \n\n', 'another session still hears');

  const late = await openStream(t, page.port, expiring);
  clock.ms += page.sessions.ttlSeconds * 1000 + 1;
  page.page.changed();
  await late.ended;
  t.pass('an expired session\'s stream is ended at the next change');
});

/** An open /ui/updates stream: each next() is the next chunk the host writes. */
interface UpdateStream {
  next(): Promise<string>;
  close(): void;
  /** Resolves when the host ends the stream. */
  ended: Promise<void>;
}

async function openStream(t: Test, port: number, cookie: string): Promise<UpdateStream>;
async function openStream(t: Test, port: number, cookie: string, options: { refusedIsUndefined: true }): Promise<UpdateStream | undefined>;
async function openStream(t: Test, port: number, cookie: string, options: { refusedIsUndefined?: boolean } = {}): Promise<UpdateStream | undefined> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const outgoing = httpRequest({ host: '127.0.0.1', port, path: '/ui/updates', agent: false, headers: { host: `127.0.0.1:${port}`, cookie } }, resolve);
    outgoing.on('error', reject);
    outgoing.end();
  });
  if (options.refusedIsUndefined === true && response.statusCode === 503) {
    response.resume();
    return undefined;
  }
  t.equal(response.statusCode, 200);
  t.match(response.headers['content-type'], 'text/event-stream');
  response.setEncoding('utf8');
  const chunks: string[] = [];
  const waiting: ((chunk: string) => void)[] = [];
  response.on('data', (chunk: string) => {
    const waiter = waiting.shift();
    if (waiter === undefined) chunks.push(chunk);
    else waiter(chunk);
  });
  response.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => response.once('end', resolve));
  const stream = {
    ended,
    next: (): Promise<string> => {
      const chunk = chunks.shift();
      return chunk === undefined ? new Promise((resolve) => waiting.push(resolve)) : Promise.resolve(chunk);
    },
    close: () => response.destroy(),
  };
  t.equal(await stream.next(), ': connected\n\n');
  t.teardown(() => stream.close());
  return stream;
}

/** A chunked form (no content-length) of `size` bytes, in 16 KiB pieces. */
function streamForm(port: number, path: string, headers: Record<string, string>, size: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const outgoing = httpRequest(
      { host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { host: `127.0.0.1:${port}`, 'transfer-encoding': 'chunked', ...headers } },
      (response) => {
        answered = true;
        collect(response).then(resolve, reject);
      },
    );
    outgoing.on('error', (error) => {
      if (!answered) reject(error);
    });
    const piece = Buffer.alloc(16 * 1024, 0x78);
    let sent = 0;
    const pump = (): void => {
      while (sent < size && !answered) {
        const chunk = piece.subarray(0, Math.min(piece.length, size - sent));
        sent += chunk.length;
        if (!outgoing.write(chunk)) {
          outgoing.once('drain', pump);
          return;
        }
      }
      outgoing.end();
    };
    outgoing.write('field.link=');
    pump();
  });
}
