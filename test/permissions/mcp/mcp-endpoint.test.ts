import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import t, { type Test } from 'tap';
import type { PluginDeclaration } from '../../../permissions/gate/types';
import { EventHub } from '../../../permissions/http/event-hub';
import { HostApi, type ExecutionOutcome } from '../../../permissions/http/host-api';
import { TokenStore } from '../../../permissions/http/tokens';
import type { McpEndpointOptions } from '../../../permissions/mcp/mcp-endpoint';
import { MessageArrivals } from '../../../permissions/mcp/message-arrivals';
import { FakeInbox } from '../../helpers/fake-inbox';
import { eventually } from '../../helpers/node';

const PEER = 'a'.repeat(51) + 'q';
const PLUGINS: PluginDeclaration[] = [
  { id: 'claude', secret: 'secret-of-claude-0123', extensions: { 'p2p-comm': ['receive', 'ack', 'status'] } },
  { id: 'other', secret: 'secret-of-other-01234', extensions: { 'p2p-comm': ['status'] } },
];

interface Harness {
  url: string;
  inbox: FakeInbox;
  arrivals: MessageArrivals;
  /** The operations that went through the gate, in order. */
  gated: string[];
  /** Stops the host now (teardown then has nothing left to stop). */
  stop(): Promise<void>;
  token(plugin: string): Promise<string>;
  /** Moves the MCP endpoint's clock (session idleness). */
  advance(ms: number): void;
}

/** The Host API with every call allowed by the gate and answered by a fake inbox. */
async function startApi(t: Test, mcp: Omit<McpEndpointOptions, 'now'> = {}): Promise<Harness> {
  let now = 1_000_000;
  const inbox = new FakeInbox([PEER]);
  const arrivals = new MessageArrivals();
  const gated: string[] = [];
  const execute = async (operation: string, input: unknown): Promise<ExecutionOutcome> => {
    const outcome = await inbox.call(operation, input as Record<string, unknown>);
    return outcome.kind === 'answered' ? { result: outcome.result } : { error: { message: 'refused' } };
  };
  const api = new HostApi(
    {
      plugins: new Map(PLUGINS.map((plugin) => [plugin.id, plugin])),
      tokens: new TokenStore(),
      gate: {
        check: async (_plugin, operation) => {
          gated.push(operation);
          return { allowed: true };
        },
      },
      execute,
      extension: { id: 'p2p-comm', display_name: 'P2P Comm', description: 'Direct messaging.', operations: [] },
      events: new EventHub({ extensionId: 'p2p-comm' }),
      permissions: { isActive: () => true, scopeApproved: () => true, scopeDenied: () => false },
      arrivals,
    },
    { mcp: { ...mcp, now: () => now } },
  );
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= api.close());
  t.teardown(stop);
  const url = await api.listen().then(({ host, port }) => `http://${host}:${port}`);
  return {
    url,
    inbox,
    arrivals,
    gated,
    stop,
    advance: (ms) => {
      now += ms;
    },
    token: async (plugin) => {
      const secret = PLUGINS.find((candidate) => candidate.id === plugin)?.secret;
      const response = await fetch(`${url}/api/v1/auth/token`, { method: 'POST', body: JSON.stringify({ plugin_id: plugin, secret }) });
      return ((await response.json()) as { access_token: string }).access_token;
    },
  };
}

async function connect(t: Test, api: Harness, plugin: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', api.url), { requestInit: { headers: { authorization: `Bearer ${await api.token(plugin)}` } } });
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(transport);
  t.teardown(() => client.close());
  return { client, transport };
}

function post(api: Harness, token: string, body: unknown, sessionId?: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${api.url}/mcp`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(sessionId === undefined ? {} : { 'mcp-session-id': sessionId }),
    },
    body: JSON.stringify(body),
    ...(signal === undefined ? {} : { signal }),
  });
}

const LIST = { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} };

t.test('/mcp needs a bearer token and refuses what the rest of the Host API refuses', async (t) => {
  const api = await startApi(t);
  const bare = await fetch(`${api.url}/mcp`, { method: 'POST', body: JSON.stringify(LIST) });
  t.equal(bare.status, 401);
  const fromPage = await fetch(`${api.url}/mcp`, { method: 'POST', body: JSON.stringify(LIST), headers: { authorization: `Bearer ${await api.token('claude')}`, origin: 'https://example.com' } });
  t.equal(fromPage.status, 403, 'a web page is refused');
  t.equal((await fetch(`${api.url}/mcp`, { headers: { authorization: `Bearer ${await api.token('claude')}` } })).status, 405, 'no stream of server messages (GET)');
});

t.test('a session starts with initialize and belongs to the plugin that started it', async (t) => {
  const api = await startApi(t);
  const noSession = await post(api, await api.token('claude'), LIST);
  t.equal(noSession.status, 400);
  t.match(await noSession.json(), { error: { message: /starts with an initialize request/ } });
  const { transport } = await connect(t, api, 'claude');
  const sessionId = transport.sessionId as string;
  t.equal((await post(api, await api.token('claude'), LIST, sessionId)).status, 200, 'its own plugin uses it');
  const stolen = await post(api, await api.token('other'), LIST, sessionId);
  t.equal(stolen.status, 404, "another plugin is told it does not exist");
});

t.test('an idle session ends; its client is told to start a new one (404)', async (t) => {
  const api = await startApi(t, { sessionIdleMs: 60_000 });
  const { client } = await connect(t, api, 'claude');
  api.advance(59_000);
  await client.listTools();
  api.advance(61_000);
  await t.rejects(client.listTools(), { code: 404 });
});

t.test("a plugin's sessions are bounded: a new one closes its least recently used", async (t) => {
  const api = await startApi(t, { maxSessionsPerPlugin: 2 });
  const first = await connect(t, api, 'claude');
  api.advance(1);
  const second = await connect(t, api, 'claude');
  api.advance(1);
  await first.client.listTools();
  api.advance(1);
  await connect(t, api, 'claude');
  await first.client.listTools();
  await t.rejects(second.client.listTools(), { code: 404 }, 'the least recently used one was closed');
});

t.test('a client that drops its connection mid-call cancels it: what arrives then is not handed over', async (t) => {
  const api = await startApi(t);
  const token = await api.token('claude');
  const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
  const sessionId = (await post(api, token, initialize)).headers.get('mcp-session-id') as string;
  const controller = new AbortController();
  const call = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'p2p_get_messages', arguments: { peer: PEER } } };
  const dropped = post(api, token, call, sessionId, controller.signal);
  await api.inbox.receives(1);
  t.equal(api.arrivals.armedCount, 1, 'the poll waits');
  controller.abort();
  await t.rejects(dropped);
  await eventually(async () => api.arrivals.armedCount === 0, 'the dropped poll to stop waiting');
  // Had it gone on waiting, this message would be handed to nobody, and acknowledged by the next call.
  api.arrivals.event(api.inbox.deliver(PEER, 'arrived as the client left'));
  const next = await post(api, token, { ...call, id: 8, params: { ...call.params, arguments: { peer: PEER, wait_seconds: 0 } } }, sessionId);
  t.match(JSON.stringify(await next.json()), /arrived as the client left/);
  t.notOk(api.inbox.calls.some((entry) => entry.operation === 'ack'), 'nothing acknowledged');
});

t.test('a poll without a peer reads the paired peers, listed by the host: the client needs no peers permission', async (t) => {
  const api = await startApi(t);
  const { client } = await connect(t, api, 'claude');
  api.inbox.deliver(PEER, 'for whoever reads');
  const result = await client.callTool({ name: 'p2p_get_messages', arguments: { wait_seconds: 0 } });
  t.match(JSON.stringify(result), /for whoever reads/);
  t.same(api.gated, ['receive'], 'only the read went through the gate');
  t.ok(api.inbox.calls.some((entry) => entry.operation === 'peers'), 'the host listed the peers itself');
});

t.test('a host that stops during a long poll answers it, saying so, before it closes', async (t) => {
  const api = await startApi(t);
  const { client } = await connect(t, api, 'claude');
  const polling = client.callTool({ name: 'p2p_get_messages', arguments: { peer: PEER } });
  await api.inbox.receives(1);
  await api.stop();
  const result = (await polling) as { isError?: boolean; content: { text: string }[] };
  t.equal(result.isError, true);
  t.match(result.content[0]?.text, /The p2p-comm host stopped while this call waited/);
});
