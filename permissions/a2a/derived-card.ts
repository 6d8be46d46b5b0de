import { A2A_BINDING_URI, A2A_PROTOCOL_VERSION } from '../../extension/common/a2a-binding';
import { isRecord } from './json-values';

/**
 * The card a local A2A client reads for a paired peer at
 * `/a2a/<peer>/.well-known/agent-card.json`: the peer's own verified card,
 * re-pointed at this host. The peer's signatures are dropped, since a
 * rewritten card no longer matches them (the signed original is what
 * `a2a_card` returns). The JSON-RPC interface comes first, so a client
 * picks it; the peer's p2p-comm interface stays listed after it, which
 * clients that do not know the binding skip.
 */

export const HOST_SECURITY_SCHEME = 'p2p-comm-host';

export function derivedCard(peerCard: Record<string, unknown>, baseUrl: string): Record<string, unknown> {
  const { signatures: _signatures, supportedInterfaces, capabilities, ...described } = peerCard;
  const peerInterfaces = Array.isArray(supportedInterfaces) ? supportedInterfaces.filter(isBindingInterface) : [];
  const peerCapabilities = isRecord(capabilities) ? capabilities : {};
  return {
    ...described,
    supportedInterfaces: [{ url: baseUrl, protocolBinding: 'JSONRPC', protocolVersion: A2A_PROTOCOL_VERSION }, ...peerInterfaces],
    // Push notifications and the extended card are not offered here, whatever the peer's agent offers itself.
    capabilities: {
      streaming: peerCapabilities['streaming'] === true,
      ...(Array.isArray(peerCapabilities['extensions']) ? { extensions: peerCapabilities['extensions'] } : {}),
    },
    securitySchemes: { [HOST_SECURITY_SCHEME]: { httpAuthSecurityScheme: { scheme: 'Bearer', description: 'token from POST /api/v1/auth/token' } } },
    securityRequirements: [{ schemes: { [HOST_SECURITY_SCHEME]: { list: [] } } }],
  };
}

function isBindingInterface(entry: unknown): boolean {
  return isRecord(entry) && entry['protocolBinding'] === A2A_BINDING_URI;
}
