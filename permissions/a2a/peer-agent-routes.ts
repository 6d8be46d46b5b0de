import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GateVerdict } from '../gate/types';
import type { ExtensionRefusal } from '../http/extension-errors';
import { TokenBucket } from '../../extension/common/token-bucket';
import { gatedCall } from '../http/gated-call';
import { sendJson } from '../http/json-response';
import { internalError, routeRequest, RPC_ERRORS, type CarriedMethod, type JsonRpcError, type JsonRpcId } from './a2a-dispatch';
import { followAnswers, type FollowDeps, type TaskView } from './answer-follower';
import type { AnswerSignals } from './answer-signals';
import { AnswerStream, DEFAULT_KEEPALIVE_MS, type IntervalTimer } from './answer-stream';
import { answersUnreadable, extensionRefusal, gateRefusal, isPeerId, malformedPeer, malformedPeerMessage, requestFailed, stillPending, type CallError } from './call-errors';
import { derivedCard } from './derived-card';
import type { PeerCards } from './peer-cards';

/**
 * Each paired peer as a local A2A v1.0 agent on the Host API, at
 * `/a2a/<peer id>/`, for A2A clients that know nothing of p2p-comm: its
 * card, and JSON-RPC calls carried to the peer's agent (docs/a2a.md
 * "Calling a peer's agent over HTTP"). The Host API has authenticated the
 * plugin and checked the Host header and browsers first.
 *
 * A call is gated as the plugin sending to that peer (`send`, scope peer:
 * it sends the plugin's words there), then run as `a2a_send`; a client
 * that leaves while the gate asks the person sends nothing. Its answers
 * are read with `a2a_task` as the extension's events announce them.
 *
 * The card is served from the peers' cards kept by PeerCards, behind a
 * rate limit: the route needs no token, so any local program can call it.
 */

export interface PeerAgentDeps {
  gate: { check(plugin: string, operation: string, input: unknown, signal?: AbortSignal): Promise<GateVerdict> };
  execute(operation: string, input: unknown): Promise<{ result?: unknown; error?: ExtensionRefusal }>;
  signals: Pick<AnswerSignals, 'next'>;
  /** Polls the extension's events faster for a short while (the event pump's hurry window), or until released. */
  hurry(): () => void;
  cards: Pick<PeerCards, 'lookup'>;
}

export interface PeerAgentOptions {
  /** How long a blocking call waits for its answer, counted from the call's start, before it is told the request is queued (-32060). */
  waitMs?: number;
  /** How long a stream waits for its next event before the same. */
  streamIdleMs?: number;
  keepaliveMs?: number;
  /** Injectable so tests fire keepalives without waiting. */
  intervals?: IntervalTimer;
  /** Reads of the public card route: `burst` at once, then `perSecond`. */
  cardRateLimit?: { burst: number; perSecond: number };
  /** Milliseconds; injectable so tests move the waits and the card route's rate limit without waiting. */
  now?: () => number;
}

/** Below undici's 300 s headers timeout, so a client of fetch gets the -32060 rather than its own timeout. */
export const DEFAULT_A2A_WAIT_MS = 120_000;
export const DEFAULT_A2A_STREAM_IDLE_MS = 10 * 60_000;
/** Room for a client reading the cards of all its peers at start; a loop of reads then costs one kept card each, 20 a second at most. */
export const DEFAULT_CARD_RATE_LIMIT = { burst: 50, perSecond: 20 };

/** The permission an HTTP A2A call is gated as (design: a distinct one later changes only this). */
export const GATED_OPERATION = 'send';

export class PeerAgentRoutes {
  private readonly waitMs: number;
  private readonly streamIdleMs: number;
  private readonly keepaliveMs: number;
  private readonly intervals: IntervalTimer | undefined;
  private readonly cardRate: TokenBucket;
  private readonly now: () => number;

  constructor(
    private readonly deps: PeerAgentDeps,
    options: PeerAgentOptions = {},
  ) {
    this.waitMs = options.waitMs ?? DEFAULT_A2A_WAIT_MS;
    this.streamIdleMs = options.streamIdleMs ?? DEFAULT_A2A_STREAM_IDLE_MS;
    this.keepaliveMs = options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    this.intervals = options.intervals;
    this.now = options.now ?? Date.now;
    const { burst, perSecond } = options.cardRateLimit ?? DEFAULT_CARD_RATE_LIMIT;
    this.cardRate = new TokenBucket(burst, perSecond, this.now);
  }

  /**
   * GET `/a2a/<peer>/.well-known/agent-card.json`, without a token: an A2A
   * client reads a card before it authenticates (the card names the scheme),
   * and SDK clients that add the token per call read it without one. It
   * tells a local program that knows a peer's id only whether this node is
   * paired with it and what its agent says of itself; every call is gated.
   */
  async card(request: IncomingMessage, response: ServerResponse, peer: string, baseUrl: string): Promise<void> {
    if (!this.cardRate.take()) {
      const seconds = Math.ceil(this.cardRate.waitMs() / 1000);
      return sendJson(
        request,
        response,
        429,
        { error: 'Too many requests', details: { code: 'rate_limited', message: `too many agent card reads; try again in ${seconds} s` } },
        { 'retry-after': String(seconds), ...NOT_CACHED },
      );
    }
    if (!isPeerId(peer)) return sendJson(request, response, 404, { error: 'Not found', details: { code: 'not_paired', message: malformedPeerMessage(peer) } }, NOT_CACHED);
    const found = await this.deps.cards.lookup(peer);
    if (found.kind === 'unavailable') return sendJson(request, response, 503, { error: 'Service unavailable', details: { code: 'extension_unavailable', message: found.message } }, NOT_CACHED);
    if (found.kind === 'not_paired') return sendJson(request, response, 404, { error: 'Not found', details: { code: 'not_paired', message: `this node is not paired with ${peer}` } }, NOT_CACHED);
    if (found.kind === 'no_card') {
      return sendJson(
        request,
        response,
        404,
        { error: 'Not found', details: { code: 'no_agent_card', message: `${peer} has sent no agent card: it serves no A2A agent, or has not connected since it set one` } },
        NOT_CACHED,
      );
    }
    sendJson(request, response, 200, derivedCard(found.card, baseUrl), NOT_CACHED);
  }

  /** POST `/a2a/<peer>/`: one JSON-RPC request, `body` already parsed. */
  async call(request: IncomingMessage, response: ServerResponse, plugin: string, peer: string, body: unknown): Promise<void> {
    const routed = routeRequest(body, headerOf(request, 'a2a-version'));
    if (!isPeerId(peer)) return sendError(request, response, routed.id, malformedPeer(peer));
    if (routed.kind === 'answered') return sendRpc(request, response, 200, routed.id, { error: routed.error });
    // A client that went away while its body was read closed the response before a listener could hear it: nothing is asked or sent for it.
    if (response.destroyed) return;
    const left = new AbortController();
    response.once('close', () => {
      if (!response.writableFinished) left.abort();
    });
    const extensions = headerOf(request, 'a2a-extensions');
    const sendInput = { peer, request: { method: routed.method, params: routed.params }, ...(extensions === undefined ? {} : { a2a_extensions: extensions }) };
    // Gated as `send` with the request as its content (what the dialog shows), run as a2a_send.
    const sent = await gatedCall(
      { gate: this.deps.gate, execute: () => this.deps.execute('a2a_send', sendInput) },
      plugin,
      GATED_OPERATION,
      { peer, type: 'json', content: body },
      left.signal,
    );
    if (sent.kind === 'abandoned') return;
    if (sent.kind === 'refused') return sendError(request, response, routed.id, gateRefusal(sent.verdict));
    if (sent.kind === 'failed') return sendError(request, response, routed.id, extensionRefusal(sent.refusal, peer));
    const requestId = (sent.result as { data: { request_id: string } }).data.request_id;
    if (routed.streaming) await this.stream(response, routed.id, peer, requestId, left.signal);
    else await this.answer(request, response, routed.id, routed.method, peer, requestId, left.signal);
  }

  /** A blocking call: its answer by `waitMs` after the call started, however many events the peer sends meanwhile (they are not relayed). */
  private async answer(request: IncomingMessage, response: ServerResponse, id: JsonRpcId, method: CarriedMethod, peer: string, requestId: string, signal: AbortSignal): Promise<void> {
    try {
      for await (const step of followAnswers(this.followDeps(), peer, requestId, { kind: 'deadline', ms: this.waitMs }, signal)) {
        if (step.kind === 'failed') return sendError(request, response, id, { status: statusOf(step.view), error: requestFailed(step.view, peer, requestId) });
        if (step.kind === 'waited') return sendRpc(request, response, 200, id, { error: stillPending(step.view, peer, requestId) });
        const { kind, body } = step.answer;
        if (kind === 'result') return sendRpc(request, response, 200, id, { result: body });
        if (kind === 'error') return sendRpc(request, response, 200, id, { error: body as JsonRpcError });
      }
    } catch (error) {
      return sendError(request, response, id, answersUnreadable(error));
    }
    if (signal.aborted) return;
    sendRpc(request, response, 200, id, { error: internalError(`the peer's agent ended its answer to ${method} without a result`) });
  }

  /** A stream: each answer as it comes, until the end marker or `streamIdleMs` without one. */
  private async stream(response: ServerResponse, id: JsonRpcId, peer: string, requestId: string, signal: AbortSignal): Promise<void> {
    const stream = new AnswerStream(response, id, this.keepaliveMs, this.intervals);
    stream.open();
    try {
      for await (const step of followAnswers(this.followDeps(), peer, requestId, { kind: 'idle', ms: this.streamIdleMs }, signal)) {
        if (step.kind === 'failed') await stream.error(requestFailed(step.view, peer, requestId));
        else if (step.kind === 'waited') await stream.error(stillPending(step.view, peer, requestId));
        else if (step.answer.kind === 'error') await stream.error(step.answer.body as JsonRpcError);
        else if (step.answer.kind !== 'end') await stream.event(step.answer.body);
      }
    } catch (error) {
      await stream.error(answersUnreadable(error).error);
    } finally {
      stream.close();
    }
  }

  private followDeps(): FollowDeps {
    return {
      signals: this.deps.signals,
      hurry: () => this.deps.hurry(),
      now: this.now,
      readTask: async (peer, requestId, after) => {
        const outcome = await this.deps.execute('a2a_task', { peer, request_id: requestId, after });
        if (outcome.error !== undefined) throw new Error(`a2a_task failed: ${outcome.error.message}`);
        return (outcome.result as { data: TaskView }).data;
      },
    };
  }
}

/**
 * The agent's path without its trailing slash, or the card one level up
 * (where an A2A client looks when given the base URL without the slash):
 * answered with the right URL. `peer` is unknown for the latter.
 */
export function misaddressed(request: IncomingMessage, response: ServerResponse, apiUrl: string, peer: string | undefined): void {
  const base = `${apiUrl}/a2a/${peer ?? '<peer id>'}/`;
  sendJson(request, response, 404, {
    error: 'Not found',
    details: { code: 'a2a_base_url', message: `the A2A agent of a paired peer is at ${base} (with the trailing slash), its card at ${base}.well-known/agent-card.json` },
  }, NOT_CACHED);
}

/** A body that is not JSON (JSON-RPC's parse error; there is no id to echo). */
export function unparsableRpc(request: IncomingMessage, response: ServerResponse): void {
  sendRpc(request, response, 200, null, { error: { code: RPC_ERRORS.PARSE_ERROR, message: 'Parse error: the body is not valid JSON' } });
}

function statusOf(view: TaskView): number {
  return view.reason === 'revoked' || view.reason === 'not_paired' ? 404 : 200;
}

function headerOf(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Every answer here depends on the pairing and the peer's card of the moment. */
const NOT_CACHED = { 'cache-control': 'no-store' };

function sendError(request: IncomingMessage, response: ServerResponse, id: JsonRpcId, { status, error }: CallError): void {
  sendRpc(request, response, status, id, { error });
}

function sendRpc(request: IncomingMessage, response: ServerResponse, status: number, id: JsonRpcId, outcome: { result: unknown } | { error: JsonRpcError }): void {
  sendJson(request, response, status, { jsonrpc: '2.0', id, ...outcome }, NOT_CACHED);
}
