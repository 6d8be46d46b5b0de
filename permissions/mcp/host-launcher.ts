import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { liveHolderOf } from '../../extension/common/lock-file';
import { runningHostEndpoint } from '../node/host-endpoint-file';

/**
 * Finds the host running on a host dir, or starts one. An MCP client
 * starts `p2p-comm-host mcp` whenever it starts, often before the person
 * started a host; the host it starts runs on in the background (detached,
 * its output appended to `<host dir>/host.log`), like one started by hand,
 * and later `p2p-comm-host mcp` processes find it.
 */
export const HOST_LOG_FILE_NAME = 'host.log';

export interface HostLauncherOptions {
  hostDir: string;
  /** The host dir's lock, held by the running host. */
  hostLock: string;
  /** How to run `p2p-comm-host start` for this host dir: the program and its arguments. */
  startCommand: readonly [string, ...string[]];
  /** How long a host being started may take to listen. */
  startTimeoutMs?: number;
  /** How often the host dir is looked at while a host starts. */
  checkIntervalMs?: number;
  /** Told when a host is started, or when start options are ignored, one line. */
  log?: (line: string) => void;
  /**
   * The start options the person gave (`--policy`, `--port`, ...): they
   * shape only a host this launcher starts, so using a host that already
   * runs says once that they were ignored.
   */
  startOptions?: readonly string[];
}

export const DEFAULT_HOST_START_TIMEOUT_MS = 30_000;
const DEFAULT_CHECK_INTERVAL_MS = 100;

/** No host runs on the host dir, and none is to be started: the person stopped it. */
export class HostNotRunningError extends Error {
  override name = 'HostNotRunningError';

  constructor(hostDir: string) {
    super(`the p2p-comm host of ${hostDir} is not running (it was stopped); nothing was done. Your user can start it again with: p2p-comm-host start --host-dir ${hostDir}`);
  }
}

export class HostLauncher {
  private starting: Promise<string> | undefined;
  private toldIgnored = false;

  constructor(private readonly options: HostLauncherOptions) {}

  /** The running host's API URL, starting a host first when none runs. */
  async apiUrl(): Promise<string> {
    const running = this.running();
    if (running !== undefined) return running;
    this.starting ??= this.start().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /** The running host's API URL; never starts one. */
  runningApiUrl(): string {
    const running = this.running();
    if (running === undefined) throw new HostNotRunningError(this.options.hostDir);
    return running;
  }

  private running(): string | undefined {
    const running = runningHostEndpoint(this.options.hostDir, this.options.hostLock);
    const ignored = this.options.startOptions ?? [];
    if (running !== undefined && ignored.length > 0 && !this.toldIgnored) {
      this.toldIgnored = true;
      this.options.log?.(`a host already runs on ${this.options.hostDir} (pid ${running.pid}): ${ignored.join(', ')} ignored; they apply only to a host this command starts`);
    }
    return running?.url;
  }

  private async start(): Promise<string> {
    const { hostDir, hostLock, startCommand, log } = this.options;
    mkdirSync(hostDir, { recursive: true, mode: 0o700 });
    const logPath = join(hostDir, HOST_LOG_FILE_NAME);
    const output = openSync(logPath, 'a', 0o600);
    const [program, ...args] = startCommand;
    let exited: number | null | undefined;
    try {
      // windowsHide: a detached program gets a console window of its own on Windows otherwise.
      const child = spawn(program, args, { detached: true, windowsHide: true, stdio: ['ignore', output, output], env: process.env });
      child.once('exit', (code) => (exited = code));
      child.once('error', () => (exited = null));
      child.unref();
    } finally {
      closeSync(output);
    }
    log?.(`started p2p-comm-host for ${hostDir} in the background; its output goes to ${logPath}`);
    const timeoutMs = this.options.startTimeoutMs ?? DEFAULT_HOST_START_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Another launcher may have won the race for the host dir: its host serves as well.
      const running = runningHostEndpoint(hostDir, hostLock);
      if (running !== undefined) return running.url;
      // Ours gave up; unless another host holds the dir and is about to listen, nothing will.
      if (exited !== undefined && liveHolderOf(hostLock) === null) {
        throw new Error(`p2p-comm-host start exited (code ${String(exited)}) before listening; see ${logPath}`);
      }
      if (Date.now() > deadline) throw new Error(`p2p-comm-host start did not listen within ${timeoutMs / 1000} s; see ${logPath}`);
      await new Promise((resolve) => setTimeout(resolve, this.options.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS));
    }
  }
}
