import type { ServerResponse } from 'node:http';
import { SECURITY_HEADERS } from './page-http';

/**
 * The open pages' /ui/updates streams (Server-Sent Events): each is told
 * `change` when something it shows may have changed, and then fetches
 * itself again. Telling is throttled: a refresh costs the extension a few
 * calls, and a busy node has many message events a second.
 */
export interface UpdateStreamsOptions {
  /** Open streams at once. */
  maxStreams?: number;
  /** Pages are told of changes at most this often. */
  minChangeIntervalMs?: number;
  /** Whether a session is still live; a stream whose session is not is ended at the next change. */
  sessionLive: (sessionId: string) => boolean;
  now?: () => number;
}

export const DEFAULT_MAX_UPDATE_STREAMS = 16;
export const DEFAULT_MIN_CHANGE_INTERVAL_MS = 500;

export class UpdateStreams {
  /** Each open stream and the session it belongs to. */
  private readonly streams = new Map<ServerResponse, string>();
  private readonly maxStreams: number;
  private readonly minChangeIntervalMs: number;
  private readonly now: () => number;
  private lastChangeAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: UpdateStreamsOptions) {
    this.maxStreams = options.maxStreams ?? DEFAULT_MAX_UPDATE_STREAMS;
    this.minChangeIntervalMs = options.minChangeIntervalMs ?? DEFAULT_MIN_CHANGE_INTERVAL_MS;
    this.now = options.now ?? Date.now;
  }

  get full(): boolean {
    return this.streams.size >= this.maxStreams;
  }

  get limit(): number {
    return this.maxStreams;
  }

  /** Starts a stream on `response`; the caller checked `full` first. */
  open(response: ServerResponse, sessionId: string): void {
    response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream' });
    response.write(': connected\n\n');
    this.streams.set(response, sessionId);
    response.once('close', () => this.streams.delete(response));
  }

  /** Ends the streams of a session that logged out. */
  endSession(sessionId: string): void {
    for (const [stream, owner] of this.streams) if (owner === sessionId) stream.end();
  }

  /** Tells every open page of a change: at once, or once the interval since the last telling has passed. */
  changed(): void {
    if (this.timer !== undefined || this.streams.size === 0) return;
    const wait = this.lastChangeAt + this.minChangeIntervalMs - this.now();
    if (wait <= 0) return this.tell();
    this.timer = setTimeout(() => this.tell(), wait);
    this.timer.unref();
  }

  private tell(): void {
    this.timer = undefined;
    this.lastChangeAt = this.now();
    for (const [stream, sessionId] of this.streams) {
      if (this.options.sessionLive(sessionId)) stream.write('event: change\ndata: \n\n');
      else stream.end();
    }
  }
}
