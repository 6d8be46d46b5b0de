import { randomUUID } from 'node:crypto';
import { Backoff } from '../../extension/common/backoff';
import { ExtensionProcess, type ExitReport, type RpcResponse } from './extension-process';

/**
 * Keeps one extension process running for the host: starts it as Nexus does,
 * answers the requests it makes of the host (event.publish), restarts it
 * with exponential backoff when it dies on its own, and makes calls that
 * arrive while it is down wait (bounded) for the restart.
 */

/** An event the extension published, with the id the host gave it (also returned as `event_id`). */
export interface ExtensionEvent {
  id: string;
  type: string;
  subject?: string;
  data: unknown;
}

/** One exit of the extension process; `restartInMs` is null when no restart follows (stop() was called). */
export interface SupervisedExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  restartInMs: number | null;
}

export interface SupervisorOptions {
  binary: string;
  extensionId: string;
  version: string;
  dataDir: string;
  env?: NodeJS.ProcessEnv;
  onEvent: (event: ExtensionEvent) => void;
  onStderrLine?: (line: string) => void;
  onExit?: (exit: SupervisedExit) => void;
  /** A restarted process answered initialize and takes calls again. */
  onRestart?: (pid: number | undefined) => void;
  restartBaseMs?: number;
  restartMaxMs?: number;
  /** How long a call waits for a restart before failing. */
  restartWaitMs?: number;
}

export const RESTART_BASE_MS = 200;
export const RESTART_MAX_MS = 10_000;
export const RESTART_WAIT_MS = 10_000;

interface RestartWaiter {
  resolve: (extension: ExtensionProcess) => void;
  reject: (error: Error) => void;
}

export class ExtensionSupervisor {
  /** The newest process spawned, initialized or not; null while none is alive. */
  private current: ExtensionProcess | null = null;
  /** The current process once it has answered initialize. */
  private ready: ExtensionProcess | null = null;
  private readyAt = 0;
  private supervising = false;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<RestartWaiter>();
  private readonly backoff: Backoff;
  private readonly restartMaxMs: number;
  private readonly restartWaitMs: number;

  constructor(private readonly options: SupervisorOptions) {
    this.restartMaxMs = options.restartMaxMs ?? RESTART_MAX_MS;
    this.restartWaitMs = options.restartWaitMs ?? RESTART_WAIT_MS;
    this.backoff = new Backoff({ baseMs: options.restartBaseMs ?? RESTART_BASE_MS, maxMs: this.restartMaxMs });
  }

  get pid(): number | undefined {
    return this.current?.pid;
  }

  /** Spawns and initializes the extension; rejects (and supervises nothing) if the first start fails. */
  async start(): Promise<void> {
    if (this.current !== null || this.supervising || this.stopped) throw new Error('the extension supervisor was already started');
    await this.spawnAndInitialize();
    this.supervising = true;
  }

  /** One execute call; waits for a restart in progress, up to the restart wait. */
  execute(operation: string, input: unknown): Promise<RpcResponse> {
    return this.call('execute', { operation, input });
  }

  /** Any JSON-RPC call (`resources.list`, ...); waits for a restart in progress, up to the restart wait. */
  async call(method: string, params: unknown): Promise<RpcResponse> {
    const extension = this.ready ?? (await this.waitForRestart());
    return extension.call(method, params);
  }

  /** Shuts the extension down as Nexus does (answer, then killed after 5 s); nothing is restarted afterwards. */
  async stop(): Promise<ExitReport | null> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    for (const waiter of this.waiters) waiter.reject(new Error(`extension ${this.options.extensionId} was stopped`));
    this.waiters.clear();
    const extension = this.current;
    if (extension === null) return null;
    const { response: _response, ...exit } = await extension.shutdown();
    return exit;
  }

  private async spawnAndInitialize(): Promise<void> {
    const extension = ExtensionProcess.spawn({
      binary: this.options.binary,
      extensionId: this.options.extensionId,
      version: this.options.version,
      dataDir: this.options.dataDir,
      env: this.options.env ?? process.env,
      onRequest: (method, params) => this.answerExtension(method, params),
      ...(this.options.onStderrLine === undefined ? {} : { onStderrLine: this.options.onStderrLine }),
    });
    this.current = extension;
    void extension.exited.then(
      (exit) => this.onProcessExit(extension, exit),
      // The binary could not be spawned at all (missing, not executable): no exit status to report.
      () => this.onProcessExit(extension, { code: null, signal: null }),
    );
    try {
      await extension.initialize();
    } catch (error) {
      // Its exit schedules the next attempt when supervising.
      extension.kill();
      throw error;
    }
    if (this.current !== extension) return;
    this.ready = extension;
    this.readyAt = Date.now();
    for (const waiter of this.waiters) waiter.resolve(extension);
    this.waiters.clear();
  }

  private onProcessExit(extension: ExtensionProcess, exit: { code: number | null; signal: NodeJS.Signals | null }): void {
    if (this.current !== extension) return;
    this.current = null;
    const wasReady = this.ready === extension;
    this.ready = null;
    if (this.stopped || !this.supervising) {
      this.options.onExit?.({ ...exit, restartInMs: null });
      return;
    }
    // A process that stayed up longer than the longest wait was healthy:
    // its crash starts a new series of short waits, a crash loop does not.
    if (wasReady && Date.now() - this.readyAt >= this.restartMaxMs) this.backoff.reset();
    const delay = this.backoff.next();
    this.options.onExit?.({ ...exit, restartInMs: delay });
    this.restartTimer = setTimeout(() => this.restart(), delay);
  }

  private restart(): void {
    if (this.stopped) return;
    this.spawnAndInitialize().then(
      () => {
        if (!this.stopped) this.options.onRestart?.(this.pid);
      },
      // The failed process's exit has already scheduled the next attempt.
      () => undefined,
    );
  }

  private waitForRestart(): Promise<ExtensionProcess> {
    if (this.stopped) return Promise.reject(new Error(`extension ${this.options.extensionId} was stopped`));
    if (!this.supervising) return Promise.reject(new Error(`extension ${this.options.extensionId} has not been started`));
    return new Promise((resolve, reject) => {
      const waiter: RestartWaiter = {
        resolve: (extension) => {
          clearTimeout(timer);
          resolve(extension);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`extension ${this.options.extensionId} is not running and did not restart within ${this.restartWaitMs} ms`));
      }, this.restartWaitMs);
      this.waiters.add(waiter);
    });
  }

  /** The extension's own requests, answered as Nexus does for the ones this host supports. */
  private answerExtension(method: string, params: unknown): { event_id: string } {
    if (method !== 'event.publish') throw new Error(`Unknown IPC method: ${method}`);
    const event = { id: randomUUID(), ...toPublishRequest(params) };
    this.options.onEvent(event);
    return { event_id: event.id };
  }
}

/** `{type, subject?, data}`; the type becomes an SSE event name, so it must be one printable line. */
function toPublishRequest(params: unknown): Omit<ExtensionEvent, 'id'> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new Error('Invalid event.publish params: expected an object');
  }
  const { type, subject, data } = params as Record<string, unknown>;
  if (typeof type !== 'string' || !/^[^\p{Cc}]+$/u.test(type)) {
    throw new Error('Invalid event.publish params: type must be a non-empty string without control characters');
  }
  if (subject !== undefined && subject !== null && typeof subject !== 'string') {
    throw new Error('Invalid event.publish params: subject must be a string');
  }
  return typeof subject === 'string' ? { type, subject, data: data ?? null } : { type, data: data ?? null };
}
