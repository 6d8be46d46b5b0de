import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, isInitializeRequest, isJSONRPCErrorResponse, isJSONRPCRequest, isJSONRPCResultResponse, type JSONRPCMessage, type JSONRPCRequest, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { HostLauncher } from './host-launcher';
import { cancelledRequestOf } from './jsonrpc-messages';
import { HostMovedError, type PluginToken } from './plugin-token';

/**
 * `p2p-comm-host mcp`: MCP over stdio, which is what MCP clients start
 * (`claude mcp add`, Claude Desktop's config). It is only a bridge: every
 * message goes unchanged, ids included, to the host's `/mcp` endpoint as
 * the client's plugin, and every answer comes back; the tools live once,
 * in the host. A cancellation thus reaches the host for the very request
 * it names, even one already answered, and before any later message.
 *
 * What the bridge adds is staying connected: it finds the host (starting
 * one if none runs when the client starts), renews the plugin's token
 * itself, and when the host forgot the session (it restarted, or the
 * session sat idle) or moved it opens a new session, replays the client's
 * initialize, and sends the message again. A message is sent again only
 * when the host cannot have acted on it (no session, or no connection at
 * all): never a call whose answer was merely lost. A host the person
 * stopped is not started again behind their back (unless they asked for
 * it): the client is told how to start it.
 */
interface Connection {
  transport: StreamableHTTPClientTransport;
}

export interface StdioBridgeOptions {
  launcher: Pick<HostLauncher, 'apiUrl' | 'runningApiUrl'>;
  token: Pick<PluginToken, 'fetch'>;
  /**
   * Start a host whenever none runs (`mcp --restart-host`). By default one
   * is started only until the bridge first reached a host: after that, no
   * host means the person stopped it, and their node stays offline.
   */
  restartHost?: boolean;
  log: (line: string) => void;
  /** The MCP client's side; stdin and stdout unless given. */
  client?: Transport;
}

const MAX_CANCELLED_REMEMBERED = 1024;

/** Ids of the initialize requests the bridge replays itself: no client request carries one. */
const REPLAY_ID_PREFIX = 'p2p-comm-host-mcp:initialize:';

export class StdioBridge {
  private readonly client: Transport;
  private connection: Promise<Connection> | undefined;
  /** Whether a host was found (or started) once: from then on a missing host was stopped by the person. */
  private reachedHost = false;
  /** The client's own initialize, replayed on every new session. */
  private initializeRequest: JSONRPCRequest | undefined;
  private protocolVersion: string | undefined;
  /** Requests the client cancelled: their answers, should they come, are not passed on. */
  private readonly cancelled = new Set<RequestId>();
  /** Settles once the host took every notification passed on so far (its POST was answered). */
  private notificationsTaken: Promise<void> = Promise.resolve();
  private replays = 0;

  constructor(private readonly options: StdioBridgeOptions) {
    this.client = options.client ?? new StdioServerTransport();
  }

  async start(): Promise<void> {
    this.client.onmessage = (message) => this.relay(message);
    this.client.onerror = (error) => this.options.log(`client: ${error.message}`);
    await this.client.start();
  }

  async stop(): Promise<void> {
    const connection = await this.connection?.catch(() => undefined);
    await connection?.transport.close();
  }

  /**
   * Each message waits until the host took the notifications before it: a
   * cancellation overtaken by the next call would let that call take (and
   * acknowledge) what the cancelled one handed over. Requests do not wait
   * for each other: an answer can take 45 s.
   */
  private relay(message: JSONRPCMessage): void {
    if (isInitializeRequest(message) && isJSONRPCRequest(message)) this.initializeRequest = message;
    const cancelled = cancelledRequestOf(message);
    if (cancelled !== undefined) this.rememberCancelled(cancelled);
    const relayed = this.notificationsTaken.then(() => this.forward(message)).catch((error: unknown) => this.options.log(`could not answer the client: ${reasonOf(error)}`));
    if (!isJSONRPCRequest(message)) this.notificationsTaken = relayed;
  }

  private async forward(message: JSONRPCMessage, resent = false): Promise<void> {
    const connecting = this.connectionFor(message);
    let connection: Connection;
    try {
      connection = await connecting;
    } catch (error) {
      this.options.log(`could not reach the host: ${reasonOf(error)}`);
      return this.answerError(message, `The p2p-comm host could not be reached: ${reasonOf(error)}`);
    }
    try {
      await connection.transport.send(message);
    } catch (error) {
      if (!resent && hostCannotHaveActed(error)) {
        if (this.connection === connecting) this.connection = undefined;
        return this.forward(message, true);
      }
      this.options.log(`could not pass a message to the host: ${reasonOf(error)}`);
      return this.answerError(message, failureText(error));
    }
  }

  /** The connection messages go through, made on first need; one that could not be made is not kept, so the next message tries again. */
  private connectionFor(message: JSONRPCMessage): Promise<Connection> {
    if (this.connection === undefined) {
      const connecting = this.connect(!isInitializeRequest(message));
      this.connection = connecting;
      connecting.catch(() => {
        if (this.connection === connecting) this.connection = undefined;
      });
    }
    return this.connection;
  }

  /** Only a request is answered; a failed notification is only logged. */
  private async answerError(message: JSONRPCMessage, text: string): Promise<void> {
    if (!isJSONRPCRequest(message)) return;
    await this.client.send({ jsonrpc: '2.0', id: message.id, error: { code: ErrorCode.InternalError, message: text } });
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
    const { launcher, restartHost } = this.options;
    const url = this.reachedHost && restartHost !== true ? launcher.runningApiUrl() : await launcher.apiUrl();
    this.reachedHost = true;
    const transport = new StreamableHTTPClientTransport(new URL('/mcp', url), { fetch: this.options.token.fetch });
    transport.onmessage = (message) => this.fromHost(message, transport);
    transport.onerror = (error) => this.options.log(`host: ${error.message}`);
    try {
      await transport.start();
      if (replayInitialize && this.initializeRequest !== undefined) {
        this.replays += 1;
        // Answers come in the HTTP response (the host answers in JSON), so once sent, it is answered.
        await transport.send({ ...this.initializeRequest, id: `${REPLAY_ID_PREFIX}${this.replays}` });
        await transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      }
    } catch (error) {
      await transport.close();
      throw error;
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
    void this.client.send(message).catch((error: unknown) => this.options.log(`could not answer the client: ${reasonOf(error)}`));
  }
}

/**
 * Whether a failed send certainly did nothing on the host, so sending it
 * again cannot do it twice: the host did not know the session (404),
 * nothing listened at all, or the host was found elsewhere before anything
 * was sent.
 */
function hostCannotHaveActed(error: unknown): boolean {
  if (error instanceof StreamableHTTPError) return error.code === 404;
  if (error instanceof HostMovedError) return true;
  return causeCodeOf(error) === 'ECONNREFUSED';
}

/** What the client (and its model) is told when a message could not be passed on, with what to do next. */
function failureText(error: unknown): string {
  if (error instanceof StreamableHTTPError) return `The p2p-comm host refused the request (HTTP ${String(error.code)}): ${error.message}`;
  if (causeCodeOf(error) === 'ECONNREFUSED') return 'The p2p-comm host could not be reached: nothing listens where it was; nothing was done.';
  // Any other failure of fetch (a TypeError) comes once a connection existed: it broke while the host had the call.
  if (error instanceof TypeError) {
    return (
      'The connection to the p2p-comm host was lost during this call (the host may have stopped or restarted), so it may have been carried out. ' +
      'Check before you retry: p2p_message_status for a message you sent, p2p_pending_requests for a pairing request you asked for.'
    );
  }
  return `The call could not be passed to the p2p-comm host: ${reasonOf(error)}`;
}

function causeCodeOf(error: unknown): unknown {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  return cause?.code;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
