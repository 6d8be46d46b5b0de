/**
 * The HTTP answer to a call the extension refused. Nexus answers every
 * refusal with 500 and the message as a string; this host keeps the body's
 * `error` but gives the status the refusal deserves and a `details` object
 * carrying the extension's code (`error.data.error`, docs/errors.md), so a
 * plugin can tell "fix your input" from "try again later" from "report a bug".
 */

/** What the extension answered instead of a result (a JSON-RPC error). */
export interface ExtensionRefusal {
  message: string;
  data?: unknown;
}

/** The code a plugin reads when the extension gave no answer at all (not running, restarting, crashed mid-call). */
export const EXTENSION_UNAVAILABLE = 'extension_unavailable';

/**
 * The caller's mistakes get a 4xx; a state that passes gets a 503; every
 * other code (internal_error, unknown_operation, invalid_params, ...) is a
 * fault of the host or the extension and stays 500.
 */
export const EXTENSION_ERROR_STATUS: ReadonlyMap<string, number> = new Map([
  ['invalid_input', 400],
  ['not_found', 404],
  // The operation exists but is turned off on this node: retrying will not help until the user changes a setting, so not 503.
  ['not_available', 409],
  ['conflict', 409],
  // The request came from another peer than the call names: the caller's input disagrees with the node's state.
  ['peer_mismatch', 409],
  // The peer ended the pairing: nothing can be sent until both pair again.
  ['revoked_by_peer', 409],
  ['limit_reached', 429],
  // A file transfer limit: let transfers finish, free space or raise the setting the message names.
  ['file_limit', 429],
  // The received file changed on disk, or the peer runs a version without files: retrying the same call will not help.
  ['file_source_changed', 409],
  ['peer_unsupported', 409],
  ['not_initialized', 503],
  ['shutting_down', 503],
  [EXTENSION_UNAVAILABLE, 503],
]);

export interface ExtensionErrorDetails {
  code: string;
  message: string;
  /** The extension's own `data.details`, e.g. the schema path and rule an input broke. */
  details?: unknown;
}

export interface ExtensionErrorAnswer {
  status: number;
  body: { error: 'Extension execution failed'; details: ExtensionErrorDetails };
}

export function extensionErrorAnswer(refusal: ExtensionRefusal): ExtensionErrorAnswer {
  const data = typeof refusal.data === 'object' && refusal.data !== null ? (refusal.data as Record<string, unknown>) : {};
  const code = typeof data['error'] === 'string' ? data['error'] : 'internal_error';
  const details: ExtensionErrorDetails = Object.hasOwn(data, 'details') ? { code, message: refusal.message, details: data['details'] } : { code, message: refusal.message };
  return { status: EXTENSION_ERROR_STATUS.get(code) ?? 500, body: { error: 'Extension execution failed', details } };
}
