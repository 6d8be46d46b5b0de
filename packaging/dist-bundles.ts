import { join, resolve } from 'node:path';
import { thisPlatform } from '../extension/common/native-addons';
import { bundle } from './bundle';
import { PackagingError } from './errors';

/**
 * `npm run build`, after the type check: the scripts in dist/ run by the
 * Node on PATH. They carry the native addons of the platform the build
 * runs on only: all five platforms would add 5 MB to each script, about
 * 13 ms to every start and 9 MiB of memory (the base64 text is read and
 * scanned even when unused), for scripts that are built where they run;
 * what ships to other machines is the single-file executable of each
 * target. Runs bundled as dist/bundle.cjs, so the project root is the
 * parent of this file's directory either way.
 */
const PROJECT_ROOT = resolve(__dirname, '..');

const BUNDLES: ReadonlyArray<{ entryPoint: string; outfile: string }> = [
  { entryPoint: 'extension/main.ts', outfile: 'dist/p2p-comm' },
  { entryPoint: 'permissions/main.ts', outfile: 'dist/p2p-comm-host' },
  { entryPoint: 'permissions/demo/demo.ts', outfile: 'dist/p2p-comm-demo' },
];

async function main(): Promise<void> {
  await Promise.all(
    BUNDLES.map((entry) =>
      bundle({
        projectRoot: PROJECT_ROOT,
        entryPoint: join(PROJECT_ROOT, entry.entryPoint),
        outfile: join(PROJECT_ROOT, entry.outfile),
        addons: { into: 'script', platforms: [thisPlatform()] },
      }),
    ),
  );
}

main().catch((error: unknown) => {
  const code = error instanceof PackagingError ? error.code : 'failed';
  process.stderr.write(`build: ${code}: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
