import { createHmac } from 'node:crypto';

/**
 * The bearer the host sends with every A2A request it forwards to a
 * plugin's declared agent. It is derived from the plugin's own secret (the
 * one in its plugin file), so the plugin can compute and check it without
 * any exchange, and another local process that can reach the agent's port
 * cannot pose as the host. It is not the secret itself: the agent's logs
 * or a proxy in front of it never see what buys Host API tokens.
 */
export const FORWARD_TOKEN_LABEL = 'p2p-comm a2a forward v1';

/** base64url(HMAC-SHA256(plugin secret, "p2p-comm a2a forward v1")), as docs/a2a.md tells plugins to compute it. */
export function forwardToken(pluginSecret: string): string {
  return createHmac('sha256', pluginSecret).update(FORWARD_TOKEN_LABEL).digest('base64url');
}
