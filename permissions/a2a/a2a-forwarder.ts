import { once } from 'node:events';
import { Backoff } from '../../extension/common/backoff';
import { bindingError, type A2aBindingError } from '../../extension/common/a2a-binding';
import type { ExtensionEvent } from '../host/process-manager';
import type { ExtensionRefusal } from '../http/extension-errors';
import type { GateVerdict } from '../gate/types';
import { internalError } from './a2a-dispatch';
import { BodyTooLarge, readBoundedText } from './bounded-body';
import { FORWARD_SIGNATURE_HEADER, forwardSignature } from './forward-signature';
import { isRecord, parseJson } from './json-values';
import { SseEventTooLarge, sseEvents } from './sse-events';

/**
 * Hands the A2A requests paired peers send to this node to the agent a
 * plugin declared (docs/a2a.md "Serving your agent"), and records the
 * agent's answers for the peer. Each request is gated as the plugin's
 * `receive` from that peer, claimed (durably, so a restart can tell it was
 * taken), then POSTed; every answer is recorded before the next is read.
 * An answer the extension refuses ends the request with an error in its
 * place; an answer refused because the peer's outbox is full is offered
 * again until it fits, which holds the agent's stream (backpressure).
 */

/** Where requests go, and as whom. */
export interface ServingTarget {
  /** The declaring plugin: its `receive` permission and scope decide. */
  plugin: string;
  /** The plugin's secret, which signs each POST (forward-signature.ts). */
  secret: string;
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
  /** The longest SSE event or plain answer taken from the agent, in characters; a longer one ends the answers with -32067. */
  maxEventChars?: number;
  /** Answers the peer's node takes for one request (the binding's maxAnswers): the last seq is kept for the end. */
  maxAnswers?: number;
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
/** The binding's default maxAnswers (extension/wire/a2a-payload.ts). */
export const DEFAULT_MAX_ANSWERS = 10_000;
/** a2a_serve's largest page: every unfinished request of a peer (the extension keeps at most 256). */
const SERVE_PAGE = 256;

/**
 * The methods that may reach the agent twice with the same outcome: the reads, and CancelTask, since
 * cancelling a task again leaves it cancelled. One of them claimed before a restart is forwarded again.
 */
const SAFE_TO_REPEAT = new Set(['GetTask', 'ListTasks', 'CancelTask', 'SubscribeToTask']);

/** RFC 9110 field-value: visible ASCII, space and tab. Anything else fetch refuses, or would carry into the agent's headers. */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

/** The causes of a failed fetch that mean the agent is not listening (yet): only these are retried. */
const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED']);

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

/** Thrown by a record whose answer was refused and replaced by an error that ended the request: nothing more is sent. */
class RequestEnded extends Error {
  override name = 'RequestEnded';
}

/** What a POST came to: the agent's response, an agent that stayed unreachable, or a failure retrying would not mend. */
type Posted = { response: Response } | { unreachable: string } | { failed: string };

export class A2aForwarder {
  private readonly perPeer: number;
  private readonly total: number;
  private readonly retryMs: number;
  private readonly maxEventChars: number;
  private readonly maxAnswers: number;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly warn: (line: string) => void;
  /** Request ids being forwarded, per peer; a peer with none has no entry. */
  private readonly inWork = new Map<string, Set<string>>();
  /** Requests this run claimed: one still listed when not in work stopped here without its end, not in an earlier run. */
  private readonly claimedHere = new Set<string>();
  /** Peers' A2A-Extensions values refused, for the warning. */
  private invalidExtensions = 0;
  /** Agent answers with an HTTP error status already warned about, by status: said once, not per request. */
  private readonly warnedStatus = new Set<number>();
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
    this.maxAnswers = options.maxAnswers ?? DEFAULT_MAX_ANSWERS;
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
    const busy = this.inWork.get(peer) ?? new Set<string>();
    const fresh = listed.filter((request) => !busy.has(request.request_id) && !this.finished.has(key(peer, request.request_id)));
    const taken = fresh.slice(0, this.free(peer));
    if (taken.length < fresh.length) this.waiting.add(peer);
    if (taken.length > 0) this.inWork.set(peer, busy);
    for (const request of taken) {
      busy.add(request.request_id);
      this.running += 1;
      this.track(
        this.serve(target, peer, request)
          .catch((error: unknown) => {
            if (!(error instanceof RequestEnded)) this.warn(`a2a: ${request.method} ${request.request_id} from ${peer} stopped without its last answer: ${messageOf(error)}`);
          })
          .finally(() => {
            // Ended: it is never listed again. Not ended: the next listing of it ends it (see serve).
            if (this.finished.has(key(peer, request.request_id))) this.claimedHere.delete(key(peer, request.request_id));
            busy.delete(request.request_id);
            if (busy.size === 0) this.inWork.delete(peer);
            this.running -= 1;
            this.resumeWaiting();
          }),
      );
    }
  }

  private free(peer: string): number {
    return Math.max(0, Math.min(this.perPeer - (this.inWork.get(peer)?.size ?? 0), this.total - this.running));
  }

  private resumeWaiting(): void {
    for (const peer of [...this.waiting]) {
      if (this.free(peer) === 0) continue;
      this.waiting.delete(peer);
      this.poll(peer);
    }
  }

  private async serve(target: ServingTarget, peer: string, request: ServedRequest): Promise<void> {
    const requestKey = key(peer, request.request_id);
    let seq = request.answered_seq === null ? 0 : request.answered_seq + 1;
    const record = async (answer: Answer): Promise<void> => {
      // The last seq the peer's node takes is kept for the end: an event there could never be followed by one.
      const fits = !('event' in answer) || seq < this.maxAnswers - 1;
      const offered = fits ? answer : { error: internalError(`the agent sent more than ${this.maxAnswers - 1} answers, the most carried for one request`), end: true as const };
      const refusal = await this.respond(peer, request.request_id, seq, offered);
      if (refusal === undefined && fits) {
        seq += 1;
        if ('end' in answer) this.remember(requestKey);
        return;
      }
      if (refusal !== undefined) {
        const instead = { error: this.refusedAnswer(refusal, peer, request.request_id), end: true as const };
        const ended = await this.respond(peer, request.request_id, seq, instead);
        if (ended !== undefined) throw new Error(`a2a_respond refused answer ${seq} (${refusal.message}), and the error that would end the request (${ended.message})`);
        this.warn(`a2a: answer ${seq} to ${request.method} ${request.request_id} from ${peer} could not be carried (${refusal.message}); the request is ended with ${instead.error.code}`);
      }
      this.remember(requestKey);
      throw new RequestEnded();
    };
    const fail = (reason: A2aBindingError, extra: Record<string, string> = {}): Promise<void> =>
      record({ error: bindingError(reason, { request_id: request.request_id, peer, ...extra }), end: true });

    if (request.claimed && this.claimedHere.has(requestKey)) {
      // Claimed by this run, whose forwarding stopped before the end could be recorded: the agent's outcome is known lost.
      await record({ error: internalError('the p2p-comm host could not finish forwarding this request to its agent; send it again'), end: true });
      return;
    }
    // Claimed, yet not by this host run: the host stopped while the agent had it, and what the agent did is unknown.
    if (request.claimed && (!SAFE_TO_REPEAT.has(request.method) || request.answered_seq !== null)) {
      await fail('SERVING_INTERRUPTED', { hint: 'ListTasks with your contextId' });
      return;
    }
    if (request.a2a_extensions !== null && !FIELD_VALUE.test(request.a2a_extensions)) {
      this.invalidExtensions += 1;
      this.warn(`a2a: ${peer} sent an A2A-Extensions value that is not an HTTP field value (${this.invalidExtensions} so far); ${request.request_id} is answered -32602`);
      await record({ error: { code: -32602, message: 'Invalid params: the A2A-Extensions value may hold only visible ASCII characters, spaces and tabs (an HTTP field value)' }, end: true });
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
    this.claimedHere.add(requestKey);
    try {
      await this.forward(target, peer, request, record, fail);
    } catch (error) {
      if (error instanceof RequestEnded || this.stopping.signal.aborted) throw error;
      // Ended at once: left open, the peer would wait until its next request and then hear a false "restarted".
      await record({ error: internalError(`the p2p-comm host could not finish forwarding this request to its agent (${messageOf(error)}); send it again`), end: true });
      throw error;
    }
  }

  private async forward(
    target: ServingTarget,
    peer: string,
    request: ServedRequest,
    record: (answer: Answer) => Promise<void>,
    fail: (reason: A2aBindingError) => Promise<void>,
  ): Promise<void> {
    // A blocking SendMessage could hold the agent's answer for minutes; as a stream, the caller sees the task
    // as it progresses and the host learns its id, and the last answer is the Task the blocking call returns.
    const asStream = request.method === 'SendMessage' && target.streams && !returnsImmediately(request.params);
    const posted = await this.post(target, peer, request, asStream ? 'SendStreamingMessage' : request.method, request.params);
    if ('unreachable' in posted) {
      await fail('NO_A2A_AGENT');
      return;
    }
    if ('failed' in posted) {
      await record({ error: internalError(posted.failed), end: true });
      return;
    }
    const { response } = posted;
    if (response.status === 413) {
      await response.body?.cancel();
      await fail('TOO_LARGE');
      return;
    }
    if (!(response.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream') || response.body === null) {
      await record(await this.plainAnswer(response, { request_id: request.request_id, peer }));
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
   * a2a_respond, offered again while the peer's outbox is full: the agent's
   * next answer waits for room (the peer taking its messages, or their
   * expiry). Any other refusal is returned for the caller to answer.
   */
  private async respond(peer: string, requestId: string, seq: number, answer: Answer): Promise<ExtensionRefusal | undefined> {
    const backoff = this.backoff();
    for (;;) {
      const outcome = await this.deps.execute('a2a_respond', { peer, request_id: requestId, seq, ...answer });
      if (outcome.error === undefined) return undefined;
      if (refusalCode(outcome.error) !== 'limit_reached') return outcome.error;
      await this.pause(backoff.next());
    }
  }

  /** The error recorded in place of an answer the extension refused: -32067 when it was too large to carry. */
  private refusedAnswer(refusal: ExtensionRefusal, peer: string, requestId: string): { code: number; message: string } {
    if (refusalCode(refusal) === 'invalid_input' && refusalRule(refusal) === 'max_bytes') return bindingError('TOO_LARGE', { request_id: requestId, peer });
    return internalError(`the agent's answer could not be carried to the peer: ${refusal.message}`);
  }

  /** A whole JSON-RPC response, or what the agent sent instead of one; read up to the same limit as an SSE event. */
  private async plainAnswer(response: Response, metadata: { request_id: string; peer: string }): Promise<Answer> {
    let text: string;
    try {
      text = await readBoundedText(response.body, this.maxEventChars);
    } catch (error) {
      if (error instanceof BodyTooLarge) return { error: bindingError('TOO_LARGE', metadata), end: true };
      throw error;
    }
    if (!response.ok) this.warnStatus(response.status);
    const parsed = parseJson(text);
    if (isRecord(parsed) && parsed['error'] !== undefined) return { error: agentError(parsed['error']), end: true };
    if (isRecord(parsed) && parsed['result'] !== undefined) return { result: parsed['result'], end: true };
    return { error: internalError(`the agent answered HTTP ${response.status} without a JSON-RPC answer`), end: true };
  }

  /** An agent that answers with an HTTP error (401 once its plugin's secret changed, say) is the owner's to fix: told once per status. */
  private warnStatus(status: number): void {
    if (this.warnedStatus.has(status)) return;
    this.warnedStatus.add(status);
    this.warn(`a2a: the agent answered HTTP ${status}; peers get -32603 until it is fixed (a 401 after its plugin's secret changed means the agent checks signatures with the old one)`);
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
    const posted = await this.post(target, peer, request, 'GetTask', { id: taskId, ...(historyLength === undefined ? {} : { historyLength }) });
    if ('unreachable' in posted) return { error: bindingError('NO_A2A_AGENT', { request_id: request.request_id, peer }), end: true };
    if ('failed' in posted) return { error: internalError(posted.failed), end: true };
    const answer = await this.plainAnswer(posted.response, { request_id: request.request_id, peer });
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
        const parsed = parseJson(item.data);
        const result = isRecord(parsed) ? parsed['result'] : undefined;
        if (item.event === 'error' || !isRecord(parsed) || parsed['error'] !== undefined || !isRecord(result)) {
          const error = isRecord(parsed) ? parsed['error'] : undefined;
          await record({ error: error === undefined ? internalError('the agent sent a stream event that is not a JSON-RPC answer') : agentError(error), end: true });
          return undefined;
        }
        first ??= result;
        await record({ event: result });
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

  /**
   * The POST, signed, retried with backoff while the agent cannot be
   * reached (nothing listens on its port: it is starting or restarting).
   * Any other failure (a redirect, a header fetch refuses) is final.
   */
  private async post(target: ServingTarget, peer: string, request: ServedRequest, method: string, params: Record<string, unknown>): Promise<Posted> {
    const body = JSON.stringify({ jsonrpc: '2.0', id: request.request_id, method, params });
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'A2A-Version': '1.0',
      'P2P-Comm-Peer': peer,
      'P2P-Comm-Request': request.request_id,
    };
    if (request.a2a_extensions !== null) headers['A2A-Extensions'] = request.a2a_extensions;
    const giveUpAt = this.now() + this.retryMs;
    const backoff = this.backoff();
    for (;;) {
      try {
        // Signed per attempt: a retry minutes later must still be within the agent's window.
        headers[FORWARD_SIGNATURE_HEADER] = forwardSignature(target.secret, { peer, requestId: request.request_id, t: Math.floor(this.now() / 1000), body });
        // Never redirected: the request and the peer's identity go to the loopback port declared, nowhere else.
        return { response: await this.fetch(target.endpoint, { method: 'POST', headers, body, redirect: 'error', signal: this.stopping.signal }) };
      } catch (error) {
        this.stopping.signal.throwIfAborted();
        if (!isConnectionError(error)) {
          this.warn(`a2a: the request ${request.request_id} from ${peer} could not be sent to the agent at ${target.endpoint}: ${messageOf(error)}`);
          return { failed: `the p2p-comm host could not send the request to its agent (${messageOf(error)})` };
        }
        const wait = backoff.next();
        if (this.now() + wait > giveUpAt) {
          this.warn(`a2a: nothing answered at ${target.endpoint} for ${this.retryMs} ms (${messageOf(error)}); ${request.request_id} from ${peer} is answered -32063`);
          return { unreachable: messageOf(error) };
        }
        await this.pause(wait);
      }
    }
  }

  private backoff(): Backoff {
    return new Backoff({
      baseMs: this.options.retryBaseMs ?? DEFAULT_FORWARD_RETRY_BASE_MS,
      maxMs: this.options.retryMaxMs ?? DEFAULT_FORWARD_RETRY_MAX_MS,
      ...(this.options.random === undefined ? {} : { random: this.options.random }),
    });
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

/** The agent's JSON-RPC error as it sent it, when it is one; otherwise an error the peer's node takes, naming what was wrong. */
function agentError(error: unknown): unknown {
  if (isRecord(error) && Number.isInteger(error['code']) && typeof error['message'] === 'string') return error;
  return internalError('the agent answered with an error that is not a JSON-RPC error object');
}

/** Whether a fetch failed because nothing accepted the connection or it broke: the cause chain names a socket error. */
function isConnectionError(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_ERRORS.has(code)) return true;
  }
  return false;
}

function refusalCode(refusal: ExtensionRefusal): string | undefined {
  const code = isRecord(refusal.data) ? refusal.data['error'] : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** The rule an invalid_input names in its details: `max_bytes` for content too large to carry (errors.md). */
function refusalRule(refusal: ExtensionRefusal): string | undefined {
  const details = isRecord(refusal.data) ? refusal.data['details'] : undefined;
  const rule = isRecord(details) ? details['rule'] : undefined;
  return typeof rule === 'string' ? rule : undefined;
}

function messageOf(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error instanceof Error ? error.message : String(error)}${cause}`;
}
