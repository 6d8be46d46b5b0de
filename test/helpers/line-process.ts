import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { LineSplitter } from '../../permissions/host/line-splitter';

/**
 * A child process whose output the test reads line by line, waiting on the
 * lines themselves (never on a timer) for the process to reach a state.
 */
export interface LineProcess {
  readonly pid: number | undefined;
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
  /** Resolves once the process has exited, however. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * The first line of `stream` (counting lines already read) that `match`
   * accepts. Rejects if the process exits first, or after `timeoutMs`,
   * with the process's output in the message.
   */
  waitForLine(match: (line: string) => boolean, what: string, options?: { stream?: 'stdout' | 'stderr'; timeoutMs?: number }): Promise<string>;
  /** Signals the process and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface LineProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Longest waitForLine waits unless told otherwise. */
  defaultTimeoutMs?: number;
}

export function spawnLineProcess(command: string, args: readonly string[], options: LineProcessOptions = {}): LineProcess {
  const child: ChildProcessWithoutNullStreams = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const listener of [...listeners]) listener();
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    const splitter = new LineSplitter();
    child[stream].on('data', (chunk: Buffer) =>
      splitter.push(chunk, (line) => {
        lines[stream].push(line);
        notify();
      }),
    );
  }
  child.stdin.on('error', () => undefined);
  let hasExited = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close', not 'exit': by then every line the process wrote has been read.
    child.once('close', (code, signal) => {
      hasExited = true;
      resolve({ code, signal });
      notify();
    });
    child.once('error', () => {
      hasExited = true;
      resolve({ code: null, signal: null });
      notify();
    });
  });
  const describe = (): string => `${command} ${args.join(' ')}\n--- stdout\n${lines.stdout.join('\n')}\n--- stderr\n${lines.stderr.join('\n')}`;

  const waitForLine: LineProcess['waitForLine'] = (match, what, { stream = 'stdout', timeoutMs = options.defaultTimeoutMs ?? 30_000 } = {}) =>
    new Promise((resolve, reject) => {
      let checked = 0;
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${describe()}`)), timeoutMs);
      const finish = (outcome: string | Error): void => {
        clearTimeout(timer);
        listeners.delete(check);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      function check(): void {
        const seen = lines[stream];
        for (; checked < seen.length; checked += 1) {
          const line = seen[checked] as string;
          if (match(line)) return finish(line);
        }
        if (hasExited) finish(new Error(`the process exited before ${what}\n${describe()}`));
      }
      listeners.add(check);
      check();
    });

  return {
    get pid() {
      return child.pid;
    },
    stdout: lines.stdout,
    stderr: lines.stderr,
    exited,
    waitForLine,
    stop: async (signal = 'SIGTERM') => {
      if (!hasExited) child.kill(signal);
      return exited;
    },
  };
}

/** The first stdout line that is a JSON object whose `event` is one of `events`, parsed. */
export async function waitForEvent(process: LineProcess, events: string | readonly string[], timeoutMs?: number): Promise<Record<string, unknown>> {
  const wanted: readonly unknown[] = typeof events === 'string' ? [events] : events;
  const line = await process.waitForLine((candidate) => wanted.includes(eventOf(candidate)), `event ${wanted.join(' or ')}`, timeoutMs === undefined ? {} : { timeoutMs });
  return JSON.parse(line) as Record<string, unknown>;
}

function eventOf(line: string): unknown {
  try {
    return (JSON.parse(line) as { event?: unknown }).event;
  } catch {
    return undefined;
  }
}
