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
