import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { manifest } from '../../extension/common/manifest';
import { permissionName } from '../gate/types';
import type { PluginPermissions } from '../http/event-permissions';
import type { GatedCallOutcome } from '../http/gated-call';
import type { LongPollLimits } from './get-messages';
import { cancelledRequestOf, requestIdsIn } from './jsonrpc-messages';
import type { ArrivalSource } from './message-arrivals';
import { createMcpServer, ToolSet } from './mcp-server';
import type { ReadAccess } from './tool-answers';
import { HostStopping, RequestCancellations } from './request-cancellations';
import { toolCatalog } from './tools';

/**
 * `POST /mcp` on the Host API: MCP over Streamable HTTP, for a client that
 * authenticates as a plugin (its bearer token, checked by the Host API
 * before this runs). Each client session gets its own MCP server bound to
 * that plugin; a session belongs to the plugin that opened it, and another
 * plugin naming it is told it does not exist.
 *
 * Answers are plain JSON (no event stream): one HTTP request per MCP
 * request, so a client that goes away mid-call ends its request, which
 * counts as cancelling it. GET (a stream of server-initiated messages) and
 * DELETE are not offered (405): this server sends nothing unasked, and
 * sessions end when idle.
 */
export interface McpEndpointDeps {
  /** One operation through the gate as `plugin`: the same path as POST /api/v1/extensions/p2p-comm/<op>. */
  call(plugin: string, operation: string, input: unknown, signal: AbortSignal): Promise<GatedCallOutcome>;
  permissions: PluginPermissions;
  extensionId: string;
  /** Messages arriving from peers, followed from the extension's events: what p2p_get_messages waits for. */
  arrivals: ArrivalSource;
  /** The extension's `peers`, called by the host itself: no plugin is calling, and no client sees it (p2p_get_messages reads the paired peers). */
  listPeers(): Promise<{ result?: unknown; error?: { message: string } }>;
}

export interface McpEndpointOptions {
  limits?: Partial<LongPollLimits>;
  /** Open sessions on this host; a new one beyond it is refused (503) until one ends. */
  maxSessions?: number;
  /** Open sessions of one plugin; opening one more closes that plugin's least recently used idle session. */
  maxSessionsPerPlugin?: number;
  /** A session without a request for this long is closed; its client starts a new one (404 tells it to). */
  sessionIdleMs?: number;
  /** When the host stops, how long the calls still running may take to answer (saying the host stops) before their sessions close. */
  closeGraceMs?: number;
  /** Milliseconds; injectable so tests can age sessions. */
  now?: () => number;
}

export const DEFAULT_MAX_SESSIONS = 64;
export const DEFAULT_MAX_SESSIONS_PER_PLUGIN = 8;
export const DEFAULT_SESSION_IDLE_MS = 60 * 60 * 1000;
/** A stopped call answers within milliseconds; a dialog it waited on is taken down at once. */
export const DEFAULT_CLOSE_GRACE_MS = 2000;

interface Session {
  plugin: string;
  server: Server;
  transport: StreamableHTTPServerTransport;
  cancellations: RequestCancellations;
  lastUsedAt: number;
  requestsInFlight: number;
}

/** A JSON-RPC error a client reads before any session exists (or after its own ended). */
type Refusal = { status: number; message: string };

export class McpEndpoint {
  private readonly toolSet: ToolSet;
  /** By session id; only sessions whose initialize succeeded. */
  private readonly sessions = new Map<string, Session>();
  private readonly maxSessions: number;
  private readonly maxSessionsPerPlugin: number;
  private readonly sessionIdleMs: number;
  private readonly closeGraceMs: number;
  private readonly now: () => number;
  /** The requests being handled now. */
  private readonly handling = new Set<Promise<void>>();
  private stopping = false;

  constructor(
    private readonly deps: McpEndpointDeps,
    options: McpEndpointOptions = {},
  ) {
    this.toolSet = new ToolSet(toolCatalog({ manifest, ...(options.limits === undefined ? {} : { limits: options.limits }) }));
    this.maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.maxSessionsPerPlugin = options.maxSessionsPerPlugin ?? DEFAULT_MAX_SESSIONS_PER_PLUGIN;
    this.sessionIdleMs = options.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS;
    this.closeGraceMs = options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
    this.now = options.now ?? Date.now;
  }

  /** One HTTP request of an authenticated plugin, its body already read. */
  async handle(request: IncomingMessage, response: ServerResponse, plugin: string, body: unknown): Promise<void> {
    if (this.stopping) return sendRpcError(response, { status: 503, message: 'The p2p-comm host is stopping' });
    const handled = this.handleRequest(request, response, plugin, body);
    this.handling.add(handled);
    try {
      await handled;
    } finally {
      this.handling.delete(handled);
    }
  }

  private async handleRequest(request: IncomingMessage, response: ServerResponse, plugin: string, body: unknown): Promise<void> {
    await this.closeIdle();
    const header = request.headers['mcp-session-id'];
    const found = typeof header === 'string' ? this.find(header, plugin) : await this.open(plugin, body);
    if ('status' in found) {
      sendRpcError(response, found);
      return;
    }
    const session = found;
    session.requestsInFlight += 1;
    session.lastUsedAt = this.now();
    // A client that closes its connection before the answer will never read it: that is a cancellation.
    const requestIds = requestIdsIn(body);
    response.once('close', () => {
      if (!response.writableFinished) for (const id of requestIds) session.cancellations.cancel(id);
    });
    try {
      await session.transport.handleRequest(request, response, body);
    } finally {
      session.requestsInFlight -= 1;
      session.lastUsedAt = this.now();
    }
    // A session whose initialize failed never got an id: nothing can reach it again.
    if (session.transport.sessionId === undefined) await session.server.close();
  }

  /**
   * Ends every session. Requests still running stop, and get a short while
   * to answer before their sessions close: a long poll tells its client the
   * host stopped, rather than its connection just breaking.
   */
  async close(): Promise<void> {
    this.stopping = true;
    for (const session of this.sessions.values()) session.cancellations.cancelAll(new HostStopping());
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.closeGraceMs)));
    await Promise.race([Promise.allSettled([...this.handling]), grace]);
    clearTimeout(timer);
    await Promise.all([...this.sessions.keys()].map((id) => this.closeSession(id)));
  }

  private find(id: string, plugin: string): Session | Refusal {
    const session = this.sessions.get(id);
    // Another plugin's session is not one this plugin may learn exists.
    if (session === undefined || session.plugin !== plugin) {
      return { status: 404, message: 'Session not found: it ended (idle, or the host restarted); start a new one with initialize' };
    }
    return session;
  }

  private async open(plugin: string, body: unknown): Promise<Session | Refusal> {
    if (!isInitializeRequest(body)) {
      return { status: 400, message: 'Bad request: no mcp-session-id header; a session starts with an initialize request' };
    }
    const own = [...this.sessions.entries()].filter(([, session]) => session.plugin === plugin);
    if (own.length >= this.maxSessionsPerPlugin) {
      const idle = own.filter(([, session]) => session.requestsInFlight === 0).sort(([, a], [, b]) => a.lastUsedAt - b.lastUsedAt)[0];
      if (idle === undefined) return { status: 429, message: `Too many sessions: plugin ${plugin} has ${own.length} sessions open, each with a call running` };
      await this.closeSession(idle[0]);
    }
    if (this.sessions.size >= this.maxSessions) {
      return { status: 503, message: `Too many sessions: ${this.sessions.size} MCP sessions are open on this host; try again later` };
    }
    const cancellations = new RequestCancellations();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (id) => void this.sessions.set(id, session),
    });
    const server = createMcpServer(
      this.toolSet,
      {
        plugin,
        cancellations,
        call: (operation, input, signal) => this.deps.call(plugin, operation, input, signal),
        readAccess: (peer) => readAccessOf(this.deps.permissions, plugin, permissionName(this.deps.extensionId, 'receive'), peer),
        pairedPeers: async () => pairedPeerIds(await this.deps.listPeers()),
        arrivals: this.deps.arrivals,
      },
      manifest.version,
    );
    const session: Session = { plugin, server, transport, cancellations, lastUsedAt: this.now(), requestsInFlight: 0 };
    await server.connect(transport);
    interceptCancellations(transport, cancellations);
    return session;
  }

  private async closeIdle(): Promise<void> {
    const idleSince = this.now() - this.sessionIdleMs;
    const idle = [...this.sessions.entries()].filter(([, session]) => session.requestsInFlight === 0 && session.lastUsedAt <= idleSince);
    await Promise.all(idle.map(([id]) => this.closeSession(id)));
  }

  private async closeSession(id: string): Promise<void> {
    const session = this.sessions.get(id);
    if (session === undefined) return;
    this.sessions.delete(id);
    // Nothing runs in it any more (idle, or the host stops and stopped its calls first).
    await session.server.close();
  }
}

/**
 * Takes `notifications/cancelled` before the SDK does: the SDK would
 * answer a cancelled request never, and the client's HTTP request would
 * hang; RequestCancellations stops the handler, which still answers.
 */
function interceptCancellations(transport: StreamableHTTPServerTransport, cancellations: RequestCancellations): void {
  const deliver = transport.onmessage;
  transport.onmessage = (message, extra) => {
    const cancelled = cancelledRequestOf(message);
    if (cancelled !== undefined) cancellations.cancel(cancelled);
    else deliver?.(message, extra);
  };
}

/** Allowed without a dialog only while the permission is active and the peer approved; the gate asks about anything else it does not refuse. */
function readAccessOf(permissions: PluginPermissions, plugin: string, receive: string, peer: string): ReadAccess {
  if (permissions.scopeDenied(plugin, receive, peer)) return 'denied';
  return permissions.isActive(plugin, receive) && permissions.scopeApproved(plugin, receive, peer) ? 'allowed' : 'ask';
}

/** The ids of the peers in state `trusted` in the extension's `peers` answer. */
function pairedPeerIds(outcome: { result?: unknown; error?: { message: string } }): string[] {
  if (outcome.error !== undefined) throw new Error(outcome.error.message);
  const peers = (outcome.result as { data?: { peers?: unknown } } | undefined)?.data?.peers;
  if (!Array.isArray(peers)) throw new Error('peers answered without a list of peers');
  return (peers as { peer?: unknown; state?: unknown }[]).flatMap(({ peer, state }) => (state === 'trusted' && typeof peer === 'string' ? [peer] : []));
}

function sendRpcError(response: ServerResponse, { status, message }: Refusal): void {
  const text = JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
