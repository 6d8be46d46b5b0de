import t from 'tap';
import { ensureMcpPlugin } from '../../../permissions/mcp/mcp-command';
import { MCP_OPERATIONS } from '../../../permissions/mcp/tools';
import { loadPlugins } from '../../../permissions/plugins/plugin-directory';
import { tempDir } from '../../helpers/extension';

t.test("an MCP client's plugin is created once; a client that finds it made meanwhile uses it", async (t) => {
  const hostDir = tempDir(t);
  const logged: string[] = [];
  ensureMcpPlugin(hostDir, 'claude', (line) => logged.push(line));
  const made = loadPlugins(hostDir).find((plugin) => plugin.id === 'claude');
  t.same(made?.extensions, { 'p2p-comm': [...MCP_OPERATIONS] });
  t.match(logged, [/created plugin claude/]);

  // Another `mcp` for the same id, started at the same moment, got there first.
  t.doesNotThrow(() => ensureMcpPlugin(hostDir, 'claude', (line) => logged.push(line)));
  t.equal(loadPlugins(hostDir).find((plugin) => plugin.id === 'claude')?.secret, made?.secret, 'the existing secret is kept');
  t.equal(logged.length, 1, 'nothing created the second time');
});
