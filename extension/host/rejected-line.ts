import type { RequestMessage } from 'vscode-jsonrpc';
import type { ErrorName } from '../common/errors';

/**
 * A line the reader cannot deliver still owes the host an error response,
 * and that response must be written in arrival order with every other one
 * (Nexus matches responses by position, not by id). So the reader turns such
 * a line into a request for this internal method and lets it travel through
 * the same connection and serial queue as real requests. The reader refuses
 * the name on input, so no host can invoke it.
 */
export const REJECTED_LINE_METHOD = 'p2p-comm/rejected-line';

/**
 * JSON-RPC 2.0 answers an unparseable request with id null, but Nexus reads
 * every response id as an unsigned integer and would discard such an error.
 * Ids are recovered from the damaged line where possible; 0 otherwise.
 */
export const FALLBACK_RESPONSE_ID = 0;

export interface RejectedLineParams {
  errorName: ErrorName;
  message: string;
}

export function rejectedLineRequest(id: number | string, params: RejectedLineParams): RequestMessage {
  return { jsonrpc: '2.0', id, method: REJECTED_LINE_METHOD, params };
}

/** Largest id we echo back: Nexus ids are u64 and JSON numbers are exact up to 2^53 - 1. */
const MAX_ECHOED_ID = Number.MAX_SAFE_INTEGER;

/**
 * Best-effort recovery of a request id from text that is not valid JSON or
 * was cut short. Nexus serialises `id` last, so the tail is tried first;
 * other writers put it first, so the head is tried next, but only before any
 * nested object where an `id` would belong to params.
 */
export function salvageRequestId(head: string, tail: string): number {
  const fromTail = /"id"\s*:\s*(\d{1,16})\s*\}\s*$/.exec(tail);
  const fromHead = /^\s*\{[^{]*?"id"\s*:\s*(\d{1,16})\s*[,}]/.exec(head);
  const digits = fromTail?.[1] ?? fromHead?.[1];
  if (digits === undefined) return FALLBACK_RESPONSE_ID;
  const id = Number(digits);
  return id <= MAX_ECHOED_ID ? id : FALLBACK_RESPONSE_ID;
}
