import { randomBytes, sign, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { P2pError } from '../common/errors';
import { createFileAtomic, isErrnoException } from '../common/atomic-file';
import { readPrivateFile } from '../common/private-file';
import { ed25519FromSeed, hkdfSha256 } from '../wire/primitives';
import { fingerprintOf, peerIdFromPublicKey, PUBLIC_KEY_BYTES } from '../common/peer-id';

/**
 * The node's long-term Ed25519 key. Its public half is the peer id that
 * paired peers have pinned, so losing or replacing the key file silently
 * would break every pairing: an unusable file stops the start with a
 * message saying how to recover, and an existing file is never rewritten.
 *
 * File `<data_dir>/identity.key`, mode 0600:
 * `{"version":1,"type":"ed25519","seed":"<base64, 32 bytes>","public_key":"<base64, 32 bytes>","created_at":"<ISO 8601>"}`
 */
export interface NodeIdentity {
  readonly publicKey: Uint8Array;
  readonly peerId: string;
  readonly fingerprint: string;
  /**
   * Seed of the node's DHT key pair: HKDF of the identity seed under a fixed
   * label. The DHT runs its own key exchange with it, so the identity key
   * never signs or agrees anything outside p2p-comm's own protocol.
   */
  readonly dhtSeed: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

const DHT_SEED_LABEL = 'p2p-comm dht key pair v1';

export const IDENTITY_FILE_NAME = 'identity.key';

const IDENTITY_FILE_MODE = 0o600;

interface IdentityFile {
  version: 1;
  type: 'ed25519';
  seed: string;
  public_key: string;
  created_at: string;
}

export function loadOrCreateIdentity(dataDir: string): NodeIdentity {
  const path = join(dataDir, IDENTITY_FILE_NAME);
  return loadIdentity(path) ?? createIdentity(path);
}

function loadIdentity(path: string): NodeIdentity | undefined {
  const content = readPrivateFile(path, 'the identity key');
  if (content === undefined) return undefined;
  const parsed = parseIdentityFile(content);
  if (typeof parsed === 'string') {
    throw new P2pError(
      'IDENTITY_UNUSABLE',
      `the identity key ${path} is unusable: ${parsed}. Restore it from a backup, or move it away to create a new identity (paired peers will then have to pair again)`,
    );
  }
  return identityOf(parsed.privateKey, parsed.publicKey, parsed.seed);
}

/** The parsed key, or the reason the file cannot be used. */
function parseIdentityFile(content: Buffer): { privateKey: KeyObject; publicKey: Uint8Array; seed: Uint8Array } | string {
  let file: unknown;
  try {
    file = JSON.parse(content.toString('utf8'));
  } catch {
    return 'it is not valid JSON';
  }
  if (typeof file !== 'object' || file === null || Array.isArray(file)) return 'it is not a JSON object';
  const fields = file as Record<string, unknown>;
  if (fields['version'] !== 1) return `its version is ${JSON.stringify(fields['version'])}, expected 1`;
  if (fields['type'] !== 'ed25519') return `its type is ${JSON.stringify(fields['type'])}, expected "ed25519"`;
  const seed = decodeKeyBytes(fields['seed']);
  if (seed === undefined) return `its seed is not ${PUBLIC_KEY_BYTES} bytes in base64`;
  const publicKey = decodeKeyBytes(fields['public_key']);
  if (publicKey === undefined) return `its public_key is not ${PUBLIC_KEY_BYTES} bytes in base64`;
  const key = ed25519FromSeed(seed);
  // A mismatch would make us sign as a key other than the one our peer id names.
  if (Buffer.compare(key.publicKey, publicKey) !== 0) return 'its public_key does not belong to its seed';
  return { ...key, seed };
}

/** Only the canonical base64 spelling: Buffer.from alone skips stray characters. */
function decodeKeyBytes(value: unknown): Buffer | undefined {
  if (typeof value !== 'string') return undefined;
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length !== PUBLIC_KEY_BYTES || bytes.toString('base64') !== value) return undefined;
  return bytes;
}

function createIdentity(path: string): NodeIdentity {
  const seed = randomBytes(PUBLIC_KEY_BYTES);
  const { privateKey, publicKey: rawKey } = ed25519FromSeed(seed);
  const publicKey = Buffer.from(rawKey);
  const file: IdentityFile = {
    version: 1,
    type: 'ed25519',
    seed: seed.toString('base64'),
    public_key: publicKey.toString('base64'),
    created_at: new Date().toISOString(),
  };
  try {
    createFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`, IDENTITY_FILE_MODE);
  } catch (error) {
    // Another process created the key since we looked: that key is the identity.
    const raced = isErrnoException(error) && error.code === 'EEXIST' ? loadIdentity(path) : undefined;
    if (raced !== undefined) return raced;
    throw new P2pError(
      'IDENTITY_UNUSABLE',
      `cannot create the identity key ${path}: ${reasonOf(error)}; check that the data directory exists and is writable`,
    );
  }
  return identityOf(privateKey, new Uint8Array(publicKey), seed);
}

function identityOf(privateKey: KeyObject, publicKey: Uint8Array, seed: Uint8Array): NodeIdentity {
  return {
    publicKey,
    dhtSeed: hkdfSha256(seed, new Uint8Array(0), DHT_SEED_LABEL),
    peerId: peerIdFromPublicKey(publicKey),
    fingerprint: fingerprintOf(publicKey),
    sign: (message) => new Uint8Array(sign(null, message, privateKey)),
  };
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
