import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';

/** The request a `notifications/cancelled` cancels; undefined for any other message. */
export function cancelledRequestOf(message: JSONRPCMessage): RequestId | undefined {
  if (!('method' in message) || message.method !== 'notifications/cancelled' || 'id' in message) return undefined;
  return requestIdOf((message.params as { requestId?: unknown } | undefined)?.requestId);
}

/** The ids of the requests (not notifications or responses) an HTTP body carries. */
export function requestIdsIn(body: unknown): RequestId[] {
  const messages = Array.isArray(body) ? (body as unknown[]) : [body];
  return messages.flatMap((message) => {
    if (typeof message !== 'object' || message === null || !('method' in message) || !('id' in message)) return [];
    const id = requestIdOf((message as { id: unknown }).id);
    return id === undefined ? [] : [id];
  });
}

function requestIdOf(value: unknown): RequestId | undefined {
  return typeof value === 'string' || typeof value === 'number' ? value : undefined;
}
