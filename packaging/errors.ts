/**
 * Why a packaging step refused to go on. The code names the failed check
 * for scripts; the message says what to do about it.
 */
export type PackagingErrorCode =
  | 'unknown_target'
  | 'bundle_failed'
  | 'unsupported_host'
  | 'runtime_unavailable'
  | 'integrity_mismatch'
  | 'blob_failed'
  | 'inject_failed'
  | 'executable_mismatch'
  | 'key_in_repository'
  | 'key_unreadable'
  | 'key_not_ed25519'
  | 'key_exposed'
  | 'key_exists'
  | 'key_not_release_key'
  | 'invalid_manifest'
  | 'invalid_url'
  | 'duplicate_target';

export class PackagingError extends Error {
  override name = 'PackagingError';

  constructor(
    readonly code: PackagingErrorCode,
    message: string,
  ) {
    super(message);
  }
}
