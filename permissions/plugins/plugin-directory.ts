import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createFileAtomic } from '../../extension/common/atomic-file';
import type { PluginDeclaration } from '../gate/types';
import { loadPluginDeclaration } from './plugin-declarations';

/**
 * `<host dir>/plugins/*.json`: the plugins this host knows. Secrets live
 * in these files (mode 0600), so only the user can hand them to a plugin.
 */
export function pluginsDirectory(hostDir: string): string {
  return join(hostDir, 'plugins');
}

export function loadPlugins(hostDir: string): PluginDeclaration[] {
  const directory = pluginsDirectory(hostDir);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  return readdirSync(directory)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => loadPluginDeclaration(join(directory, name)));
}

/** Writes a new plugin declaration with a fresh random secret; refuses to replace an existing one. */
export function createPlugin(hostDir: string, id: string, operations: readonly string[]): PluginDeclaration {
  const declaration: PluginDeclaration = { id, secret: randomBytes(24).toString('base64url'), extensions: { 'p2p-comm': [...operations] } };
  const directory = pluginsDirectory(hostDir);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const path = join(directory, `${id}.json`);
  createFileAtomic(path, `${JSON.stringify(declaration, null, 2)}\n`, 0o600);
  // Read back through the same checks as any declaration.
  return loadPluginDeclaration(path);
}
