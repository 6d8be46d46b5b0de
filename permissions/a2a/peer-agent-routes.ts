import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GateVerdict } from '../gate/types';
import type { ExtensionRefusal } from '../http/extension-errors';
import { gatedCall } from '../http/gated-call';
import { routeRequest, RPC_ERRORS, type CarriedMethod, type JsonRpcError, type JsonRpcId } from './a2a-dispatch';
import { followAnswers, type FollowDeps, type TaskView } from './answer-follower';
import type { AnswerSignals } from './answer-signals';
import { AnswerStream, DEFAULT_KEEPALIVE_MS, type IntervalTimer } from './answer-stream';
import { extensionRefusal, gateRefusal, requestFailed, stillPending, type CallError } from './call-errors';
import { derivedCard } from './derived-card';

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
 */

export interface PeerAgentDeps {
  gate: { check(plugin: string, operation: string, input: unknown, signal?: AbortSignal): Promise<GateVerdict> };
  execute(operation: string, input: unknown): Promise<{ result?: unknown; error?: ExtensionRefusal }>;
  signals: Pick<AnswerSignals, 'next'>;
  /** Polls the extension's events faster until released, while answers are awaited. */
  hurry(): () => void;
}

export interface PeerAgentOptions {
  /** How long a blocking call waits for its answer before it is told the request is queued (-32060). */
  waitMs?: number;
  /** How long a stream waits for its next event before the same. */
  streamIdleMs?: number;
  keepaliveMs?: number;
  /** Injectable so tests fire keepalives without waiting. */
  intervals?: IntervalTimer;
}

/** Below undici's 300 s headers timeout, so a client of fetch gets the -32060 rather than its own timeout. */
export const DEFAULT_A2A_WAIT_MS = 120_000;
export const DEFAULT_A2A_STREAM_IDLE_MS = 10 * 60_000;

/** The permission an HTTP A2A call is gated as (design: a distinct one later changes only this). */
export const GATED_OPERATION = 'send';

export class PeerAgentRoutes {
  private readonly waitMs: number;
  private readonly streamIdleMs: number;
  private readonly keepaliveMs: number;
  private readonly intervals: IntervalTimer | undefined;

  constructor(
    private readonly deps: PeerAgentDeps,
    options: PeerAgentOptions = {},
  ) {
    this.waitMs = options.waitMs ?? DEFAULT_A2A_WAIT_MS;
    this.streamIdleMs = options.streamIdleMs ?? DEFAULT_A2A_STREAM_IDLE_MS;
    this.keepaliveMs = options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    this.intervals = options.intervals;
  }

  /**
   * GET `/a2a/<peer>/.well-known/agent-card.json`, without a token: an A2A
   * client reads a card before it authenticates (the card names the scheme),
   * and SDK clients that add the token per call read it without one. It
   * tells a local program that knows a peer's id only whether this node is
   * paired with it and what its agent says of itself; every call is gated.
   */
  async card(response: ServerResponse, peer: string, baseUrl: string): Promise<void> {
    const outcome = await this.deps.execute('peers', {});
    if (outcome.error !== undefined) return sendJson(response, 503, { error: 'Service unavailable', details: { code: 'extension_unavailable', message: outcome.error.message } });
    const peers = ((outcome.result as { data?: { peers?: unknown } } | undefined)?.data?.peers ?? []) as { peer?: unknown; state?: unknown; agent_card?: unknown }[];
    const entry = peers.find((candidate) => candidate.peer === peer && candidate.state === 'trusted');
    if (entry === undefined) return sendJson(response, 404, { error: 'Not found', details: { code: 'not_paired', message: `this node is not paired with ${peer}` } });
    if (typeof entry.agent_card !== 'object' || entry.agent_card === null) {
      return sendJson(response, 404, {
        error: 'Not found',
        details: { code: 'no_agent_card', message: `${peer} has sent no agent card: it serves no A2A agent, or has not connected since it set one` },
      });
    }
    sendJson(response, 200, derivedCard(entry.agent_card as Record<string, unknown>, baseUrl));
  }

  /** POST `/a2a/<peer>/`: one JSON-RPC request, `body` already parsed. */
  async call(request: IncomingMessage, response: ServerResponse, plugin: string, peer: string, body: unknown): Promise<void> {
    const routed = routeRequest(body, headerOf(request, 'a2a-version'));
    if (routed.kind === 'answered') return sendRpc(response, 200, routed.id, { error: routed.error });
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
    if (sent.kind === 'refused') return sendError(response, routed.id, gateRefusal(sent.verdict));
    if (sent.kind === 'failed') return sendError(response, routed.id, extensionRefusal(sent.refusal, peer));
    const requestId = (sent.result as { data: { request_id: string } }).data.request_id;
    if (routed.streaming) await this.stream(response, routed.id, peer, requestId, left.signal);
    else await this.answer(response, routed.id, routed.method, peer, requestId, left.signal);
  }

  private async answer(response: ServerResponse, id: JsonRpcId, method: CarriedMethod, peer: string, requestId: string, signal: AbortSignal): Promise<void> {
    for await (const step of followAnswers(this.followDeps(), peer, requestId, this.waitMs, signal)) {
      if (step.kind === 'failed') return sendError(response, id, { status: statusOf(step.view), error: requestFailed(step.view, peer, requestId) });
      if (step.kind === 'idle') return sendRpc(response, 200, id, { error: stillPending(step.view, peer, requestId) });
      const { kind, body } = step.answer;
      if (kind === 'result') return sendRpc(response, 200, id, { result: body });
      if (kind === 'error') return sendRpc(response, 200, id, { error: body as JsonRpcError });
    }
    if (signal.aborted) return;
    sendRpc(response, 200, id, { error: { code: RPC_ERRORS.INTERNAL, message: `the peer's agent ended its answer to ${method} without a result` } });
  }

  private async stream(response: ServerResponse, id: JsonRpcId, peer: string, requestId: string, signal: AbortSignal): Promise<void> {
    const stream = new AnswerStream(response, id, this.keepaliveMs, this.intervals);
    stream.open();
    try {
      for await (const step of followAnswers(this.followDeps(), peer, requestId, this.streamIdleMs, signal)) {
        if (step.kind === 'failed') stream.error(requestFailed(step.view, peer, requestId));
        else if (step.kind === 'idle') stream.error(stillPending(step.view, peer, requestId));
        else if (step.answer.kind === 'error') stream.error(step.answer.body as JsonRpcError);
        else if (step.answer.kind !== 'end') stream.event(step.answer.body);
      }
    } finally {
      stream.close();
    }
  }

  private followDeps(): FollowDeps {
    return {
      signals: this.deps.signals,
      hurry: () => this.deps.hurry(),
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
export function misaddressed(response: ServerResponse, apiUrl: string, peer: string | undefined): void {
  const base = `${apiUrl}/a2a/${peer ?? '<peer id>'}/`;
  sendJson(response, 404, {
    error: 'Not found',
    details: { code: 'a2a_base_url', message: `the A2A agent of a paired peer is at ${base} (with the trailing slash), its card at ${base}.well-known/agent-card.json` },
  });
}

/** A body that is not JSON (JSON-RPC's parse error; there is no id to echo). */
export function unparsableRpc(response: ServerResponse): void {
  sendRpc(response, 200, null, { error: { code: RPC_ERRORS.PARSE_ERROR, message: 'Parse error: the body is not valid JSON' } });
}

function statusOf(view: TaskView): number {
  return view.reason === 'revoked' || view.reason === 'not_paired' ? 404 : 200;
}

function headerOf(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function sendError(response: ServerResponse, id: JsonRpcId, { status, error }: CallError): void {
  sendRpc(response, status, id, { error });
}

function sendRpc(response: ServerResponse, status: number, id: JsonRpcId, outcome: { result: unknown } | { error: JsonRpcError }): void {
  sendJson(response, status, { jsonrpc: '2.0', id, ...outcome });
}

function sendJson(response: ServerResponse, status: number, body: object): void {
  if (response.writableEnded || response.destroyed) return;
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  response.end(text);
}
