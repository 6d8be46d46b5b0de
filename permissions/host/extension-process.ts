import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { LineSplitter } from './line-splitter';

/**
 * Runs a host extension the way Nexus does (src-tauri/src/extensions/process.rs):
 * spawned with no arguments, `initialize` with id 0, then one call at a time;
 * stdout is read only while a call is in flight, the extension's own
 * requests are answered inline, the first line without `method` is taken as
 * the answer whatever its id, and `shutdown` is followed by a kill after a
 * 5 second grace. Notifications (`event.received`) may be written at any time.
 */

export interface RpcError {
  code: number;
  message: string;
  data?: unknown;
}

export interface RpcResponse {
  id: number;
  result?: unknown;
  error?: RpcError;
}

/** Answers the extension's own requests (event.publish, event.subscribe, ...). */
export type ExtensionRequestHandler = (method: string, params: unknown) => Promise<unknown> | unknown;

export interface ExtensionProcessOptions {
  binary: string;
  /** Arguments for `binary`; Nexus passes none, an emulator running the extension needs the extension's path. */
  args?: readonly string[];
  extensionId: string;
  version: string;
  /** Passed as initialize's data_dir; omitted from the params when undefined. */
  dataDir?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  onRequest?: ExtensionRequestHandler;
  onStderrLine?: (line: string) => void;
}

export interface ExitReport {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** False when the process outlived the grace period and was killed. */
  exitedWithinGrace: boolean;
}

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export const SHUTDOWN_GRACE_MS = 5000;

export class ExtensionProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: string[] = [];
  private lineWaiter: (() => void) | null = null;
  private stdoutEnded = false;
  private nextId = 0;
  private callChain: Promise<unknown> = Promise.resolve();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(private readonly options: ExtensionProcessOptions) {
    this.child = spawn(options.binary, options.args ?? [], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C meant for the host must not kill the
      // extension before the host has shut it down properly.
      detached: true,
    });
    // A binary that cannot be spawned never exits; it ends here too, so nobody waits forever.
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
      this.child.once('error', () => resolve({ code: null, signal: null }));
    });
    const stdoutLines = new LineSplitter();
    this.child.stdout.on('data', (chunk: Buffer) =>
      stdoutLines.push(chunk, (line) => {
        this.lines.push(line);
        this.wakeReader();
      }),
    );
    this.child.stdout.on('end', () => {
      this.stdoutEnded = true;
      this.wakeReader();
    });
    // Nexus only reads stdout while a call is in flight.
    this.child.stdout.pause();
    const stderrLines = new LineSplitter();
    this.child.stderr.on('data', (chunk: Buffer) =>
      stderrLines.push(chunk, (line) => this.options.onStderrLine?.(line)),
    );
    // A write to a dead process must fail the call, not the host.
    this.child.stdin.on('error', () => undefined);
  }

  /** Spawns the binary without initializing it. */
  static spawn(options: ExtensionProcessOptions): ExtensionProcess {
    return new ExtensionProcess(options);
  }

  /** Spawns the binary and initializes it; rejects with the extension's error if initialize fails. */
  static async start(options: ExtensionProcessOptions): Promise<{ extension: ExtensionProcess; initialize: unknown }> {
    const extension = new ExtensionProcess(options);
    try {
      return { extension, initialize: await extension.initialize() };
    } catch (error) {
      extension.kill();
      throw error;
    }
  }

  /** Sends initialize with the options' extension id, version and data_dir. */
  async initialize(): Promise<unknown> {
    const params: Record<string, unknown> = { extension_id: this.options.extensionId, version: this.options.version };
    if (this.options.dataDir !== undefined) params['data_dir'] = this.options.dataDir;
    const response = await this.call('initialize', params);
    if (response.error !== undefined) {
      throw new ProtocolError(`initialization failed: ${response.error.message}`);
    }
    return response.result;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Writes the request at once, then waits its turn to read the answer:
   * Nexus releases stdin after writing but reads stdout for one call at a
   * time, so a second call's request can reach the extension while the
   * first is still being served.
   */
  call(method: string, params: unknown): Promise<RpcResponse> {
    const id = this.nextId++;
    return this.exchange(JSON.stringify({ jsonrpc: '2.0', method, params, id }));
  }

  execute(operation: string, input: unknown): Promise<RpcResponse> {
    return this.call('execute', { operation, input });
  }

  /** Writes one raw line (the newline is added) and reads the answer as for any call. */
  exchange(line: string): Promise<RpcResponse> {
    if (!this.child.stdin.writable) return Promise.reject(new ProtocolError('extension process is not running'));
    this.child.stdin.write(`${line}\n`);
    return this.serialize(() => this.readResponse());
  }

  /** Lines the extension wrote that no call has read (Nexus would take the first as the next answer). */
  unreadLines(): readonly string[] {
    return this.lines;
  }

  /** A notification, written at once even while a call is in flight, as Nexus's event delivery does. */
  notify(method: string, params: unknown): void {
    this.writeRaw(`${JSON.stringify({ jsonrpc: '2.0', method, params })}\n`);
  }

  /** Writes text to the extension's stdin as is, expecting no answer. */
  writeRaw(text: string): void {
    this.child.stdin.write(text);
  }

  /** Closes the extension's stdin, as a host that goes away does. */
  closeStdin(): void {
    this.child.stdin.end();
  }

  /** Sends shutdown, reads its answer, then waits up to the grace period before killing. */
  async shutdown(graceMs = SHUTDOWN_GRACE_MS): Promise<ExitReport & { response: RpcResponse | null }> {
    let response: RpcResponse | null = null;
    try {
      response = await this.call('shutdown', {});
    } catch {
      response = null;
    }
    const exit = await this.waitForExit(graceMs);
    return { ...exit, response };
  }

  /** Waits for the process to exit; kills it after `graceMs`. */
  async waitForExit(graceMs: number): Promise<ExitReport> {
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace-over'>((resolve) => {
      timer = setTimeout(() => resolve('grace-over'), graceMs);
    });
    const outcome = await Promise.race([this.exited, graceOver]);
    clearTimeout(timer);
    if (outcome !== 'grace-over') return { ...outcome, exitedWithinGrace: true };
    this.child.kill('SIGKILL');
    return { ...(await this.exited), exitedWithinGrace: false };
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const result = this.callChain.then(task);
    this.callChain = result.catch(() => undefined);
    return result;
  }

  private async readResponse(): Promise<RpcResponse> {
    this.child.stdout.resume();
    try {
      for (;;) {
        const message = parseLine(await this.nextLine());
        if (typeof message['method'] !== 'string') return toResponse(message);
        await this.answerExtensionRequest(message);
      }
    } finally {
      this.child.stdout.pause();
    }
  }

  private async answerExtensionRequest(request: Record<string, unknown>): Promise<void> {
    if (!('id' in request) || typeof request['jsonrpc'] !== 'string') {
      // Nexus fails the call in flight on a notification from the extension.
      throw new ProtocolError(`invalid request from extension (no id or jsonrpc): ${JSON.stringify(request)}`);
    }
    const method = request['method'] as string;
    let reply: Record<string, unknown>;
    try {
      if (this.options.onRequest === undefined) throw new Error(`Unknown IPC method: ${method}`);
      reply = { jsonrpc: '2.0', result: await this.options.onRequest(method, request['params']), id: request['id'] };
    } catch (error) {
      reply = { jsonrpc: '2.0', error: { code: -32603, message: (error as Error).message }, id: request['id'] };
    }
    this.child.stdin.write(`${JSON.stringify(reply)}\n`);
  }

  private async nextLine(): Promise<string> {
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.stdoutEnded) throw new ProtocolError('extension process closed stdout (no response)');
      await new Promise<void>((resolve) => {
        this.lineWaiter = resolve;
      });
    }
  }

  private wakeReader(): void {
    const waiter = this.lineWaiter;
    this.lineWaiter = null;
    waiter?.();
  }
}

function parseLine(line: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new ProtocolError(`invalid JSON from extension: ${(error as Error).message}: ${line.slice(0, 200)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError(`invalid JSON-RPC message from extension: ${line.slice(0, 200)}`);
  }
  return value as Record<string, unknown>;
}

/** As strict as Nexus's serde types: jsonrpc a string, id an unsigned integer. */
function toResponse(message: Record<string, unknown>): RpcResponse {
  const id = message['id'];
  if (typeof message['jsonrpc'] !== 'string' || typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    throw new ProtocolError(`invalid JSON-RPC response (jsonrpc must be a string, id an unsigned integer): ${JSON.stringify(message).slice(0, 200)}`);
  }
  const response: RpcResponse = { id };
  if ('result' in message) response.result = message['result'];
  const error = message['error'];
  if (error !== undefined && error !== null) {
    const candidate = error as Partial<RpcError>;
    if (typeof candidate.code !== 'number' || typeof candidate.message !== 'string') {
      throw new ProtocolError(`invalid JSON-RPC error object: ${JSON.stringify(error).slice(0, 200)}`);
    }
    response.error = candidate as RpcError;
  }
  return response;
}
