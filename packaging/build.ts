import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bundle } from './bundle';
import { PackagingError } from './errors';
import { inspectExecutable } from './executable-headers';
import { injectSeaBlob } from './inject';
import { seaAssets, type EmbeddedAddonFile } from './native-addons';
import { nodeExecutable, type RuntimeSourceOptions } from './node-runtime-source';
import { blobBuilderFor, type NodeRelease } from './node-runtimes';
import { buildSeaBlob } from './sea-blob';
import { TARGETS, type Target, type TargetSpec } from './targets';

export interface BuildOptions extends RuntimeSourceOptions {
  /** The program to package: extension/main.ts. */
  entryPoint: string;
  /** Executables are written to <outDir>/<target>/<file name>. */
  outDir: string;
}

export interface BuiltExecutable {
  target: Target;
  path: string;
  bytes: number;
  runtime: NodeRelease;
  buildMs: number;
}

/** Builds each target in turn; targets that share a spec (both macOS ones) share the bytes. */
export async function buildTargets(
  targets: readonly Target[],
  options: BuildOptions,
  onBuilt: (built: BuiltExecutable) => void = () => undefined,
): Promise<BuiltExecutable[]> {
  const results: BuiltExecutable[] = [];
  for (const target of targets) {
    const started = Date.now();
    const twin = results.find((done) => TARGETS[done.target] === TARGETS[target]);
    const path = twin === undefined ? await buildExecutable(target, options) : copyExecutable(twin.path, target, options);
    const built = { target, path, bytes: statSync(path).size, runtime: TARGETS[target].runtime, buildMs: Date.now() - started };
    results.push(built);
    onBuilt(built);
  }
  return results;
}

export function executablePath(target: Target, outDir: string): string {
  return join(outDir, target, TARGETS[target].fileName);
}

/**
 * Blob made by the linux-x64 Node of the target's version; injected into
 * a copy of the target's Node; checked; and only then moved into place,
 * so a failed build leaves no executable behind.
 */
export async function buildExecutable(target: Target, options: BuildOptions): Promise<string> {
  requireLinuxX64Host();
  const spec: TargetSpec = TARGETS[target];
  const runtime = await nodeExecutable(spec.runtime, options);
  const builder = await nodeExecutable(blobBuilderFor(spec.runtime), options);
  const workDir = mkdtempSync(join(tmpdir(), 'p2p-comm-sea-'));
  const output = executablePath(target, options.outDir);
  const partial = `${output}.partial`;
  try {
    const { blob } = await buildTargetBlob(target, builder, options, workDir);
    mkdirSync(dirname(output), { recursive: true });
    copyFileSync(runtime, partial);
    chmodSync(partial, 0o755);
    await injectSeaBlob(partial, blob, spec.format);
    checkExecutable(target, readFileSync(partial), blob);
    renameSync(partial, output);
    return output;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
    rmSync(partial, { force: true });
  }
}

export interface TargetBlob {
  blob: Buffer;
  /** The native addons it carries as assets, with the hashes its script checks them against. */
  addons: EmbeddedAddonFile[];
}

/**
 * The SEA blob of a target: the entry point bundled to take its native
 * addons from the executable's assets, and the target platform's
 * prebuilds as those assets. `builderNode` runs in `workDir`.
 */
export async function buildTargetBlob(target: Target, builderNode: string, options: Pick<BuildOptions, 'projectRoot' | 'entryPoint'>, workDir: string): Promise<TargetBlob> {
  const main = join(workDir, 'main.cjs');
  const addons = await bundle({
    projectRoot: options.projectRoot,
    entryPoint: options.entryPoint,
    outfile: main,
    addons: { into: 'sea-assets', platform: TARGETS[target].addonPlatform },
  });
  const blob = readFileSync(await buildSeaBlob(builderNode, main, seaAssets(addons), workDir));
  return { blob, addons };
}

/** Refuses an executable that is not what the target's Nexus would run, or whose blob is not the one built. */
export function checkExecutable(target: Target, bytes: Buffer, blob: Buffer): void {
  const spec = TARGETS[target];
  const facts = inspectExecutable(bytes);
  const problems: string[] = [];
  if (facts.format !== spec.format) problems.push(`format ${facts.format}, expected ${spec.format}`);
  if (facts.machine !== spec.machine) problems.push(`machine ${facts.machine}, expected ${spec.machine}`);
  if (facts.seaBlob === null) problems.push('no SEA blob where Node looks for it');
  else if (!facts.seaBlob.equals(blob)) problems.push('the embedded SEA blob differs from the one built');
  if (facts.fuse !== 'set') problems.push(`SEA fuse ${facts.fuse}, expected set`);
  if (facts.signed) problems.push('a stale code signature is left');
  if (problems.length > 0) throw new PackagingError('executable_mismatch', `${target}: ${problems.join('; ')}`);
}

function copyExecutable(from: string, target: Target, options: BuildOptions): string {
  const output = executablePath(target, options.outDir);
  mkdirSync(dirname(output), { recursive: true });
  copyFileSync(from, output);
  chmodSync(output, 0o755);
  return output;
}

/** Blobs are made by running linux-x64 Node builds. */
function requireLinuxX64Host(): void {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new PackagingError('unsupported_host', `packaging runs on Linux x64 (it runs linux-x64 Node builds to make the blobs); this is ${process.platform}-${process.arch}`);
  }
}
