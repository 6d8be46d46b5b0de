import { type Message, type Part, Role } from '@a2a-js/sdk';
import { type Client, ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory } from '@a2a-js/sdk/client';

/**
 * The A2A SDK's own client as docs/a2a.md sets it up for a peer served by
 * the reference host: the JSON-RPC transport with the host's bearer token
 * on its calls (the card is read the same way; it needs none).
 */
export function sdkFactory(token: string): ClientFactory {
  const fetchImpl: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers).entries()), authorization: `Bearer ${token}` } });
  return new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
      transports: [new JsonRpcTransportFactory({ fetchImpl })],
    }),
  );
}

export type SendParams = Parameters<Client['sendMessage']>[0];

function textPart(text: string): Part {
  return { content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: 'text/plain' };
}

/** A user's text message; `taskId` and `contextId` empty start a new task in a new context. */
export function userMessage(messageId: string, text: string, { taskId = '', contextId = '' }: { taskId?: string; contextId?: string } = {}): Message {
  return { messageId, contextId, taskId, role: Role.ROLE_USER, parts: [textPart(text)], metadata: undefined, extensions: [], referenceTaskIds: [] };
}

/** What the SDK's client throws for a JSON-RPC error: the code and the ErrorInfo list it read. */
export interface SdkRpcError {
  envelopeCode?: number;
  message?: string;
  data?: { reason?: string; domain?: string; metadata?: Record<string, string> }[];
}

/** The error a call ended with, or undefined when it succeeded (so a test asserts on it rather than on a throw). */
export function rpcErrorOf(call: Promise<unknown>): Promise<SdkRpcError | undefined> {
  return call.then(
    () => undefined,
    (error: unknown) => error as SdkRpcError,
  );
}
