import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createFileAtomic } from '../../extension/common/atomic-file';
import type { PluginDeclaration } from '../gate/types';
import { fileVersion, type FileVersion } from '../file-version';
import { printable } from '../terminal-text';
import { loadPluginDeclaration, PLUGIN_ID_PATTERN } from './plugin-declarations';

/**
 * `<host dir>/plugins/<id>.json`: the plugins this host knows. Secrets live
 * in these files, so they are kept at mode 0600 and the directory at 0700:
 * only the user can hand a secret to a plugin.
 */
export function pluginsDirectory(hostDir: string): string {
  return join(hostDir, 'plugins');
}

/** Where plugin `id` is declared; the id is checked first, so no path outside the directory can come out. */
export function pluginFile(hostDir: string, id: string): string {
  if (!PLUGIN_ID_PATTERN.test(id)) {
    throw new Error(`${JSON.stringify(id)} is not a valid plugin id: use 1-100 lower-case letters, digits, ".", "_" or "-"`);
  }
  return join(pluginsDirectory(hostDir), `${id}.json`);
}

/** Where a warning about a plugin file goes; the host's stderr by default. */
export type Warn = (line: string) => void;

/** File names and file contents are anyone's with access to the directory: escaped before they reach a terminal. */
const toStderr: Warn = (line) => process.stderr.write(`${printable(line)}\n`);

/**
 * Every usable declaration in the directory. A file that cannot be used (bad
 * name, bad content) is left out with a warning, as the running host does,
 * so that one broken file does not stop every command.
 */
export function loadPlugins(hostDir: string, warn: Warn = toStderr): PluginDeclaration[] {
  const directory = pluginsDirectory(hostDir);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  return declarationFileIds(directory, warn).flatMap((id) => {
    try {
      return [readPluginFile(join(directory, `${id}.json`), id, warn)];
    } catch (error) {
      warn(`warning: plugin ${id} is left out until its file is fixed: ${error instanceof Error ? error.message : String(error)}`);
      return [];
    }
  });
}

/** The plugin ids the `.json` files of the directory are named after, sorted; other names are left out with a warning. */
function declarationFileIds(directory: string, warn: Warn): string[] {
  return readdirSync(directory)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => name.slice(0, -'.json'.length))
    .filter((id) => {
      if (PLUGIN_ID_PATTERN.test(id)) return true;
      warn(`warning: ${JSON.stringify(join(directory, `${id}.json`))} is left out: a plugin file is named <plugin id>.json, and ${JSON.stringify(id)} is not a plugin id`);
      return false;
    });
}

/** Writes a new plugin declaration with a fresh random secret; refuses to replace an existing one. */
export function createPlugin(hostDir: string, id: string, operations: readonly string[]): PluginDeclaration {
  const path = pluginFile(hostDir, id);
  const declaration: PluginDeclaration = { id, secret: randomBytes(24).toString('base64url'), extensions: { 'p2p-comm': [...operations] } };
  mkdirSync(pluginsDirectory(hostDir), { recursive: true, mode: 0o700 });
  createFileAtomic(path, `${JSON.stringify(declaration, null, 2)}\n`, 0o600);
  // Read back through the same checks as any declaration.
  return readPluginFile(path, id, toStderr);
}

/**
 * Reads `<id>.json`. A file others may read is made private (0600) with a
 * warning rather than refused: the fix is certain and refusing would only
 * lock the user out, but the secret may already have been read, which the
 * warning says. A declaration naming another id than its file is refused:
 * which of the two the user meant cannot be guessed.
 */
function readPluginFile(path: string, id: string, warn: Warn): PluginDeclaration {
  makePrivate(path, warn);
  const declaration = loadPluginDeclaration(path);
  if (declaration.id !== id) {
    throw new Error(
      `plugin declaration ${path} declares the id "${declaration.id}", but its file name says "${id}": rename the file to ${declaration.id}.json or change the id`,
    );
  }
  return declaration;
}

function makePrivate(path: string, warn: Warn): void {
  // Windows has no such mode bits; the file's ACL is the user's to manage.
  if (process.platform === 'win32') return;
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  try {
    chmodSync(path, 0o600);
  } catch (error) {
    throw new Error(
      `plugin declaration ${path} can be read by other users (mode ${octal(mode)}) and could not be made private (${error instanceof Error ? error.message : String(error)}): run chmod 600 on it`,
    );
  }
  warn(
    `warning: plugin declaration ${path} could be read by other users (mode ${octal(mode)}); it is now 0600. Its secret may have been read: replace the secret if other people use this machine.`,
  );
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

export interface PluginDirectoryOptions {
  /**
   * Declarations the program holds rather than files (the demo, tests). One
   * whose id has a file when the directory is opened is followed through
   * that file instead, so removing the file also removes the plugin.
   */
  declared?: readonly PluginDeclaration[];
  /** Told about each declaration read from a file: when first seen and after every change. */
  onLoaded?: (declaration: PluginDeclaration) => void;
  /** How long a file's state is trusted before it is looked at again. */
  recheckMs?: number;
  warn?: Warn;
  /** Milliseconds; injectable so tests need not wait for a recheck. */
  now?: () => number;
}

/** Short enough that a plugin added or removed with the CLI counts within a second, long enough that a burst of calls costs one stat. */
export const DEFAULT_PLUGIN_RECHECK_MS = 500;

interface CachedFile {
  checkedAt: number;
  /** This version of the file (file-version.ts). */
  version: string;
  /** Undefined when this version of the file could not be used (the warning has been given). */
  declaration: PluginDeclaration | undefined;
}

/**
 * The plugins of a running host, following `<host dir>/plugins/` as it
 * changes: a plugin added with `p2p-comm-host add-plugin` can get a token
 * without a restart, and one whose file is removed stops working, its
 * tokens included. Looked up by id, which is the file name, so each lookup
 * costs at most one stat and nothing is kept for ids without a file.
 */
export class PluginDirectory {
  private readonly files = new Map<string, CachedFile>();
  private readonly declared: ReadonlyMap<string, PluginDeclaration>;
  private readonly recheckMs: number;
  private readonly warn: Warn;
  private readonly now: () => number;

  constructor(
    private readonly hostDir: string,
    private readonly options: PluginDirectoryOptions = {},
  ) {
    this.recheckMs = options.recheckMs ?? DEFAULT_PLUGIN_RECHECK_MS;
    this.warn = options.warn ?? toStderr;
    this.now = options.now ?? Date.now;
    mkdirSync(pluginsDirectory(hostDir), { recursive: true, mode: 0o700 });
    const fileIds = new Set(declarationFileIds(pluginsDirectory(hostDir), this.warn));
    this.declared = new Map((options.declared ?? []).filter((plugin) => !fileIds.has(plugin.id)).map((plugin) => [plugin.id, plugin]));
  }

  get(id: string): PluginDeclaration | undefined {
    // Ids arrive in requests: one that is not a plugin id names no file.
    if (!PLUGIN_ID_PATTERN.test(id)) return undefined;
    const now = this.now();
    const cached = this.files.get(id);
    if (cached !== undefined && now - cached.checkedAt < this.recheckMs) return cached.declaration;
    const path = pluginFile(this.hostDir, id);
    let version: FileVersion;
    try {
      version = fileVersion(path);
    } catch (error) {
      this.files.delete(id);
      this.warn(`warning: plugin ${id} is unavailable: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
    if (version === null) {
      this.files.delete(id);
      return this.declared.get(id);
    }
    if (cached?.version === version) {
      cached.checkedAt = now;
      return cached.declaration;
    }
    const declaration = this.read(path, id);
    // Told before it is kept: if the listener fails, the next lookup tries again.
    if (declaration !== undefined) this.options.onLoaded?.(declaration);
    this.files.set(id, { checkedAt: now, version, declaration });
    return declaration;
  }

  private read(path: string, id: string): PluginDeclaration | undefined {
    try {
      return readPluginFile(path, id, this.warn);
    } catch (error) {
      this.warn(`warning: plugin ${id} is unavailable until its file is fixed: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  }
}
