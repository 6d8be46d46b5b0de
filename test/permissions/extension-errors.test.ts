import t from 'tap';
import { ErrorCode, type ErrorName } from '../../extension/common/errors';
import { EXTENSION_ERROR_STATUS, extensionErrorAnswer } from '../../permissions/http/extension-errors';

/** Codes that mean a fault of the host or of the extension, never the plugin's: they stay 500. */
const FAULTS: readonly ErrorName[] = [
  'PARSE_ERROR',
  'INVALID_REQUEST',
  'METHOD_NOT_FOUND',
  'INVALID_PARAMS',
  'INTERNAL_ERROR',
  'LINE_TOO_LONG',
  'ALREADY_INITIALIZED',
  'DATA_DIR_UNUSABLE',
  'IDENTITY_UNUSABLE',
  'STATE_FILE_CORRUPT',
  'UNKNOWN_OPERATION',
  'NATIVE_ADDON_UNUSABLE',
];

t.test('every error code the extension can give a plugin has a status of its own; faults stay 500', async (t) => {
  for (const name of Object.keys(ErrorCode) as ErrorName[]) {
    const code = name.toLowerCase();
    const { status, body } = extensionErrorAnswer({ message: `${code}: text`, data: { error: code } });
    if (FAULTS.includes(name)) t.equal(status, 500, code);
    else t.ok(EXTENSION_ERROR_STATUS.has(code) && status >= 400 && status !== 500, `${code} -> ${status}`);
    t.same(body, { error: 'Extension execution failed', details: { code, message: `${code}: text` } });
  }
  t.equal(extensionErrorAnswer({ message: 'x', data: { error: 'peer_mismatch' } }).status, 409);
  t.equal(extensionErrorAnswer({ message: 'x', data: { error: 'revoked_by_peer' } }).status, 409);
  t.equal(extensionErrorAnswer({ message: 'x', data: { error: 'file_limit' } }).status, 429);
  t.equal(extensionErrorAnswer({ message: 'x', data: { error: 'peer_unsupported' } }).status, 409);
  t.equal(extensionErrorAnswer({ message: 'x', data: { error: 'file_source_changed' } }).status, 409);
  t.equal(extensionErrorAnswer({ message: 'x' }).status, 500, 'no code: a fault');
});
