import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { createFileAtomic, isErrnoException, readFileIfExists } from '../extension/common/atomic-file';
import { PackagingError } from './errors';

/**
 * The Ed25519 key that signs packaged binaries. A key file is a PKCS#8 PEM
 * private key, the form `openssl genpkey -algorithm ed25519` writes and
 * createSigningKeyFile creates.
 *
 * The release key is given as a file kept outside the repository, so that
 * no commit can carry it. Without one, a development key signs: one per
 * user, created on first use in the user's config folder. It is good for
 * "Install from File", which checks no signature, and never for a release
 * (manifests.ts refuses a release signed by any key but manifest.json's).
 */

export interface SigningKey {
  privateKey: KeyObject;
  /** Base64 of the raw 32-byte public key: what `author_public_key` holds. */
  publicKey: string;
  path: string;
  kind: 'release' | 'development';
}

export interface SigningKeyOptions {
  /** The release key file; without it the development key signs. */
  keyFile?: string | undefined;
  /** The repository being packaged: a key file inside it is refused. */
  repositoryDir: string;
  /** Where XDG_CONFIG_HOME is looked up (tests pass their own). */
  env?: NodeJS.ProcessEnv | undefined;
}

export const DEVELOPMENT_KEY_FILE_NAME = 'dev-signing-key.pem';

/** Owner read and write only: a key others can read is not a secret, one they can write is not this user's. */
const KEY_FILE_MODE = 0o600;
const KEY_FOLDER_MODE = 0o700;
const GROUP_AND_OTHER_BITS = 0o077;

/** `$XDG_CONFIG_HOME/p2p-comm/dev-signing-key.pem`, or under `~/.config` when that is unset or relative (as the XDG spec says). */
export function developmentKeyPath(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env['XDG_CONFIG_HOME'];
  const configHome = configured !== undefined && isAbsolute(configured) ? configured : join(homedir(), '.config');
  return join(configHome, 'p2p-comm', DEVELOPMENT_KEY_FILE_NAME);
}

export function loadSigningKey(options: SigningKeyOptions): SigningKey {
  if (options.keyFile !== undefined) return readSigningKeyFile(resolve(options.keyFile), 'release', options.repositoryDir);
  const path = developmentKeyPath(options.env);
  refuseInsideRepository(path, options.repositoryDir);
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: KEY_FOLDER_MODE });
    try {
      writeNewKey(path);
    } catch (error) {
      // A concurrent run created it first: use that one.
      if (!(isErrnoException(error) && error.code === 'EEXIST')) throw error;
    }
  }
  return readSigningKeyFile(path, 'development', options.repositoryDir);
}

/** Creates a new release key file (mode 0600); never replaces an existing file. */
export function createSigningKeyFile(keyFile: string, repositoryDir: string): SigningKey {
  const path = resolve(keyFile);
  refuseInsideRepository(path, repositoryDir);
  try {
    writeNewKey(path);
  } catch (error) {
    if (isErrnoException(error) && error.code === 'EEXIST') {
      throw new PackagingError('key_exists', `${path} already exists: a key file is never overwritten; choose another name`);
    }
    if (isErrnoException(error) && error.code === 'ENOENT') {
      throw new PackagingError('key_unreadable', `cannot create ${path}: the folder ${dirname(path)} does not exist`);
    }
    throw error;
  }
  return readSigningKeyFile(path, 'release', repositoryDir);
}

function writeNewKey(path: string): void {
  const { privateKey } = generateKeyPairSync('ed25519');
  createFileAtomic(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), KEY_FILE_MODE);
}

function readSigningKeyFile(path: string, kind: SigningKey['kind'], repositoryDir: string): SigningKey {
  refuseInsideRepository(path, repositoryDir);
  const pem = readFileIfExists(path);
  if (pem === undefined) throw new PackagingError('key_unreadable', `the key file ${path} does not exist`);
  refuseExposedFile(path);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new PackagingError('key_not_ed25519', `${path} is not a PEM private key (make one with: openssl genpkey -algorithm ed25519)`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new PackagingError('key_not_ed25519', `${path} holds a ${String(privateKey.asymmetricKeyType)} key; packages are signed with Ed25519`);
  }
  return { privateKey, publicKey: rawPublicKeyBase64(privateKey), path, kind };
}

function rawPublicKeyBase64(privateKey: KeyObject): string {
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' });
  return Buffer.from(x as string, 'base64url').toString('base64');
}

/**
 * Compares real paths, so that neither a symbolic link nor `..` lets a key
 * inside the repository through. Of a path not created yet, the part that
 * exists is resolved.
 */
function refuseInsideRepository(path: string, repositoryDir: string): void {
  const repository = realpathSync.native(repositoryDir);
  const fromRepository = relative(repository, realPathOf(path));
  const outside = fromRepository === '..' || fromRepository.startsWith(`..${sep}`) || isAbsolute(fromRepository);
  if (!outside) {
    throw new PackagingError(
      'key_in_repository',
      `the key file ${path} is inside the repository ${repositoryDir}: keep signing keys outside it, so that no commit can carry one`,
    );
  }
}

function realPathOf(path: string): string {
  const missing: string[] = [];
  let existing = path;
  for (;;) {
    try {
      return join(realpathSync.native(existing), ...missing);
    } catch (error) {
      const parent = dirname(existing);
      if (!(isErrnoException(error) && error.code === 'ENOENT') || parent === existing) throw error;
      missing.unshift(basename(existing));
      existing = parent;
    }
  }
}

/** Windows has no mode bits to check; its ACLs are left to the user. */
function refuseExposedFile(path: string): void {
  if (process.platform === 'win32') return;
  const mode = statSync(path).mode & 0o777;
  if ((mode & GROUP_AND_OTHER_BITS) !== 0) {
    throw new PackagingError(
      'key_exposed',
      `the key file ${path} can be read or changed by other users (mode ${mode.toString(8).padStart(4, '0')}): run chmod 600 ${path}`,
    );
  }
}
