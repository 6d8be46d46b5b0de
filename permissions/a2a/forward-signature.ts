import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The signature the host sends with every A2A request it forwards to a
 * plugin's declared agent, in the `P2P-Comm-Signature` header:
 *
 *   v1 t=<unix seconds>, sig=<base64url(HMAC-SHA256(plugin secret, signed))>
 *   signed = "p2p-comm a2a forward v1\n<peer>\n<request id>\n<t>\n<hex(sha256(body))>"
 *
 * It is keyed with the plugin's own secret (the one in its plugin file), so
 * the plugin checks it without any exchange. It is bound to one request:
 * a process that held the agent's loopback port while the agent was down
 * learns a value that replays only that request, with that body, for
 * FORWARD_SIGNATURE_WINDOW_S; it cannot pose as the host for another peer or
 * another call. The secret itself never leaves the host.
 */
export const FORWARD_SIGNATURE_LABEL = 'p2p-comm a2a forward v1';
export const FORWARD_SIGNATURE_HEADER = 'P2P-Comm-Signature';
/** How far the signing time may be from the agent's clock, either way. */
export const FORWARD_SIGNATURE_WINDOW_S = 300;

export interface SignedForward {
  peer: string;
  requestId: string;
  /** Unix seconds. */
  t: number;
  /** The POST body, exactly as sent. */
  body: string;
}

/** The string the HMAC covers (documented in docs/a2a.md "The forward signature"). */
export function forwardSignedString({ peer, requestId, t, body }: SignedForward): string {
  return `${FORWARD_SIGNATURE_LABEL}\n${peer}\n${requestId}\n${t}\n${createHash('sha256').update(body).digest('hex')}`;
}

/** The header value for one forwarded POST. */
export function forwardSignature(pluginSecret: string, forward: SignedForward): string {
  const sig = createHmac('sha256', pluginSecret).update(forwardSignedString(forward)).digest('base64url');
  return `v1 t=${forward.t}, sig=${sig}`;
}

const HEADER_FORMAT = /^v1 t=(\d{1,12}), sig=([A-Za-z0-9_-]{43})$/;

/**
 * The agent's side: whether `header` signs this request and body, within the
 * window around `nowS`. The base64url strings are compared whole, in
 * constant time, so no other spelling of the same bytes passes.
 */
export function verifyForwardSignature(pluginSecret: string, header: string | undefined, request: Omit<SignedForward, 't'>, nowS: number): boolean {
  const parsed = HEADER_FORMAT.exec(header ?? '');
  if (parsed === null) return false;
  const t = Number(parsed[1]);
  if (Math.abs(nowS - t) > FORWARD_SIGNATURE_WINDOW_S) return false;
  const expected = Buffer.from(forwardSignature(pluginSecret, { ...request, t }));
  const given = Buffer.from(header as string);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
