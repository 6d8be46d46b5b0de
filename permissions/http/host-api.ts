import { once } from 'node:events';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TokenBucket } from '../../extension/common/token-bucket';
import { permissionName, type GateVerdict, type PluginDeclaration } from '../gate/types';
import type { EventHub } from './event-hub';
import { mayReceiveEvent, type PluginPermissions } from './event-permissions';
import { extensionErrorAnswer, type ExtensionRefusal } from './extension-errors';
import { gatedCall } from './gated-call';
import { sendJson } from './json-response';
import type { TokenStore } from './tokens';
import { McpEndpoint, type McpEndpointOptions } from '../mcp/mcp-endpoint';
import type { ArrivalSource } from '../mcp/message-arrivals';
import { AnswerSignals } from '../a2a/answer-signals';
import { parseJson } from '../a2a/json-values';
import { firstJsonProblem, jsonProblemText } from '../../extension/common/json-value';
import { PeerCards } from '../a2a/peer-cards';
import { misaddressed, PeerAgentRoutes, unparsableRpc, type PeerAgentOptions } from '../a2a/peer-agent-routes';

/**
 * The part of Nexus's Host API a plugin uses to reach an extension, on
 * 127.0.0.1: token exchange, listing the extensions it declared, calling an
 * operation through the gate, and the event stream. Paths, statuses and
 * bodies follow Nexus (src-tauri/src/host_api/extensions.rs) so a plugin
 * written against this host works against Nexus. Where this host says more
 * than Nexus (a 4xx for the caller's mistakes, why a token was refused),
 * `details` is an object `{code, message}` instead of Nexus's string.
 * Beyond Nexus, `POST /mcp` serves MCP to clients that authenticate as
 * plugins (permissions/mcp), through the same gate, and `/a2a/<peer>/`
 * serves each paired peer as a local A2A agent (permissions/a2a).
 *
 * Only local programs may call it: a request addressed to another host name
 * (DNS rebinding) or sent by a web page (an Origin or Sec-Fetch-Site header)
 * is refused before anything else.
 */

/** Decides whether a plugin's call may reach the extension (permission, input schema, scope, risk). */
export interface CallGate {
  /** `signal` (MCP calls only): the caller gave up; a dialog open for the call is taken down. */
  check(plugin: string, operation: string, input: unknown, signal?: AbortSignal): Promise<GateVerdict>;
}

/** A JSON-RPC response to `execute`. */
export interface ExecutionOutcome {
  result?: unknown;
  error?: ExtensionRefusal;
}

/** The plugins declared now; asked on every request, so plugins can come and go while the host runs. */
export interface PluginProvider {
  get(id: string): PluginDeclaration | undefined;
}

/** What a plugin is told about the extension; the manifest fits. */
export interface ExtensionSummary {
  id: string;
  display_name: string;
  description: string;
  operations: readonly { name: string }[];
}

export interface HostApiDeps {
  plugins: PluginProvider;
  tokens: Pick<TokenStore, 'issue' | 'verify' | 'ttlSeconds'>;
  gate: CallGate;
  execute(operation: string, input: unknown): Promise<ExecutionOutcome>;
  extension: ExtensionSummary;
  events: Pick<EventHub, 'subscribe' | 'maxSubscribersPerPlugin'>;
  /** What the listing reports as `permitted`, and which events a plugin's stream carries. */
  permissions: PluginPermissions;
  /** Messages arriving from peers, which the MCP tool p2p_get_messages waits for; fed the extension's events. */
  arrivals: ArrivalSource;
  /** The person's web page, on the same port (paths `/` and `/ui/...`), with its own rules for browsers. */
  page?: PageHandler;
  /**
   * The extension's events about A2A requests, the pump to hurry while
   * answers are awaited, and the peers' cards kept from the events
   * (`/a2a/<peer>/`); without them, answers are found only when a wait
   * ends, and every card read lists the peers.
   */
  a2a?: { signals: AnswerSignals; hurry(): () => void; cards: PeerCards };
}

/** Serves the paths it claims; the Host API has checked the Host header first. */
export interface PageHandler {
  serves(path: string): boolean;
  handle(request: IncomingMessage, response: ServerResponse, port: number): Promise<void>;
}

export interface HostApiOptions {
  /** 0 picks a free port. */
  port?: number;
  /** Requests to the token exchange: `burst` at once, then `perSecond`. */
  tokenRateLimit?: { burst: number; perSecond: number };
  /** Milliseconds; injectable so tests can refill the token exchange's rate limit. */
  now?: () => number;
  /** The MCP endpoint's limits (POST /mcp). */
  mcp?: McpEndpointOptions;
  /** The waits of the peers' local A2A agents (/a2a/<peer>/). */
  a2a?: PeerAgentOptions;
}

/** Room for several plugins asking at once when the host starts; a guesser of secrets gets 3,600 tries an hour at most. */
export const DEFAULT_TOKEN_RATE_LIMIT = { burst: 10, perSecond: 1 };

export const HOST = '127.0.0.1';
/** Room for the largest message content (1 MiB) once escaped in JSON, plus the other fields. */
export const MAX_CALL_BODY_BYTES = 2 * 1024 * 1024 + 64 * 1024;
const MAX_TOKEN_BODY_BYTES = 16 * 1024;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** Nexus's error body: `details` is a string there, an object where this host names a code. */
type ErrorBody = { error: string; details?: string | { code: string; message: string; details?: unknown } };

/** A refusal decided while handling a request, answered as is. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.error);
  }
}

interface Route {
  method: 'GET' | 'POST';
  path: RegExp;
  /** False only for the token exchange; every other route needs a bearer token. */
  authenticated: boolean;
  handle(context: RequestContext): Promise<void>;
}

interface RequestContext {
  request: IncomingMessage;
  response: ServerResponse;
  /** The path's captured segments, URL-decoded. */
  params: string[];
  /** The authenticated plugin; empty for the token exchange. */
  pluginId: string;
}

export class HostApi {
  private readonly server: Server;
  private readonly routes: Route[];
  private readonly tokenRate: TokenBucket;
  private readonly mcp: McpEndpoint;
  private readonly peerAgents: PeerAgentRoutes;
  /** The listening port; the only one a request's Host header may name. */
  private port: number | undefined;

  constructor(
    private readonly deps: HostApiDeps,
    private readonly options: HostApiOptions = {},
  ) {
    this.routes = [
      { method: 'POST', path: /^\/api\/v1\/auth\/token$/, authenticated: false, handle: (c) => this.issueToken(c) },
      { method: 'POST', path: /^\/mcp$/, authenticated: true, handle: async (c) => this.mcp.handle(c.request, c.response, c.pluginId, await readJsonBody(c.request, MAX_CALL_BODY_BYTES)) },
      { method: 'GET', path: /^\/api\/v1\/extensions$/, authenticated: true, handle: (c) => this.listExtensions(c) },
      { method: 'POST', path: /^(?:\/api)?\/v1\/extensions\/([^/]+)\/([^/]+)$/, authenticated: true, handle: (c) => this.callExtension(c) },
      { method: 'GET', path: /^\/api\/v1\/events\/subscribe$/, authenticated: true, handle: (c) => this.subscribe(c) },
      // Public, as A2A cards are: a client reads it before it authenticates, as the card's security scheme tells it to.
      { method: 'GET', path: /^\/a2a\/([^/]+)\/\.well-known\/agent-card\.json$/, authenticated: false, handle: (c) => this.peerAgents.card(c.request, c.response, peerOf(c), this.a2aBaseUrl(peerOf(c))) },
      { method: 'POST', path: /^\/a2a\/([^/]+)\/$/, authenticated: true, handle: (c) => this.callPeerAgent(c) },
      // Where a client given the base URL without its trailing slash goes: told the right one.
      ...(['GET', 'POST'] as const).map((method) => ({ method, path: /^\/a2a\/([^/]+)$/, authenticated: false, handle: async (c: RequestContext) => misaddressed(c.request, c.response, this.apiUrl(), peerOf(c)) })),
      { method: 'GET', path: /^\/a2a\/\.well-known\/agent-card\.json$/, authenticated: false, handle: async (c) => misaddressed(c.request, c.response, this.apiUrl(), undefined) },
    ];
    this.mcp = new McpEndpoint(
      {
        call: (plugin, operation, input, signal) => gatedCall(deps, plugin, operation, input, signal),
        permissions: deps.permissions,
        extensionId: deps.extension.id,
        arrivals: deps.arrivals,
        listPeers: () => deps.execute('peers', {}),
      },
      options.mcp,
    );
    this.peerAgents = new PeerAgentRoutes(
      { gate: deps.gate, execute: (operation, input) => deps.execute(operation, input), ...(deps.a2a ?? { signals: new AnswerSignals(), hurry: () => () => undefined, cards: new PeerCards(() => deps.execute('peers', {}), false) }) },
      options.a2a,
    );
    const { burst, perSecond } = options.tokenRateLimit ?? DEFAULT_TOKEN_RATE_LIMIT;
    this.tokenRate = new TokenBucket(burst, perSecond, options.now);
    this.server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, (request, response) => {
      this.dispatch(request, response).catch((error: unknown) => this.fail(request, response, error));
    });
  }

  async listen(): Promise<{ host: string; port: number }> {
    this.server.listen(this.options.port ?? 0, HOST);
    await once(this.server, 'listening');
    const address = this.server.address() as AddressInfo;
    this.port = address.port;
    return { host: address.address, port: address.port };
  }

  private apiUrl(): string {
    return `http://${HOST}:${this.port}`;
  }

  private a2aBaseUrl(peer: string): string {
    return `${this.apiUrl()}/a2a/${encodeURIComponent(peer)}/`;
  }

  /** Stops listening and ends every open connection, event streams included. */
  async close(): Promise<void> {
    await this.mcp.close();
    const closed = new Promise<void>((resolve, reject) => this.server.close((error) => (error ? reject(error) : resolve())));
    this.server.closeAllConnections();
    await closed;
  }

  private async dispatch(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.refuseOtherHostNames(request);
    const path = (request.url ?? '/').split('?', 1)[0] ?? '/';
    const page = this.deps.page;
    if (page?.serves(path) === true && this.port !== undefined) return page.handle(request, response, this.port);
    refuseBrowsers(request);
    const matching = this.routes
      .map((route) => ({ route, match: route.path.exec(path) }))
      .filter((candidate): candidate is { route: Route; match: RegExpExecArray } => candidate.match !== null);
    if (matching.length === 0) throw new HttpError(404, { error: 'Not found' });
    const found = matching.find(({ route }) => route.method === request.method);
    if (found === undefined) {
      response.setHeader('allow', matching.map(({ route }) => route.method).join(', '));
      throw new HttpError(405, { error: 'Method not allowed' });
    }
    const params = found.match.slice(1).map(decodeSegment);
    const pluginId = found.route.authenticated ? this.authenticate(request) : '';
    await found.route.handle({ request, response, params, pluginId });
  }

  /**
   * A web page the user visits can make the browser send requests here
   * through a name of its own that it re-points at 127.0.0.1 (DNS
   * rebinding): the Host header then carries that name. Plugins and the
   * person's own page address this host by its own name.
   */
  private refuseOtherHostNames(request: IncomingMessage): void {
    const host = request.headers.host?.toLowerCase();
    if (this.port === undefined || (host !== `${HOST}:${this.port}` && host !== `localhost:${this.port}`)) {
      throw new HttpError(421, {
        error: 'Misdirected request',
        details: { code: 'host_not_allowed', message: `this API answers only requests addressed to ${HOST}:${this.port} or localhost:${this.port}` },
      });
    }
  }

  /** The plugin behind the request's bearer token; a refusal says what was wrong with the token. */
  private authenticate(request: IncomingMessage): string {
    const header = request.headers.authorization;
    if (header === undefined) throw unauthorized('token_missing', `no bearer token: send the header "authorization: Bearer <token>" with a token from ${TOKEN_PATH}`);
    const token = /^Bearer ([A-Za-z0-9_-]{1,256})$/i.exec(header)?.[1];
    if (token === undefined) throw unauthorized('token_malformed', `the authorization header is not "Bearer <token>" with a token from ${TOKEN_PATH}`);
    const verdict = this.deps.tokens.verify(token);
    if (!verdict.valid && verdict.reason === 'expired') throw unauthorized('token_expired', `the token has expired: get a new one from ${TOKEN_PATH}`);
    if (!verdict.valid) throw unauthorized('token_unknown', `this host did not issue this token, or has restarted since: get one from ${TOKEN_PATH}`);
    const plugin = this.deps.plugins.get(verdict.pluginId);
    if (plugin === undefined) {
      throw unauthorized('token_unknown', `the plugin this token was issued to, ${verdict.pluginId}, is no longer declared on this host`);
    }
    if (credentialOf(plugin) !== verdict.credential) {
      throw unauthorized('token_unknown', `the secret of plugin ${verdict.pluginId} was replaced after this token was issued: get a new one from ${TOKEN_PATH}`);
    }
    return verdict.pluginId;
  }

  private async issueToken({ request, response }: RequestContext): Promise<void> {
    if (!this.tokenRate.take()) {
      const seconds = Math.ceil(this.tokenRate.waitMs() / 1000);
      throw new HttpError(
        429,
        { error: 'Too many requests', details: { code: 'rate_limited', message: `too many token requests; try again in ${seconds} s` } },
        { 'retry-after': String(seconds) },
      );
    }
    const body = await readJsonObject(request, MAX_TOKEN_BODY_BYTES);
    const pluginId = body['plugin_id'];
    const secret = body['secret'];
    const plugin = typeof pluginId === 'string' ? this.deps.plugins.get(pluginId) : undefined;
    // One answer for an unknown plugin and a wrong secret, so neither can be probed.
    if (plugin === undefined || typeof secret !== 'string' || !secretsMatch(plugin.secret, secret)) {
      throw new HttpError(
        401,
        { error: 'Unauthorized', details: { code: 'invalid_credentials', message: 'unknown plugin_id or wrong secret' } },
        { 'www-authenticate': 'Bearer' },
      );
    }
    const { token } = this.deps.tokens.issue(plugin.id, credentialOf(plugin));
    sendJson(request, response, 200, { access_token: token, token_type: 'Bearer', expires_in: this.deps.tokens.ttlSeconds }, { 'cache-control': 'no-store' });
  }

  /** Only the extensions the plugin declared, sorted by id, as Nexus lists them. */
  private async listExtensions({ request, response, pluginId }: RequestContext): Promise<void> {
    const declared = this.deps.plugins.get(pluginId)?.extensions ?? {};
    const extensions = Object.entries(declared)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([extensionId, operations]) => this.describeExtension(pluginId, extensionId, operations));
    sendJson(request, response, 200, { extensions });
  }

  private describeExtension(pluginId: string, extensionId: string, declaredOperations: string[]): Record<string, unknown> {
    const extension = this.deps.extension;
    const available = extensionId === extension.id;
    return {
      id: extensionId,
      display_name: available ? extension.display_name : null,
      description: available ? extension.description : null,
      available,
      operations: declaredOperations.map((name) => ({
        name,
        permitted: this.deps.permissions.isActive(pluginId, permissionName(extensionId, name)),
        available: available && extension.operations.some((operation) => operation.name === name),
      })),
    };
  }

  private async callExtension({ request, response, params, pluginId }: RequestContext): Promise<void> {
    const [extensionId = '', operation = ''] = params;
    const body = await readJsonObject(request, MAX_CALL_BODY_BYTES);
    // Nexus's default when the body has no input.
    const input = Object.hasOwn(body, 'input') ? body['input'] : {};
    // 403, not 404: a plugin must not learn which extensions are installed.
    if (extensionId !== this.deps.extension.id) {
      throw new HttpError(403, { error: 'Forbidden', details: `No extension with ID '${extensionId}'` });
    }
    const outcome = await gatedCall(this.deps, pluginId, operation, input);
    if (outcome.kind === 'refused') throw new HttpError(outcome.verdict.status, errorBody(outcome.verdict.error, outcome.verdict.details));
    if (outcome.kind === 'failed') {
      const { status, body } = extensionErrorAnswer(outcome.refusal);
      throw new HttpError(status, body);
    }
    sendJson(request, response, 200, toCallResponse(outcome.result));
  }

  private async callPeerAgent(context: RequestContext): Promise<void> {
    const { request, response, pluginId } = context;
    let body: unknown;
    try {
      body = await readJsonBody(request, MAX_CALL_BODY_BYTES);
    } catch (error) {
      // A2A clients read a body that is not JSON as JSON-RPC's parse error; a body too large stays a 413.
      if (error instanceof HttpError && error.status === 400) return unparsableRpc(request, response);
      throw error;
    }
    await this.peerAgents.call(request, response, pluginId, peerOf(context), body);
  }

  private async subscribe({ response, pluginId }: RequestContext): Promise<void> {
    const extensionId = this.deps.extension.id;
    const result = this.deps.events.subscribe(response, {
      plugin: pluginId,
      // Asked per event, so a permission revoked or a plugin removed while the stream is open takes effect at once.
      accepts: (event) => this.deps.plugins.get(pluginId) !== undefined && mayReceiveEvent(this.deps.permissions, extensionId, pluginId, event),
    });
    if (result === 'hub_full') {
      throw new HttpError(503, { error: 'Service unavailable', details: { code: 'subscribers_full', message: 'too many event streams are open on this host; try again later' } });
    }
    if (result === 'plugin_full') {
      const limit = this.deps.events.maxSubscribersPerPlugin;
      throw new HttpError(429, {
        error: 'Too many requests',
        details: { code: 'plugin_subscribers_full', message: `plugin ${pluginId} already has ${limit} event streams open, the most one plugin may have: close one first` },
      });
    }
  }

  private fail(request: IncomingMessage, response: ServerResponse, error: unknown): void {
    // A stream already started cannot carry an error status any more.
    if (response.headersSent) {
      response.destroy();
      return;
    }
    if (error instanceof HttpError) {
      sendJson(request, response, error.status, error.body, error.headers);
      return;
    }
    sendJson(request, response, 500, { error: 'Internal server error' });
  }
}

/**
 * A web page can also make the browser send requests to 127.0.0.1
 * directly; the browser then adds Origin or Sec-Fetch-Site. Plugins are
 * local programs, which send neither: the API is theirs alone (the person's
 * page under /ui/ has its own rules).
 */
function refuseBrowsers(request: IncomingMessage): void {
  if (request.headers.origin !== undefined || request.headers['sec-fetch-site'] !== undefined) {
    throw new HttpError(403, {
      error: 'Forbidden',
      details: { code: 'browser_request', message: 'requests from web pages are refused: only local programs (plugins) may use this API' },
    });
  }
}

/** Reads the body up to `limit` bytes and parses it as a JSON object. */
async function readJsonObject(request: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const value = await readJsonBody(request, limit);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(400, { error: 'Invalid input', details: 'the body must be a JSON object' });
  }
  return value as Record<string, unknown>;
}

/** Reads the body up to `limit` bytes and parses it as JSON. */
async function readJsonBody(request: IncomingMessage, limit: number): Promise<unknown> {
  const tooLarge = new HttpError(413, { error: 'Payload too large', details: `the request body exceeds ${limit} bytes` });
  if (Number(request.headers['content-length']) > limit) throw tooLarge;
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // Stop collecting but leave the connection up, so the 413 still reaches the client.
        request.off('data', onData);
        request.resume();
        reject(tooLarge);
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', resolve);
    request.once('error', reject);
    // After 'end' this changes nothing; before it, the client went away mid-body.
    request.once('close', () => reject(new Error('the client closed the connection before the body was complete')));
  });
  const value = parseJson(Buffer.concat(chunks).toString('utf8'));
  // Not the parser's message: it quotes the body, which may hold a secret.
  if (value === undefined) throw new HttpError(400, { error: 'Invalid input', details: 'the body is not valid JSON' });
  // Passed on, such a number would become null; Nexus's parser refuses it outright.
  const problem = firstJsonProblem(value);
  if (problem?.rule === 'finite_number') {
    throw new HttpError(400, { error: 'Invalid input', details: `the body at ${problem.path} ${jsonProblemText(problem.rule, Number.POSITIVE_INFINITY)}` });
  }
  return value;
}

/** Compares digests, so the comparison takes the same time whatever the secrets' lengths and contents. */
function secretsMatch(expected: string, given: string): boolean {
  return timingSafeEqual(secretDigest(expected), secretDigest(given)) && expected.length > 0;
}

function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** What a token is bound to: the plugin's secret when it was issued, as a digest. */
export function credentialOf(plugin: PluginDeclaration): string {
  return secretDigest(plugin.secret).toString('hex');
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(404, { error: 'Not found' });
  }
}

function peerOf({ params }: RequestContext): string {
  return params[0] ?? '';
}

function errorBody(error: string, details: string | null): ErrorBody {
  return details === null ? { error } : { error, details };
}

const TOKEN_PATH = 'POST /api/v1/auth/token';

type TokenProblem = 'token_missing' | 'token_malformed' | 'token_unknown' | 'token_expired';

/** As RFC 6750 asks: no error code when no token was sent, `invalid_token` for a token that cannot be used. */
function unauthorized(code: TokenProblem, message: string): HttpError {
  // error_description is a quoted string: its own quotes become single ones.
  const challenge = code === 'token_missing' ? 'Bearer' : `Bearer error="invalid_token", error_description="${message.replace(/["\\]/g, "'")}"`;
  return new HttpError(401, { error: 'Unauthorized', details: { code, message } }, { 'www-authenticate': challenge });
}

/**
 * `{success, data, message}` when the extension answered in that shape;
 * anything else is wrapped as a success, as Nexus does. `message` is left
 * out when there is none (Nexus's skip_serializing_if).
 */
function toCallResponse(result: unknown): { success: boolean; data: unknown; message?: string } {
  if (typeof result === 'object' && result !== null && !Array.isArray(result)) {
    const { success, data, message } = result as Record<string, unknown>;
    const shaped = typeof success === 'boolean' && Object.hasOwn(result, 'data') && (message === undefined || message === null || typeof message === 'string');
    if (shaped) return typeof message === 'string' ? { success, data, message } : { success, data };
  }
  return { success: true, data: result ?? null };
}
