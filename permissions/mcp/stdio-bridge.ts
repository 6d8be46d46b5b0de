import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { ErrorCode, isInitializeRequest, isJSONRPCErrorResponse, isJSONRPCRequest, isJSONRPCResultResponse, type JSONRPCMessage, type JSONRPCRequest, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { HostLauncher } from './host-launcher';
import { cancelledRequestOf } from './jsonrpc-messages';
import type { PluginToken } from './plugin-token';

/**
 * `p2p-comm-host mcp`: MCP over stdio, which is what MCP clients start
 * (`claude mcp add`, Claude Desktop's config). It is only a bridge: every
 * message goes unchanged, ids included, to the host's `/mcp` endpoint as
 * the client's plugin, and every answer comes back; the tools live once,
 * in the host. A cancellation thus reaches the host for the very request
 * it names, even one already answered.
 *
 * What the bridge adds is staying connected: it finds the host (starting
 * one if none runs), renews the plugin's token itself, and when the host
 * forgot the session (it restarted, or the session sat idle) or went away
 * it opens a new session, replays the client's initialize, and sends the
 * message again. A message is sent again only when the host cannot have
 * acted on it (no session, or no connection at all): never a call whose
 * answer was merely lost.
 */
interface Connection {
  transport: StreamableHTTPClientTransport;
}

export interface StdioBridgeOptions {
  launcher: Pick<HostLauncher, 'apiUrl'>;
  token: PluginToken;
  /** The API the token is asked for: set by the bridge to the host it reaches. */
  onHostUrl: (url: string) => void;
  log: (line: string) => void;
}

const MAX_CANCELLED_REMEMBERED = 1024;

/** Ids of the initialize requests the bridge replays itself: no client request carries one. */
const REPLAY_ID_PREFIX = 'p2p-comm-host-mcp:initialize:';

export class StdioBridge {
  private readonly client = new StdioServerTransport();
  private connection: Promise<Connection> | undefined;
  /** The client's own initialize, replayed on every new session. */
  private initializeRequest: JSONRPCRequest | undefined;
  private protocolVersion: string | undefined;
  /** Requests the client cancelled: their answers, should they come, are not passed on. */
  private readonly cancelled = new Set<RequestId>();
  private replays = 0;

  constructor(private readonly options: StdioBridgeOptions) {}

  async start(): Promise<void> {
    this.client.onmessage = (message) => void this.forward(message);
    this.client.onerror = (error) => this.options.log(`stdio: ${error.message}`);
    await this.client.start();
  }

  async stop(): Promise<void> {
    const connection = await this.connection?.catch(() => undefined);
    await connection?.transport.close();
  }

  private async forward(message: JSONRPCMessage, resent = false): Promise<void> {
    if (isInitializeRequest(message) && isJSONRPCRequest(message)) this.initializeRequest = message;
    const cancelled = cancelledRequestOf(message);
    if (cancelled !== undefined) this.rememberCancelled(cancelled);
    const connection = (this.connection ??= this.connect(!isInitializeRequest(message)));
    try {
      await (await connection).transport.send(message);
    } catch (error) {
      if (!resent && hostCannotHaveActed(error)) {
        if (this.connection === connection) this.connection = undefined;
        return this.forward(message, true);
      }
      const reason = error instanceof Error ? error.message : String(error);
      this.options.log(`could not pass a message to the host: ${reason}`);
      if (isJSONRPCRequest(message)) {
        await this.client.send({ jsonrpc: '2.0', id: message.id, error: { code: ErrorCode.InternalError, message: `the p2p-comm host could not be reached: ${reason}` } });
      }
    }
  }

  /** Bounded: an answer that never comes (its connection was lost) must not be waited for forever. */
  private rememberCancelled(id: RequestId): void {
    this.cancelled.add(id);
    if (this.cancelled.size > MAX_CANCELLED_REMEMBERED) {
      const oldest = this.cancelled.values().next().value;
      if (oldest !== undefined) this.cancelled.delete(oldest);
    }
  }

  private async connect(replayInitialize: boolean): Promise<Connection> {
    const url = await this.options.launcher.apiUrl();
    this.options.onHostUrl(url);
    const transport = new StreamableHTTPClientTransport(new URL('/mcp', url), { fetch: this.options.token.fetch });
    transport.onmessage = (message) => this.fromHost(message, transport);
    transport.onerror = (error) => this.options.log(`host: ${error.message}`);
    await transport.start();
    if (replayInitialize && this.initializeRequest !== undefined) {
      this.replays += 1;
      // Answers come in the HTTP response (the host answers in JSON), so once sent, it is answered.
      await transport.send({ ...this.initializeRequest, id: `${REPLAY_ID_PREFIX}${this.replays}` });
      await transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    }
    return { transport };
  }

  private fromHost(message: JSONRPCMessage, transport: StreamableHTTPClientTransport): void {
    const answered = isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message) ? message.id : undefined;
    if (isJSONRPCResultResponse(message) && (answered === this.initializeRequest?.id || String(answered).startsWith(REPLAY_ID_PREFIX))) {
      this.protocolVersion = (message.result as { protocolVersion?: string }).protocolVersion ?? this.protocolVersion;
      if (this.protocolVersion !== undefined) transport.setProtocolVersion(this.protocolVersion);
    }
    if (typeof answered === 'string' && answered.startsWith(REPLAY_ID_PREFIX)) return;
    if (answered !== undefined && this.cancelled.delete(answered)) return;
    void this.client.send(message);
  }
}

/**
 * Whether a failed send certainly did nothing on the host, so sending it
 * again cannot do it twice: the host did not know the session (404) or
 * nothing listened at all.
 */
function hostCannotHaveActed(error: unknown): boolean {
  if (error instanceof StreamableHTTPError) return error.code === 404;
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  return cause?.code === 'ECONNREFUSED';
}
