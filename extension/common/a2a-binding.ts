/**
 * The A2A protocol binding p2p-comm defines (docs/a2a.md). A node's signed
 * agent card names it in `supportedInterfaces`, with the node's peer id as
 * the interface URL: an A2A client reads from the card that this agent is
 * reached over p2p-comm, and at which node. A breaking change to the
 * binding takes a new URI (A2A v1.0 §5.8).
 */
export const A2A_BINDING_URI = 'urn:p2p-comm:a2a:v1';

/** The A2A protocol version the binding carries. */
export const A2A_PROTOCOL_VERSION = '1.0';

/** The interface URL of the agent at a node: `p2p-comm://<peer id>`, the scheme of pairing links. */
export function a2aInterfaceUrl(peerId: string): string {
  return `p2p-comm://${peerId}`;
}

/**
 * Told to peers in the hello by a node that takes the binding's message
 * types (a2a_request, a2a_response). Not `a2a`: nodes that only exchange
 * agent cards already list that one.
 */
export const A2A_BINDING_CAPABILITY = 'a2a-binding-v1';

/**
 * The JSON-RPC errors the binding itself answers with, outside A2A's own
 * -32001 to -32009 (docs/a2a.md "Errors"). Each carries one
 * google.rpc.ErrorInfo with domain `p2p-comm`.
 */
export const A2A_BINDING_ERRORS = {
  PEER_OFFLINE: { code: -32060, message: 'the request is queued for the peer, which has not answered yet; send the same message again to re-attach' },
  REQUEST_EXPIRED: { code: -32061, message: 'the request expired before the peer took it' },
  NOT_PAIRED: { code: -32062, message: 'this node is not paired with that peer (or the pairing was revoked)' },
  NO_A2A_AGENT: { code: -32063, message: 'the peer serves no A2A agent' },
  SERVING_INTERRUPTED: { code: -32064, message: 'the serving node restarted while the request was being worked on; its outcome is unknown (ListTasks with your contextId)' },
  TOO_MANY_REQUESTS: { code: -32065, message: 'too many requests from this peer are open at the serving node' },
  REFUSED_BY_OWNER: { code: -32066, message: 'the owner of the serving node did not allow this peer to reach its agent' },
  TOO_LARGE: { code: -32067, message: 'the request or an answer is larger than the binding carries' },
} as const;

export type A2aBindingError = keyof typeof A2A_BINDING_ERRORS;

export const A2A_ERROR_DOMAIN = 'p2p-comm';

/** A JSON-RPC error object of the binding, with its ErrorInfo (A2A v1.0 §5.4). */
export function bindingError(reason: A2aBindingError, metadata: Record<string, string>): { code: number; message: string; data: unknown[] } {
  const { code, message } = A2A_BINDING_ERRORS[reason];
  return { code, message, data: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: A2A_ERROR_DOMAIN, metadata }] };
}
