import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createFileAtomic, isErrnoException } from '../../extension/common/atomic-file';
import { readPrivateFile } from '../../extension/common/private-file';
import { P2pError } from '../../extension/common/errors';

/**
 * The seed of the relay's key pair. Peers name a relay by its public key
 * (P2P_COMM_RELAYS), so the key must survive restarts: the seed is made
 * once, on the first run, and never rewritten.
 *
 * File `<host-dir>/relay-seed`, mode 0600: 64 hex digits (32 bytes) and a newline.
 */
export const RELAY_SEED_FILE_NAME = 'relay-seed';

const SEED_BYTES = 32;
const SEED_FILE_MODE = 0o600;

export function loadOrCreateRelaySeed(hostDir: string): Uint8Array {
  const path = join(hostDir, RELAY_SEED_FILE_NAME);
  return loadSeed(path) ?? createSeed(hostDir, path);
}

function loadSeed(path: string): Uint8Array | undefined {
  const content = readPrivateFile(path, 'the relay seed');
  if (content === undefined) return undefined;
  const text = content.toString('utf8').trim();
  if (!new RegExp(`^[0-9a-f]{${SEED_BYTES * 2}}$`).test(text)) {
    throw new P2pError(
      'IDENTITY_UNUSABLE',
      `the relay seed ${path} is not ${SEED_BYTES * 2} hex digits; restore it from a backup, or move it away to make a new relay key (peers configured with the old key must then be given the new one)`,
    );
  }
  return Buffer.from(text, 'hex');
}

function createSeed(hostDir: string, path: string): Uint8Array {
  const seed = randomBytes(SEED_BYTES);
  try {
    mkdirSync(hostDir, { recursive: true, mode: 0o700 });
    createFileAtomic(path, `${seed.toString('hex')}\n`, SEED_FILE_MODE);
  } catch (error) {
    // A relay started at the same moment on the same host dir made it first: both use that one.
    if (isErrnoException(error) && error.code === 'EEXIST') return loadSeed(path) as Uint8Array;
    throw new P2pError('IDENTITY_UNUSABLE', `cannot create the relay seed ${path}: ${reasonOf(error)}`);
  }
  return seed;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
