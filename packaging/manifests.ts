import { readFileSync } from 'node:fs';
import { posix, win32 } from 'node:path';
import { checkInstallableManifest, NEXUS_TARGETS, type BinaryEntry, type NexusTarget } from '../permissions/host/manifest-rules';
import { signBinary } from './binary-signing';
import { PackagingError } from './errors';
import type { SigningKey } from './signing-key';

/**
 * The manifests Nexus installs p2p-comm from, made from the repository's
 * manifest.json (the one source of the operations and everything else)
 * and the executables: only `binaries` and `author_public_key` differ.
 *
 * - "Install from File" reads a manifest on disk and copies the binary its
 *   `file://` url names; a relative path is taken from the manifest's
 *   folder, without percent-decoding. It checks no signature and records no
 *   author key (loader.rs `install_local`).
 * - A release manifest, for the marketplace or "install from URL", names
 *   https urls; Nexus downloads the binary for its platform and refuses it
 *   unless digest and signature verify against `author_public_key`
 *   (loader.rs `install`, signing.rs `verify_binary`).
 */

export type SourceManifest = Readonly<Record<string, unknown>>;

export interface PackagedBinary {
  url: string;
  bytes: Uint8Array;
}

export interface TargetExecutable {
  target: NexusTarget;
  bytes: Uint8Array;
  /** Install from File: the path from the manifest's folder; release: the file's name under the base url. */
  fileName: string;
}

export function readSourceManifest(path: string): SourceManifest {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new PackagingError('invalid_manifest', `cannot read ${path} as JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PackagingError('invalid_manifest', `${path} does not hold a JSON object`);
  }
  return value as SourceManifest;
}

/**
 * The source with these binaries, each signed by `key`, whose public half
 * becomes `author_public_key`. Refused unless Nexus's `validate` would
 * accept the result. Targets follow NEXUS_TARGETS' order, so the same
 * inputs give the same text.
 */
export function packagedManifest(
  source: SourceManifest,
  binaries: Partial<Record<NexusTarget, PackagedBinary>>,
  key: Pick<SigningKey, 'privateKey' | 'publicKey'>,
): Record<string, unknown> {
  const entries: Partial<Record<NexusTarget, BinaryEntry>> = {};
  for (const target of NEXUS_TARGETS) {
    const binary = binaries[target];
    if (binary !== undefined) entries[target] = { url: binary.url, ...signBinary(binary.bytes, key) };
  }
  const manifest = { ...source, author_public_key: key.publicKey, binaries: entries };
  const problem = checkInstallableManifest(manifest);
  if (problem !== null) throw new PackagingError('invalid_manifest', `Nexus would refuse the packaged manifest: Invalid manifest: ${problem}`);
  return manifest;
}

/** The manifest "Install from File" reads, beside (or above) the executables it names by relative path. */
export function installFromFileManifest(
  source: SourceManifest,
  executables: readonly TargetExecutable[],
  key: Pick<SigningKey, 'privateKey' | 'publicKey'>,
): Record<string, unknown> {
  return packagedManifest(source, binariesOf(executables, fileUrl), key);
}

/**
 * The manifest of a release, every target in one, the files under
 * `baseUrl`. Signed by any key but the one manifest.json names, it would
 * make Nexus warn of a possible supply-chain attack on install and refuse
 * the update, so that is refused here.
 */
export function releaseManifest(
  source: SourceManifest,
  executables: readonly TargetExecutable[],
  baseUrl: string,
  key: Pick<SigningKey, 'privateKey' | 'publicKey' | 'path'>,
): Record<string, unknown> {
  if (key.publicKey !== source['author_public_key']) {
    throw new PackagingError(
      'key_not_release_key',
      `the key ${key.path} (public half ${key.publicKey}) is not the release key: manifest.json's author_public_key is ` +
        `${String(source['author_public_key'])}. Sign with that key's file (--key FILE), or, when replacing the release key, ` +
        'put this public half into manifest.json first',
    );
  }
  return packagedManifest(source, binariesOf(executables, (fileName) => releaseUrl(baseUrl, fileName)), key);
}

/** One manifest, pretty-printed and ending in a newline, as it is written to disk. */
export function serializeManifest(manifest: Record<string, unknown>): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/**
 * `file://` and the path as it is: Nexus strips the prefix and reads the
 * rest as a file path, taken from the manifest's folder when relative. A
 * relative path is the one form that works wherever the folder is copied,
 * and on every platform ('/' separates folders on Windows too).
 */
export function fileUrl(relativePath: string): string {
  if (relativePath.length === 0 || posix.isAbsolute(relativePath) || win32.isAbsolute(relativePath) || relativePath.includes('\\')) {
    throw new PackagingError('invalid_url', `'${relativePath}' must be a path relative to the manifest's folder, with '/' between folders`);
  }
  return `file://${relativePath}`;
}

/** The https url of `fileName` under `baseUrl`, with or without its trailing '/'. */
export function releaseUrl(baseUrl: string, fileName: string): string {
  let base: URL;
  try {
    base = new URL(baseUrl);
  } catch {
    throw new PackagingError('invalid_url', `the release base url '${baseUrl}' is not a url`);
  }
  if (base.protocol !== 'https:' || base.search !== '' || base.hash !== '') {
    throw new PackagingError('invalid_url', `the release base url '${baseUrl}' must be https, without a query or fragment: Nexus downloads the binaries from it`);
  }
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return new URL(encodeURIComponent(fileName), base).href;
}

function binariesOf(executables: readonly TargetExecutable[], urlOf: (fileName: string) => string): Partial<Record<NexusTarget, PackagedBinary>> {
  const binaries: Partial<Record<NexusTarget, PackagedBinary>> = {};
  for (const { target, bytes, fileName } of executables) {
    if (binaries[target] !== undefined) throw new PackagingError('duplicate_target', `two executables for ${target}`);
    binaries[target] = { url: urlOf(fileName), bytes };
  }
  return binaries;
}
