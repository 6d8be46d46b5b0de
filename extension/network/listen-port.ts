import { join } from 'node:path';
import { P2pError } from '../errors';
import { readFileIfExists, writeFileAtomic } from '../storage/atomic-file';

/**
 * The listening port, chosen by the OS on first start and then kept, so the
 * address a peer stored for us stays valid across restarts.
 * File: `<data_dir>/network.json` = `{"version":1,"listen_port":<1-65535>}`.
 */
export const NETWORK_FILE_NAME = 'network.json';

export function readPersistedPort(dataDir: string): number | null {
  const path = join(dataDir, NETWORK_FILE_NAME);
  const raw = readFileIfExists(path);
  if (raw === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    parsed = null;
  }
  const file = parsed as { version?: unknown; listen_port?: unknown } | null;
  const port = file?.listen_port;
  if (file?.version !== 1 || typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new P2pError('STATE_FILE_CORRUPT', `${path} is corrupt: expected {"version":1,"listen_port":1-65535}; fix it or move it away (a new port is then chosen and peers must learn it)`);
  }
  return port;
}

export function persistPort(dataDir: string, port: number): void {
  writeFileAtomic(join(dataDir, NETWORK_FILE_NAME), `${JSON.stringify({ version: 1, listen_port: port })}\n`, 0o600);
}
