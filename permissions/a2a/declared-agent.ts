import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PluginDeclaration } from '../gate/types';
import { fileVersion } from '../file-version';
import { loopbackAddressUrl } from '../plugins/plugin-declarations';
import { loadPlugins, pluginsDirectory, type Warn } from '../plugins/plugin-directory';

/** The A2A agent this host serves: the declaring plugin, its secret (which signs each forwarded request) and the declared url. */
export interface DeclaredAgent {
  plugin: string;
  secret: string;
  url: string;
}

/**
 * A node has one agent card, so a host serves one agent: the first plugin,
 * by id, that declares `a2a`. Any other is left out with a warning, so the
 * person sees why its agent gets no requests.
 */
export function declaredAgentOf(declarations: readonly PluginDeclaration[], warn: Warn): DeclaredAgent | undefined {
  const declaring = declarations.filter((plugin) => plugin.a2a !== undefined).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const [first, ...others] = declaring;
  if (first?.a2a === undefined) return undefined;
  for (const other of others) {
    warn(`warning: plugin ${other.id} declares an A2A agent, but plugin ${first.id} already does and a host serves one: the a2a field of ${other.id} is left out`);
  }
  // Checked when the file was read: loopbackAddressUrl takes it. localhost becomes 127.0.0.1, never resolved.
  return { plugin: first.id, secret: first.secret, url: loopbackAddressUrl(first.a2a.url) ?? first.a2a.url };
}

/**
 * Follows the plugins directory for the declared agent: the files are read
 * again only when one of them changed (a stat each), so checking every
 * second costs nothing and repeats no warning.
 */
export class DeclaredAgentWatch {
  private seen: string | undefined;
  private agent: DeclaredAgent | undefined;

  constructor(
    private readonly hostDir: string,
    /** Declarations the program holds (tests, the demo); a file of the same id wins. */
    private readonly declared: readonly PluginDeclaration[],
    private readonly warn: Warn,
    /** Told the declaring plugin's declaration whenever it was read, as the Host API tells the grants of a plugin that calls. */
    private readonly onLoaded: (declaration: PluginDeclaration) => void = () => undefined,
  ) {}

  current(): DeclaredAgent | undefined {
    const directory = pluginsDirectory(this.hostDir);
    const versions = readdirSync(directory)
      .filter((name) => name.endsWith('.json'))
      .sort()
      .map((name) => `${name}=${fileVersion(join(directory, name))}`)
      .join('\n');
    if (versions === this.seen) return this.agent;
    this.seen = versions;
    const files = loadPlugins(this.hostDir, this.warn);
    const fileIds = new Set(files.map((plugin) => plugin.id));
    const declarations = [...files, ...this.declared.filter((plugin) => !fileIds.has(plugin.id))];
    this.agent = declaredAgentOf(declarations, this.warn);
    const declaring = declarations.find((plugin) => plugin.id === this.agent?.plugin);
    if (declaring !== undefined) this.onLoaded(declaring);
    return this.agent;
  }
}
