import { type A2aBindingError, bindingError } from '../../extension/common/a2a-binding';
import type { GateVerdict } from '../gate/types';
import type { ExtensionRefusal } from '../http/extension-errors';
import { PEER_ID_PATTERN } from '../../extension/common/peer-id';
import { quoteUntrusted } from '../../extension/common/quote-text';
import { internalError, rpcError, RPC_ERRORS, type JsonRpcError } from './a2a-dispatch';
import type { TaskView } from './answer-follower';

/**
 * The JSON-RPC error (and HTTP status) an A2A client gets when its call
 * to a peer's local agent could not be carried or answered: refused here
 * by the gate, refused by the extension, failed on the way, or still
 * unanswered after the wait (docs/a2a.md "Calling a peer's agent over HTTP").
 */

export interface CallError {
  status: number;
  error: JsonRpcError;
}

/** JSON-RPC's "server error" range: the person's own host refused the call, before anything reached the peer. */
export const REFUSED_HERE = -32000;

export function gateRefusal(verdict: Extract<GateVerdict, { allowed: false }>): CallError {
  const message = verdict.details === null ? verdict.error : `${verdict.error}: ${verdict.details}`;
  return { status: verdict.status, error: { code: REFUSED_HERE, message, data: { error: verdict.error, details: verdict.details } } };
}

/** `peer`: the peer called; the ErrorInfo names it. */
export function extensionRefusal(refusal: ExtensionRefusal, peer: string): CallError {
  const code = codeOf(refusal);
  const metadata = { peer };
  if (code === 'not_found' || code === 'revoked_by_peer') return { status: 404, error: bindingError('NOT_PAIRED', metadata) };
  if (code === 'not_available') return { status: 200, error: bindingError('NO_A2A_AGENT', metadata) };
  if (code === 'limit_reached') return { status: 429, error: bindingError('TOO_MANY_REQUESTS', metadata) };
  if (code === 'invalid_input') return { status: 200, error: rpcError(RPC_ERRORS.INVALID_PARAMS, `Invalid params: ${refusal.message}`) };
  return { status: 503, error: internalError(`the p2p-comm node could not take the request: ${refusal.message}`) };
}

/** Whether `/a2a/<peer>/` names a peer id at all; one that does not is no peer this node can be paired with. */
export function isPeerId(peer: string): boolean {
  return PEER_ID_PATTERN.test(peer);
}

/** Why a path with a malformed peer id names no paired peer: the format it should have. */
export function malformedPeerMessage(peer: string): string {
  return `${quoteUntrusted(peer)} is not a peer id, so this node is not paired with it: a peer id is 52 characters a-z and 2-7 (lower case) ending in "a" or "q"`;
}

/** `/a2a/<peer>/` with a malformed peer id: not paired, as for a peer id this node does not know, with the format named. */
export function malformedPeer(peer: string): CallError {
  return { status: 404, error: { ...bindingError('NOT_PAIRED', { peer }), message: malformedPeerMessage(peer) } };
}

/**
 * The request went out, but its answers could not be read (the extension
 * restarting, or refusing `a2a_task`): the request itself is still there,
 * so the client is told to re-attach rather than given a clean end.
 */
export function answersUnreadable(cause: unknown): CallError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return { status: 503, error: internalError(`the p2p-comm node could not read the answers: ${reason}; send the same message again to re-attach`) };
}

const FAILURES: Readonly<Record<string, A2aBindingError>> = {
  revoked: 'NOT_PAIRED',
  not_paired: 'NOT_PAIRED',
  expired: 'REQUEST_EXPIRED',
  refused_by_peer: 'NO_A2A_AGENT',
};

/** The request can no longer be answered (`a2a_task` state `failed`). */
export function requestFailed(view: TaskView, peer: string, requestId: string): JsonRpcError {
  return bindingError(FAILURES[view.reason ?? ''] ?? 'NO_A2A_AGENT', { request_id: requestId, peer });
}

/** The envelope states before the peer has the request. */
const NOT_DELIVERED = new Set(['queued', 'sent']);

/**
 * Still unanswered after the wait: the request stays queued at this node
 * (PEER_OFFLINE) or with the peer's agent (ANSWER_PENDING); sending the
 * same message again re-attaches to it.
 */
export function stillPending(view: TaskView, peer: string, requestId: string): JsonRpcError {
  const metadata: Record<string, string> = { request_id: requestId, peer, ...(view.task === null ? {} : { task_id: view.task.id }) };
  const offline = bindingError('PEER_OFFLINE', metadata);
  if (NOT_DELIVERED.has(view.state)) return offline;
  return {
    code: offline.code,
    message: 'the peer has the request and has not answered yet; send the same message again (or GetTask) to re-attach',
    data: [{ ...(offline.data[0] as Record<string, unknown>), reason: 'ANSWER_PENDING' }],
  };
}

function codeOf(refusal: ExtensionRefusal): string | undefined {
  const data = refusal.data;
  if (typeof data !== 'object' || data === null) return undefined;
  const code = (data as Record<string, unknown>)['error'];
  return typeof code === 'string' ? code : undefined;
}
