import { once } from 'node:events';
import { Backoff } from '../../extension/common/backoff';
import { bindingError, type A2aBindingError } from '../../extension/common/a2a-binding';
import type { ExtensionEvent } from '../host/process-manager';
import type { ExtensionRefusal } from '../http/extension-errors';
import type { GateVerdict } from '../gate/types';
import { SseEventTooLarge, sseEvents } from './sse-events';

/**
 * Hands the A2A requests paired peers send to this node to the agent a
 * plugin declared (docs/a2a.md "Serving your agent"), and records the
 * agent's answers for the peer. Each request is gated as the plugin's
 * `receive` from that peer, claimed (durably, so a restart can tell it was
 * taken), then POSTed; every answer is recorded before the next is read.
 */

/** Where requests go, and as whom. */
export interface ServingTarget {
  /** The declaring plugin: its `receive` permission and scope decide. */
  plugin: string;
  /** The forward bearer (forward-token.ts). */
  token: string;
  /** The agent's JSON-RPC endpoint. */
  endpoint: string;
  /** Its card says it streams: a blocking SendMessage is then forwarded as a stream. */
  streams: boolean;
}

export interface ForwarderDeps {
  /** `signal`: the host stops; a dialog open for a forward is taken down. */
  gate: { check(plugin: string, operation: string, input: unknown, signal?: AbortSignal): Promise<GateVerdict> };
  /** The host's own call to the extension, not gated: the host serves, no plugin calls. */
  execute(operation: string, input: unknown): Promise<{ result?: unknown; error?: ExtensionRefusal }>;
  /** The agent now, or undefined when no plugin declares one. */
  target(): ServingTarget | undefined;
}

export interface ForwarderOptions {
  /** Requests of one peer forwarded at once. */
  perPeer?: number;
  /** Requests forwarded at once in all. */
  total?: number;
  /** How long an unreachable agent is retried before the request is answered -32063. */
  retryMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** The longest SSE event taken from the agent, in characters; a longer one ends the answers with -32067. */
  maxEventChars?: number;
  fetch?: typeof fetch;
  /** Injectable so tests run the retries without waiting. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  warn?: (line: string) => void;
}

export const DEFAULT_FORWARD_PER_PEER = 4;
export const DEFAULT_FORWARD_TOTAL = 16;
export const DEFAULT_FORWARD_RETRY_MS = 5 * 60_000;
export const DEFAULT_FORWARD_RETRY_BASE_MS = 500;
export const DEFAULT_FORWARD_RETRY_MAX_MS = 30_000;
/** The extension carries at most 1 MiB per answer; a little more is read so the extension, not the reader, names the limit. */
export const DEFAULT_MAX_EVENT_CHARS = 2 * 1024 * 1024;
/** a2a_serve's largest page: every unfinished request of a peer (the extension keeps at most 256). */
const SERVE_PAGE = 256;

/** The methods that only read: forwarding one again after a restart changes nothing at the agent. */
const READS = new Set(['GetTask', 'ListTasks', 'CancelTask', 'SubscribeToTask']);

/** A request as a2a_serve lists it. */
export interface ServedRequest {
  request_id: string;
  method: string;
  params: Record<string, unknown>;
  a2a_extensions: string | null;
  claimed: boolean;
  answered_seq: number | null;
}

/** What the forwarder records with a2a_respond. */
type Answer = { event: unknown } | { result: unknown; end: true } | { error: unknown; end: true } | { end: true };

export class A2aForwarder {
  private readonly perPeer: number;
  private readonly total: number;
  private readonly retryMs: number;
  private readonly maxEventChars: number;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly warn: (line: string) => void;
  /** Request ids being forwarded, per peer. */
  private readonly inWork = new Map<string, Set<string>>();
  private running = 0;
  /** Requests whose last answer this host recorded: a listing taken before that must not serve them again. */
  private readonly finished = new Set<string>();
  /** Peers with requests left over because the limits were reached. */
  private readonly waiting = new Set<string>();
  private readonly polling = new Set<string>();
  private readonly pollAgain = new Set<string>();
  private readonly work = new Set<Promise<void>>();
  /** Aborted by stop(): ends dialogs, POSTs, open streams and retry waits under way. */
  private readonly stopping = new AbortController();

  constructor(
    private readonly deps: ForwarderDeps,
    private readonly options: ForwarderOptions = {},
  ) {
    this.perPeer = options.perPeer ?? DEFAULT_FORWARD_PER_PEER;
    this.total = options.total ?? DEFAULT_FORWARD_TOTAL;
    this.retryMs = options.retryMs ?? DEFAULT_FORWARD_RETRY_MS;
    this.maxEventChars = options.maxEventChars ?? DEFAULT_MAX_EVENT_CHARS;
    this.fetch = options.fetch ?? fetch;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()));
    this.warn = options.warn ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** Picks up what waits for every paired peer: requests stored while no host forwarded, or claimed before a restart. */
  async start(): Promise<void> {
    const peers = await this.deps.execute('peers', {});
    const listed = (peers.result as { data?: { peers?: { peer: string }[] } } | undefined)?.data?.peers ?? [];
    for (const { peer } of listed) this.poll(peer);
  }

  event(event: ExtensionEvent): void {
    if (event.type !== 'p2p.a2a.request') return;
    const peer = (event.data as { peer?: unknown } | null)?.peer;
    if (typeof peer === 'string') this.poll(peer);
  }

  /** Resolves once nothing is being listed or forwarded. */
  async idle(): Promise<void> {
    while (this.work.size > 0) await Promise.allSettled([...this.work]);
  }

  /**
   * Takes no new request and ends those under way without their last
   * answer: after the restart they are listed as claimed, which the rules
   * for a restart answer (a stream could otherwise hold the host open).
   */
  stop(): void {
    this.stopping.abort(new Error('the host is stopping'));
  }

  /** One listing per peer at a time; a request announced meanwhile asks for one more. */
  poll(peer: string): void {
    if (this.stopping.signal.aborted) return;
    if (this.polling.has(peer)) {
      this.pollAgain.add(peer);
      return;
    }
    this.polling.add(peer);
    this.track(
      this.take(peer)
        .catch((error: unknown) => this.warn(`a2a: the requests of ${peer} could not be listed: ${messageOf(error)}`))
        .finally(() => {
          this.polling.delete(peer);
          if (this.pollAgain.delete(peer)) this.poll(peer);
        }),
    );
  }

  private track(promise: Promise<void>): void {
    this.work.add(promise);
    void promise.finally(() => this.work.delete(promise));
  }

  private async take(peer: string): Promise<void> {
    const target = this.deps.target();
    if (target === undefined || this.free(peer) === 0) {
      if (target !== undefined) this.waiting.add(peer);
      return;
    }
    const served = await this.deps.execute('a2a_serve', { peer, limit: SERVE_PAGE });
    if (served.error !== undefined) throw new Error(served.error.message);
    const listed = (served.result as { data: { requests: ServedRequest[] } }).data.requests;
    const busy = this.busy(peer);
    const fresh = listed.filter((request) => !busy.has(request.request_id) && !this.finished.has(key(peer, request.request_id)));
    const taken = fresh.slice(0, this.free(peer));
    if (taken.length < fresh.length) this.waiting.add(peer);
    for (const request of taken) {
      busy.add(request.request_id);
      this.running += 1;
      this.track(
        this.serve(target, peer, request)
          .catch((error: unknown) => this.warn(`a2a: ${request.method} ${request.request_id} from ${peer} stopped without its last answer: ${messageOf(error)}`))
          .finally(() => {
            busy.delete(request.request_id);
            this.running -= 1;
            this.resumeWaiting();
          }),
      );
    }
  }

  private free(peer: string): number {
    return Math.max(0, Math.min(this.perPeer - this.busy(peer).size, this.total - this.running));
  }

  private busy(peer: string): Set<string> {
    let set = this.inWork.get(peer);
    if (set === undefined) this.inWork.set(peer, (set = new Set()));
    return set;
  }

  private resumeWaiting(): void {
    for (const peer of [...this.waiting]) {
      if (this.free(peer) === 0) continue;
      this.waiting.delete(peer);
      this.poll(peer);
    }
  }

  private async serve(target: ServingTarget, peer: string, request: ServedRequest): Promise<void> {
    let seq = request.answered_seq === null ? 0 : request.answered_seq + 1;
    const record = async (answer: Answer): Promise<void> => {
      const outcome = await this.deps.execute('a2a_respond', { peer, request_id: request.request_id, seq, ...answer });
      if (outcome.error !== undefined) throw new Error(`a2a_respond refused answer ${seq}: ${outcome.error.message}`);
      seq += 1;
      if ('end' in answer) this.remember(key(peer, request.request_id));
    };
    const fail = (reason: A2aBindingError, extra: Record<string, string> = {}): Promise<void> =>
      record({ error: bindingError(reason, { request_id: request.request_id, peer, ...extra }), end: true });

    // Claimed, yet not by this host run: the host stopped while the agent had it, and what the agent did is unknown.
    if (request.claimed && (!READS.has(request.method) || request.answered_seq !== null)) {
      await fail('SERVING_INTERRUPTED', { hint: 'ListTasks with your contextId' });
      return;
    }
    const verdict = await this.deps.gate.check(target.plugin, 'receive', { peer }, this.stopping.signal);
    this.stopping.signal.throwIfAborted();
    if (!verdict.allowed) {
      await fail('REFUSED_BY_OWNER');
      return;
    }
    const claimed = await this.deps.execute('a2a_respond', { peer, request_id: request.request_id, claim: true });
    if (claimed.error !== undefined) throw new Error(`a2a_respond refused the claim: ${claimed.error.message}`);

    // A blocking SendMessage could hold the agent's answer for minutes; as a stream, the caller sees the task
    // as it progresses and the host learns its id, and the last answer is the Task the blocking call returns.
    const asStream = request.method === 'SendMessage' && target.streams && !returnsImmediately(request.params);
    const response = await this.post(target, peer, request, asStream ? 'SendStreamingMessage' : request.method, request.params);
    if (response === undefined) {
      await fail('NO_A2A_AGENT');
      return;
    }
    if (response.status === 413) {
      await response.body?.cancel();
      await fail('TOO_LARGE');
      return;
    }
    if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream') || response.body === null) {
      await record(plainAnswer(response.status, await response.text()));
      return;
    }
    const first = await this.relayStream(response.body, record, fail);
    if (first === undefined) return;
    if (!asStream) {
      await record({ end: true });
      return;
    }
    await record(await this.blockingResult(target, peer, request, first));
  }

  /**
   * What the blocking call would have returned, once the stream it became
   * ended: the message, when the agent answered with one, else the task as
   * it is now (GetTask, with the history length the caller asked for).
   */
  private async blockingResult(target: ServingTarget, peer: string, request: ServedRequest, first: Record<string, unknown>): Promise<Answer> {
    if (first['message'] !== undefined) return { result: { message: first['message'] }, end: true };
    const taskId = taskIdOf(first);
    if (taskId === undefined) return { error: internalError('the agent streamed no task and no message'), end: true };
    const historyLength = (request.params['configuration'] as { historyLength?: unknown } | undefined)?.historyLength;
    const response = await this.post(target, peer, request, 'GetTask', { id: taskId, ...(historyLength === undefined ? {} : { historyLength }) });
    if (response === undefined) return { error: bindingError('NO_A2A_AGENT', { request_id: request.request_id, peer }), end: true };
    const answer = plainAnswer(response.status, await response.text());
    return 'result' in answer ? { result: { task: answer.result }, end: true } : answer;
  }

  /**
   * Records each event of a stream; the error that ends one ends the answers.
   * Returns the first event when the stream ended without an error, so the
   * caller can add the end; undefined when the answers are already ended.
   */
  private async relayStream(
    body: ReadableStream<Uint8Array>,
    record: (answer: Answer) => Promise<void>,
    fail: (reason: A2aBindingError) => Promise<void>,
  ): Promise<Record<string, unknown> | undefined> {
    let first: Record<string, unknown> | undefined;
    try {
      for await (const item of sseEvents(body, this.maxEventChars)) {
        const parsed = parseJson(item.data) as { result?: unknown; error?: unknown } | undefined;
        if (item.event === 'error' || parsed?.error !== undefined || !isRecord(parsed?.result)) {
          await record({ error: parsed?.error ?? internalError('the agent sent a stream event that is not a JSON-RPC answer'), end: true });
          return undefined;
        }
        first ??= parsed.result;
        await record({ event: parsed.result });
      }
    } catch (error) {
      if (error instanceof SseEventTooLarge) {
        await fail('TOO_LARGE');
        return undefined;
      }
      throw error;
    }
    return first ?? {};
  }

  /** The POST, retried with backoff while the agent cannot be reached; undefined once `retryMs` has passed. */
  private async post(target: ServingTarget, peer: string, request: ServedRequest, method: string, params: Record<string, unknown>): Promise<Response | undefined> {
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'A2A-Version': '1.0',
      'P2P-Comm-Peer': peer,
      'P2P-Comm-Request': request.request_id,
      Authorization: `Bearer ${target.token}`,
    };
    if (request.a2a_extensions !== null) headers['A2A-Extensions'] = request.a2a_extensions;
    const body = JSON.stringify({ jsonrpc: '2.0', id: request.request_id, method, params });
    const giveUpAt = this.now() + this.retryMs;
    const backoff = new Backoff({
      baseMs: this.options.retryBaseMs ?? DEFAULT_FORWARD_RETRY_BASE_MS,
      maxMs: this.options.retryMaxMs ?? DEFAULT_FORWARD_RETRY_MAX_MS,
      ...(this.options.random === undefined ? {} : { random: this.options.random }),
    });
    for (;;) {
      try {
        return await this.fetch(target.endpoint, { method: 'POST', headers, body, signal: this.stopping.signal });
      } catch (error) {
        this.stopping.signal.throwIfAborted();
        const wait = backoff.next();
        if (this.now() + wait > giveUpAt) {
          this.warn(`a2a: the agent at ${target.endpoint} could not be reached for ${this.retryMs} ms (${messageOf(error)}); ${request.request_id} from ${peer} is answered -32063`);
          return undefined;
        }
        await this.pause(wait);
      }
    }
  }

  /** The retry wait, cut short when the host stops. */
  private async pause(ms: number): Promise<void> {
    const done = new AbortController();
    try {
      await Promise.race([this.sleep(ms), once(this.stopping.signal, 'abort', { signal: done.signal })]);
    } finally {
      done.abort();
    }
    this.stopping.signal.throwIfAborted();
  }

  private remember(requestKey: string): void {
    this.finished.add(requestKey);
    // Only listings already under way can name a finished request again: the oldest are safe to forget.
    if (this.finished.size > FINISHED_REMEMBERED) this.finished.delete(this.finished.values().next().value as string);
  }
}

const FINISHED_REMEMBERED = 4096;

function key(peer: string, requestId: string): string {
  return `${peer}/${requestId}`;
}

/** A whole JSON-RPC response, or what the agent sent instead of one. */
function plainAnswer(status: number, text: string): Answer {
  const parsed = parseJson(text) as { result?: unknown; error?: unknown } | undefined;
  if (parsed?.error !== undefined) return { error: parsed.error, end: true };
  if (parsed?.result !== undefined) return { result: parsed.result, end: true };
  return { error: internalError(`the agent answered HTTP ${status} without a JSON-RPC answer`), end: true };
}

/** A2A's `returnImmediately`: the caller wants the task at once, not its end; nothing to convert. */
function returnsImmediately(params: Record<string, unknown>): boolean {
  return (params['configuration'] as { returnImmediately?: unknown } | undefined)?.returnImmediately === true;
}

/** The task a stream event is about: a `task`, or an update naming its `taskId`. */
function taskIdOf(event: Record<string, unknown>): string | undefined {
  const task = event['task'] as { id?: unknown } | undefined;
  if (typeof task?.id === 'string') return task.id;
  for (const update of [event['statusUpdate'], event['artifactUpdate']] as ({ taskId?: unknown } | undefined)[]) {
    if (typeof update?.taskId === 'string') return update.taskId;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function internalError(message: string): { code: number; message: string } {
  return { code: -32603, message };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function messageOf(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error instanceof Error ? error.message : String(error)}${cause}`;
}
