import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * One JSON answer of the Host API, whichever route gives it. A client
 * that has gone, or an answer already given, is left alone: writing to
 * either would throw.
 */
export function sendJson(request: IncomingMessage, response: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  if (response.writableEnded || response.destroyed) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    // A body left unread (too large, or refused before reading) is not worth reading to keep the connection.
    ...(request.complete ? {} : { connection: 'close' }),
    ...headers,
  });
  response.end(text);
}
