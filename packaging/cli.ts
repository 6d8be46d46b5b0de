import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { buildTargets, type BuildOptions, type BuiltExecutable } from './build';
import { PackagingError } from './errors';
import { installFromFileManifest, readSourceManifest, releaseManifest, serializeManifest, type SourceManifest, type TargetExecutable } from './manifests';
import { createSigningKeyFile, loadSigningKey, type SigningKey } from './signing-key';
import { smokeTest } from './smoke-test';
import { isTarget, TARGET_NAMES, type Target } from './targets';

/**
 * `npm run package [-- --target <triple> ...]`: builds the single-file
 * executables Nexus installs, one per target, into dist/nexus/<target>/.
 * Runs bundled into dist/ (see package.json), so the project root is the
 * parent of this file's directory either way.
 */
const PROJECT_ROOT = resolve(__dirname, '..');

const USAGE = `usage: npm run package [-- --target <triple> ...] [--key FILE] [--base-url URL]
       npm run package -- --new-key FILE

Builds dist/nexus/<triple>/extension (extension.exe for Windows) from
extension/main.ts for each target, or for all of them by default:
  ${TARGET_NAMES.join('\n  ')}
and beside each a manifest.json for Nexus's "Install from File", signed with
the release key file (--key) or this user's development key. With --base-url
(https), also dist/nexus/release/: every executable under the name its url
gives, and one manifest naming them all, which must be signed with the
release key. --new-key creates a release key file (outside the repository).
Node runtimes are fetched with npm pack into dist/node-runtimes/ and checked
against the sha512 pins in packaging/node-runtimes.ts.`;

export interface PackageArguments {
  targets: Target[];
  keyFile: string | undefined;
  newKey: string | undefined;
  baseUrl: string | undefined;
}

/** Options take their value as the next argument or after '='. */
export function parseArguments(args: readonly string[]): PackageArguments {
  const parsed: PackageArguments = { targets: [], keyFile: undefined, newKey: undefined, baseUrl: undefined };
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] ?? '';
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const taken = inline ?? args[++index];
      if (taken === undefined || taken === '') throw new PackagingError('unknown_target', `${name} needs a value\n\n${USAGE}`);
      return taken;
    };
    if (name === '--target') {
      const target = value();
      if (!isTarget(target)) throw new PackagingError('unknown_target', `unknown target ${target}; known: ${TARGET_NAMES.join(', ')}`);
      if (!parsed.targets.includes(target)) parsed.targets.push(target);
    } else if (name === '--key') {
      parsed.keyFile = value();
    } else if (name === '--new-key') {
      parsed.newKey = value();
    } else if (name === '--base-url') {
      parsed.baseUrl = value();
    } else {
      throw new PackagingError('unknown_target', `unexpected argument ${arg}\n\n${USAGE}`);
    }
  }
  if (parsed.targets.length === 0) parsed.targets = [...TARGET_NAMES];
  return parsed;
}

export function parseTargets(args: readonly string[]): Target[] {
  return parseArguments(args).targets;
}

/** The name a release asset of `target` has under the base url: one flat folder, so the target is in the name. */
export function releaseFileName(target: Target, executable: string): string {
  return `p2p-comm-${target}${executable.endsWith('.exe') ? '.exe' : ''}`;
}

/** manifest.json beside each executable, naming it by relative path, as "Install from File" reads it. */
function writeInstallManifests(source: SourceManifest, executables: readonly BuiltExecutable[], key: SigningKey): void {
  for (const built of executables) {
    const executable: TargetExecutable = { target: built.target, bytes: readFileSync(built.path), fileName: basename(built.path) };
    writeFileSync(join(dirname(built.path), 'manifest.json'), serializeManifest(installFromFileManifest(source, [executable], key)));
  }
}

function writeRelease(source: SourceManifest, executables: readonly BuiltExecutable[], baseUrl: string, key: SigningKey, outDir: string): string {
  const releaseDir = join(outDir, 'release');
  mkdirSync(releaseDir, { recursive: true });
  const files = executables.map((built): TargetExecutable => {
    const fileName = releaseFileName(built.target, built.path);
    copyFileSync(built.path, join(releaseDir, fileName));
    return { target: built.target, bytes: readFileSync(built.path), fileName };
  });
  const path = join(releaseDir, 'manifest.json');
  writeFileSync(path, serializeManifest(releaseManifest(source, files, baseUrl, key)));
  return path;
}

function describe(built: BuiltExecutable): string {
  const mib = (built.bytes / 1024 / 1024).toFixed(1);
  return `${built.target}: ${relative(PROJECT_ROOT, built.path)} (${mib} MiB, Node ${built.runtime.version}) in ${(built.buildMs / 1000).toFixed(1)} s`;
}

async function main(args: readonly string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const parsed = parseArguments(args);
  if (parsed.newKey !== undefined) {
    const key = createSigningKeyFile(parsed.newKey, PROJECT_ROOT);
    process.stdout.write(`release key written to ${key.path}; its public half, for manifest.json's author_public_key:\n${key.publicKey}\n`);
    return;
  }
  const options: BuildOptions = {
    projectRoot: PROJECT_ROOT,
    cacheDir: join(PROJECT_ROOT, 'dist', 'node-runtimes'),
    entryPoint: join(PROJECT_ROOT, 'extension', 'main.ts'),
    outDir: join(PROJECT_ROOT, 'dist', 'nexus'),
  };
  // The key first: a key file that cannot be read fails before minutes of building.
  const key = loadSigningKey({ keyFile: parsed.keyFile, repositoryDir: PROJECT_ROOT });
  const source = readSourceManifest(join(PROJECT_ROOT, 'manifest.json'));
  const executables = await buildTargets(parsed.targets, options, (built) => process.stdout.write(`${describe(built)}\n`));
  for (const built of executables) {
    const result = await smokeTest(built.target, built.path);
    process.stdout.write(`${built.target}: ${result.ran ? `ran ${result.how} from / with no node on PATH: initialize and ${result.status}` : `not run: ${result.why}`}\n`);
  }
  writeInstallManifests(source, executables, key);
  process.stdout.write(`${executables.length} executable(s) in ${relative(PROJECT_ROOT, options.outDir)}/, each with a manifest.json signed by the ${key.kind} key ${key.path}\n`);
  if (parsed.baseUrl !== undefined) {
    const release = writeRelease(source, executables, parsed.baseUrl, key, options.outDir);
    process.stdout.write(`release manifest: ${relative(PROJECT_ROOT, release)}; upload the files beside it to ${parsed.baseUrl}\n`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    const code = error instanceof PackagingError ? error.code : 'failed';
    process.stderr.write(`package: ${code}: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
