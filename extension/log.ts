/**
 * Logs go to stderr only: stdout belongs to JSON-RPC. Nexus forwards stderr
 * only once initialize has succeeded and a full pipe before that can
 * deadlock it, so lines written earlier are held (bounded) and released by
 * `release()` after the initialize response is out.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const HELD_LINES_LIMIT = 200;

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export class StderrLogger implements Logger {
  private held: string[] | null = [];
  private droppedWhileHeld = 0;

  constructor(
    private readonly sink: (line: string) => void = (line) => process.stderr.write(line),
    private readonly minLevel: LogLevel = 'info',
  ) {}

  debug(message: string): void {
    this.write('debug', message);
  }

  info(message: string): void {
    this.write('info', message);
  }

  warn(message: string): void {
    this.write('warn', message);
  }

  error(message: string): void {
    this.write('error', message);
  }

  /** Start writing to stderr, after flushing what was held. */
  release(): void {
    if (this.held === null) return;
    const held = this.held;
    this.held = null;
    for (const line of held) this.sink(line);
    if (this.droppedWhileHeld > 0) {
      this.write('warn', `${this.droppedWhileHeld} log lines written before initialize were dropped`);
    }
  }

  private write(level: LogLevel, message: string): void {
    if (LEVEL_ORDER[level] < LEVEL_ORDER[this.minLevel]) return;
    // One record per line: a message may not smuggle in extra log lines.
    const line = `${new Date().toISOString()} p2p-comm ${level} ${message.replace(/[\r\n]+/g, ' ')}\n`;
    if (this.held === null) {
      this.sink(line);
    } else if (this.held.length < HELD_LINES_LIMIT) {
      this.held.push(line);
    } else {
      this.droppedWhileHeld += 1;
    }
  }
}

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function logLevelFromEnv(env: NodeJS.ProcessEnv): LogLevel {
  const value = env['P2P_COMM_LOG_LEVEL'];
  if (value === undefined || value === '') return 'info';
  if (value in LEVEL_ORDER) return value as LogLevel;
  throw new Error(`P2P_COMM_LOG_LEVEL must be one of debug, info, warn, error; got ${JSON.stringify(value)}`);
}
