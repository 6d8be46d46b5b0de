/**
 * Every error p2p-comm reports carries a stable numeric code (sent as the
 * JSON-RPC error code), a stable name (sent as `error.data.error`) and a
 * message a user can act on. docs/errors.md lists them; keep both in step.
 */
export const ErrorCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  LINE_TOO_LONG: -32001,
  NOT_INITIALIZED: -32002,
  ALREADY_INITIALIZED: -32003,
  SHUTTING_DOWN: -32004,
  DATA_DIR_UNUSABLE: -32005,
  IDENTITY_UNUSABLE: -32006,
  STATE_FILE_CORRUPT: -32007,
  UNKNOWN_OPERATION: -32010,
  INVALID_INPUT: -32011,
  NOT_AVAILABLE: -32012,
  NOT_FOUND: -32013,
  LIMIT_REACHED: -32015,
  CONFLICT: -32016,
  REVOKED_BY_PEER: -32017,
  PEER_MISMATCH: -32018,
  NATIVE_ADDON_UNUSABLE: -32019,
  FILE_LIMIT: -32020,
  FILE_SOURCE_CHANGED: -32021,
  PEER_UNSUPPORTED: -32022,
} as const;

export type ErrorName = keyof typeof ErrorCode;

export class P2pError extends Error {
  readonly code: number;

  constructor(
    readonly errorName: ErrorName,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'P2pError';
    this.code = ErrorCode[errorName];
  }
}
