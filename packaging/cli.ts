import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { buildTargets, type BuildOptions, type BuiltExecutable } from './build';
import { PackagingError } from './errors';
import { isTarget, TARGET_NAMES, type Target } from './targets';

/**
 * `npm run package [-- --target <triple> ...]`: builds the single-file
 * executables Nexus installs, one per target, into dist/nexus/<target>/.
 * Runs bundled into dist/ (see package.json), so the project root is the
 * parent of this file's directory either way.
 */
const PROJECT_ROOT = resolve(__dirname, '..');

const USAGE = `usage: npm run package [-- --target <triple> ...]

Builds dist/nexus/<triple>/extension (extension.exe for Windows) from
dist/p2p-comm for each target, or for all of them by default:
  ${TARGET_NAMES.join('\n  ')}
Node runtimes are fetched with npm pack into dist/node-runtimes/ and checked
against the sha512 pins in packaging/node-runtimes.ts.`;

export function parseTargets(args: readonly string[]): Target[] {
  const targets: Target[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    const value = arg === '--target' ? args[++index] : arg?.startsWith('--target=') ? arg.slice('--target='.length) : undefined;
    if (value === undefined) throw new PackagingError('unknown_target', `unexpected argument ${arg ?? ''}\n\n${USAGE}`);
    if (!isTarget(value)) throw new PackagingError('unknown_target', `unknown target ${value}; known: ${TARGET_NAMES.join(', ')}`);
    if (!targets.includes(value)) targets.push(value);
  }
  return targets.length > 0 ? targets : [...TARGET_NAMES];
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
  const targets = parseTargets(args);
  const options: BuildOptions = {
    projectRoot: PROJECT_ROOT,
    cacheDir: join(PROJECT_ROOT, 'dist', 'node-runtimes'),
    bundle: join(PROJECT_ROOT, 'dist', 'p2p-comm'),
    outDir: join(PROJECT_ROOT, 'dist', 'nexus'),
  };
  if (!existsSync(options.bundle)) {
    throw new PackagingError('bundle_missing', `${options.bundle} is missing: run npm run build first`);
  }
  const executables = await buildTargets(targets, options, (built) => process.stdout.write(`${describe(built)}\n`));
  // The release manifest entries and their signatures are made from these files (packaging/manifests.ts).
  process.stdout.write(`${executables.length} executable(s) in ${relative(PROJECT_ROOT, options.outDir)}/\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    const code = error instanceof PackagingError ? error.code : 'failed';
    process.stderr.write(`package: ${code}: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
