import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** Limits of the stdio channel. Read once at start-up, before any data_dir is known. */
export interface StdioLimits {
  /** Longest accepted JSON-RPC line in bytes, newline excluded. */
  maxLineBytes: number;
  /** Events kept for the host while it is not calling us; the oldest are dropped beyond this. */
  maxQueuedEvents: number;
  /** How long to wait for the host's reply to one event.publish before giving up on that event. */
  publishTimeoutMs: number;
  /** Grace between answering shutdown and exiting regardless of unfinished clean-up. */
  shutdownDeadlineMs: number;
}

export const DEFAULT_STDIO_LIMITS: StdioLimits = {
  maxLineBytes: 8 * 1024 * 1024,
  maxQueuedEvents: 1000,
  publishTimeoutMs: 10_000,
  shutdownDeadlineMs: 3_000,
};

const ENV_NAMES: Record<keyof StdioLimits, string> = {
  maxLineBytes: 'P2P_COMM_MAX_LINE_BYTES',
  maxQueuedEvents: 'P2P_COMM_MAX_QUEUED_EVENTS',
  publishTimeoutMs: 'P2P_COMM_PUBLISH_TIMEOUT_MS',
  shutdownDeadlineMs: 'P2P_COMM_SHUTDOWN_DEADLINE_MS',
};

/**
 * Overrides come from the environment because the host spawns us with no
 * arguments and these limits apply before initialize names a data_dir.
 * A malformed value is a start-up error, never silently ignored.
 */
export function stdioLimitsFromEnv(env: NodeJS.ProcessEnv): StdioLimits {
  const limits = { ...DEFAULT_STDIO_LIMITS };
  for (const key of Object.keys(ENV_NAMES) as (keyof StdioLimits)[]) {
    const name = ENV_NAMES[key];
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (!/^[1-9][0-9]{0,9}$/.test(raw)) {
      throw new Error(`${name} must be a positive whole number, got ${JSON.stringify(raw)}`);
    }
    limits[key] = Number(raw);
  }
  return limits;
}

/** Where state lives when the host gives no data_dir (standalone runs). */
export function defaultDataDir(): string {
  return join(homedir(), '.nexus', 'p2p-comm');
}

export function resolveDataDir(requested: string | undefined): string {
  if (requested === undefined) return defaultDataDir();
  if (!isAbsolute(requested)) {
    throw new Error(`data_dir must be an absolute path, got ${JSON.stringify(requested)}`);
  }
  return requested;
}
