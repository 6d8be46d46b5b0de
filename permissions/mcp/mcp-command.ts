import { join, resolve } from 'node:path';
import { isErrnoException } from '../../extension/common/atomic-file';
import { runningHostEndpoint } from '../node/host-endpoint-file';
import { HOST_LOCK_FILE_NAME } from '../node/running-node';
import { createPlugin, PluginDirectory, pluginFile } from '../plugins/plugin-directory';
import { printable } from '../terminal-text';
import { HostLauncher } from './host-launcher';
import { PluginToken } from './plugin-token';
import { StdioBridge } from './stdio-bridge';
import { MCP_OPERATIONS } from './tools';

/**
 * `p2p-comm-host mcp [--plugin ID]`, run by an MCP client: the client is
 * the plugin ID of this host dir (`mcp` unless named). A plugin that does
 * not exist yet is created, declaring the operations the tools use, every
 * permission deferred: the person approves each on first use, and each
 * peer, as for any plugin.
 */
export const DEFAULT_MCP_PLUGIN_ID = 'mcp';

export interface McpCommandOptions {
  hostDir: string;
  plugin: string | undefined;
  /** Start a host whenever none runs, not only when the client starts (`--restart-host`). */
  restartHost: boolean;
  /** The options of `start` given to `mcp`, passed on to the host it starts when none runs. */
  start: { 'data-dir'?: string | undefined; port?: string | undefined; policy?: string | undefined; 'dialog-timeout'?: string | undefined };
}

export async function runMcpCommand({ hostDir, plugin = DEFAULT_MCP_PLUGIN_ID, restartHost, start }: McpCommandOptions): Promise<void> {
  const given = Object.entries(start).filter((entry): entry is [string, string] => entry[1] !== undefined);
  const passed = given.flatMap(([name, value]) => [`--${name}`, name === 'port' || name === 'dialog-timeout' ? value : resolve(value)]);
  // This very program, as it was run (node and the host's script), told to start.
  const startCommand: [string, ...string[]] = [process.execPath, ...process.argv.slice(1, 2), 'start', '--host-dir', hostDir, ...passed];
  const log = (line: string): void => void process.stderr.write(`p2p-comm-host mcp: ${printable(line)}\n`);
  const plugins = new PluginDirectory(hostDir, { warn: log });
  ensureMcpPlugin(hostDir, plugin, log);
  const hostLock = join(hostDir, HOST_LOCK_FILE_NAME);
  const token = new PluginToken(
    () => runningHostEndpoint(hostDir, hostLock)?.url,
    () => {
      const declaration = plugins.get(plugin);
      if (declaration === undefined) throw new Error(`plugin ${plugin} is no longer declared in ${pluginFile(hostDir, plugin)}`);
      return declaration;
    },
  );
  const bridge = new StdioBridge({
    launcher: new HostLauncher({ hostDir, hostLock, startCommand, log, startOptions: given.map(([name]) => `--${name}`) }),
    token,
    restartHost,
    log,
  });
  const stop = (): void => {
    void bridge.stop().finally(() => process.exit(0));
  };
  // The client ends the server by closing its input (and, later, a signal).
  process.stdin.once('end', stop);
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await bridge.start();
}

/**
 * Creates plugin `id` for an MCP client unless it is declared already.
 * Two clients starting at once may both find it missing: the file is
 * created only if absent, and the one that loses uses the winner's.
 */
export function ensureMcpPlugin(hostDir: string, id: string, log: (line: string) => void): void {
  try {
    createPlugin(hostDir, id, MCP_OPERATIONS);
  } catch (error) {
    if (isErrnoException(error) && error.code === 'EEXIST') return;
    throw error;
  }
  log(`created plugin ${id} (${pluginFile(hostDir, id)}): its permissions and peers are asked on first use`);
}
