import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import t, { type Test } from 'tap';
import { HostNotRunningError } from '../../../permissions/mcp/host-launcher';
import { HostMovedError } from '../../../permissions/mcp/plugin-token';
import { StdioBridge, type StdioBridgeOptions } from '../../../permissions/mcp/stdio-bridge';

/**
 * The bridge between an MCP client (here an in-memory transport the test
 * drives with its own ids) and a host's /mcp endpoint (here a small fake
 * that answers like the host, and whose answers the test shapes).
 */
type RpcBody = { id?: RequestId; method?: string; params?: Record<string, unknown> };

interface FakeHost {
  url: string;
  /** What the host saw, in order: `arrived <method> <id>`, and `answered <method>` once a notification's POST was answered. */
  log: string[];
  stop(): Promise<void>;
}

interface FakeHostOptions {
  /** Answers a request other than initialize; by default `{result: {method}}`. */
  onRequest?: (body: RpcBody, response: ServerResponse) => void;
  /** Answers a notification (202) only when this resolves. */
  beforeNotificationAnswer?: (body: RpcBody) => Promise<void>;
}

async function fakeHost(t: Test, options: FakeHostOptions = {}): Promise<FakeHost> {
  const log: string[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    void (async () => {
      // As the host: no stream of server messages (the client transport asks for one after initialize).
      if (request.method !== 'POST') return void response.writeHead(405, { allow: 'POST' }).end();
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RpcBody;
      log.push(`arrived ${body.method ?? 'answer'} ${String(body.id ?? '')}`.trim());
      if (body.id === undefined) {
        await options.beforeNotificationAnswer?.(body);
        response.writeHead(202).end();
        log.push(`answered ${body.method ?? 'answer'}`);
        return;
      }
      if (body.method === 'initialize') {
        const result = { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'fake', version: '1' } };
        response.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'session-1' }).end(JSON.stringify({ jsonrpc: '2.0', id: body.id, result }));
        return;
      }
      if (options.onRequest !== undefined) return options.onRequest(body, response);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: body.id, result: { method: body.method } }));
    })();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const stop = async (): Promise<void> => {
    if (!server.listening) return;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  };
  t.teardown(stop);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, log, stop };
}

/** The MCP client's side of a bridge: requests with ids the test chooses, and the answers by id. */
class TestClient {
  private readonly answers = new Map<RequestId, (message: JSONRPCMessage) => void>();

  constructor(private readonly transport: InMemoryTransport) {
    transport.onmessage = (message) => {
      if ('id' in message && !('method' in message)) this.answers.get(message.id as RequestId)?.(message);
    };
  }

  request(id: RequestId, method: string, params: Record<string, unknown> = {}): Promise<JSONRPCMessage> {
    const answered = new Promise<JSONRPCMessage>((resolve) => this.answers.set(id, resolve));
    void this.transport.send({ jsonrpc: '2.0', id, method, params });
    return answered;
  }

  initialize(id: RequestId): Promise<JSONRPCMessage> {
    return this.request(id, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'test', version: '1' } });
  }

  notify(method: string, params: Record<string, unknown>): void {
    void this.transport.send({ jsonrpc: '2.0', method, params });
  }
}

type Launcher = StdioBridgeOptions['launcher'];

async function startBridge(t: Test, launcher: Launcher, options: Partial<StdioBridgeOptions> = {}): Promise<{ client: TestClient; logged: string[] }> {
  const [clientSide, bridgeSide] = InMemoryTransport.createLinkedPair();
  const logged: string[] = [];
  const bridge = new StdioBridge({ launcher, token: { fetch: (url, init) => fetch(url, init) }, log: (line) => logged.push(line), client: bridgeSide, ...options });
  const client = new TestClient(clientSide);
  await clientSide.start();
  await bridge.start();
  t.teardown(() => bridge.stop());
  return { client, logged };
}

/** A launcher for one host that runs until `stopped`; `started` counts the hosts it started (or found, when it may start one). */
function launcherOf(url: () => string | undefined): Launcher & { started: number } {
  const launcher = {
    started: 0,
    apiUrl: async () => {
      launcher.started += 1;
      const running = url();
      if (running === undefined) throw new Error('p2p-comm-host start exited (code 2) before listening');
      return running;
    },
    runningApiUrl: () => {
      const running = url();
      if (running === undefined) throw new HostNotRunningError('/home/someone/.p2p-comm-host');
      return running;
    },
  };
  return launcher;
}

t.test('a host that could not be started is tried again with the next message', async (t) => {
  const host = await fakeHost(t);
  let attempts = 0;
  const launcher = launcherOf(() => (++attempts === 1 ? undefined : host.url));
  const { client } = await startBridge(t, launcher);
  t.match(await client.initialize(1), { error: { message: /could not be reached: p2p-comm-host start exited/ } }, 'the failed start is reported');
  t.match(await client.initialize(2), { result: { serverInfo: { name: 'fake' } } }, 'the next message reaches the host');
  t.equal(launcher.started, 2, 'the launcher was asked again');
  t.match(await client.request(3, 'tools/list'), { result: { method: 'tools/list' } });
});

t.test('a host refused replaying initialize on a new session (503): the next message opens one again', async (t) => {
  let refuse = true;
  const host = await fakeHost(t);
  const restarted = await fakeHost(t);
  let current = host.url;
  const launcher = launcherOf(() => current);
  const { client } = await startBridge(t, launcher, {
    token: {
      fetch: async (url, init) => {
        const body = JSON.parse(String(init?.body)) as RpcBody;
        if (refuse && String(body.id).startsWith('p2p-comm-host-mcp:initialize:')) {
          refuse = false;
          return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Too many sessions' }, id: null }), { status: 503 });
        }
        return fetch(url, init);
      },
    },
  });
  await client.initialize(1);
  // The host forgot the session: the bridge opens a new one, which is refused once.
  current = restarted.url;
  await host.stop();
  t.match(await client.request(2, 'tools/list'), { error: { message: /could not be reached: .*Too many sessions/ } });
  t.match(await client.request(3, 'tools/list'), { result: { method: 'tools/list' } }, 'a new session, and the call went through');
});

t.test('a cancellation reaches the host before the call that follows it', async (t) => {
  // The host takes its time to accept the cancellation: the next call must wait for it.
  const host = await fakeHost(t, { beforeNotificationAnswer: () => new Promise((resolve) => setTimeout(resolve, 200)) });
  const { client } = await startBridge(t, launcherOf(() => host.url));
  await client.initialize(1);
  await client.request(7, 'tools/call', { name: 'p2p_get_messages', arguments: {} });
  client.notify('notifications/cancelled', { requestId: 7, reason: 'gave up' });
  const next = client.request(8, 'tools/call', { name: 'p2p_get_messages', arguments: {} });
  await next;
  const order = host.log.filter((line) => /cancelled|tools\/call 8/.test(line));
  t.same(order, ['arrived notifications/cancelled', 'answered notifications/cancelled', 'arrived tools/call 8']);
});

t.test('a connection lost during a call: the model is told it may have been done, and to check before retrying', async (t) => {
  let sends = 0;
  const host = await fakeHost(t, {
    onRequest: (_body, response) => {
      sends += 1;
      response.socket?.destroy();
    },
  });
  const { client } = await startBridge(t, launcherOf(() => host.url));
  await client.initialize(1);
  const answer = await client.request(2, 'tools/call', { name: 'p2p_send_message', arguments: { peer: 'x', type: 'text', content: 'hello' } });
  t.match(answer, { error: { message: /lost during this call .* may have been carried out\. Check before you retry: p2p_message_status/ } });
  t.equal(sends, 1, 'never sent twice');
});

t.test('a host the person stopped is not started again: the model is told how to start it', async (t) => {
  let host: FakeHost | undefined = await fakeHost(t);
  const launcher = launcherOf(() => host?.url);
  const { client } = await startBridge(t, launcher);
  await client.initialize(1);
  t.equal(launcher.started, 1, 'found when the client started');
  await host.stop();
  host = undefined;
  const answer = await client.request(2, 'tools/call', { name: 'p2p_status', arguments: {} });
  t.match(answer, { error: { message: /not running \(it was stopped\); nothing was done\. Your user can start it again with: p2p-comm-host start --host-dir/ } });
  t.equal(launcher.started, 1, 'no host was started');
  host = await fakeHost(t);
  t.match(await client.request(3, 'tools/call', { name: 'p2p_status', arguments: {} }), { result: { method: 'tools/call' } }, 'a host the person starts again is found');
});

t.test('with --restart-host, a host that went away is started again', async (t) => {
  let host: FakeHost | undefined = await fakeHost(t);
  const replacement = await fakeHost(t);
  const launcher = launcherOf(() => host?.url);
  launcher.apiUrl = async () => {
    launcher.started += 1;
    host ??= replacement;
    return host.url;
  };
  const { client } = await startBridge(t, launcher, { restartHost: true });
  await client.initialize(1);
  await host.stop();
  host = undefined;
  t.match(await client.request(2, 'tools/list'), { result: { method: 'tools/list' } });
  t.equal(launcher.started, 2, 'started again');
  t.ok(replacement.log.includes('arrived tools/list 2'));
});

t.test('a host found elsewhere before anything was sent: the message goes to the host where it runs now', async (t) => {
  const old = await fakeHost(t);
  const moved = await fakeHost(t);
  let current = old.url;
  const { client } = await startBridge(t, launcherOf(() => current), {
    token: {
      fetch: async (url, init) => {
        const origin = new URL(url).origin;
        if (origin !== current) throw new HostMovedError(origin, current);
        return fetch(url, init);
      },
    },
  });
  await client.initialize(1);
  current = moved.url;
  t.match(await client.request(2, 'tools/list'), { result: { method: 'tools/list' } });
  t.notOk(old.log.includes('arrived tools/list 2'), 'nothing went to the old port');
  t.ok(moved.log.includes('arrived tools/list 2'), 'a new session on the host where it runs, the call sent there');
});
