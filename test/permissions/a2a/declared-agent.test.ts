import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DeclaredAgentWatch } from '../../../permissions/a2a/declared-agent';
import type { PluginDeclaration } from '../../../permissions/gate/types';
import { tempDir } from '../../helpers/extension';

t.test('the watch follows the plugin files: a declaration added, changed, made invalid and removed; the declared ones count when no file has their id', async (t) => {
  const hostDir = tempDir(t);
  const plugins = join(hostDir, 'plugins');
  mkdirSync(plugins, { recursive: true, mode: 0o700 });
  const write = (id: string, a2a?: { url: string }) =>
    writeFileSync(join(plugins, `${id}.json`), JSON.stringify({ id, secret: `${id}-secret-0123456789`, extensions: {}, ...(a2a === undefined ? {} : { a2a }) }), { mode: 0o600 });
  const held: PluginDeclaration = { id: 'held', secret: 'held-secret-0123456789', extensions: {}, a2a: { url: 'http://127.0.0.1:7/' } };
  const warnings: string[] = [];
  const loaded: string[] = [];
  const watch = new DeclaredAgentWatch(hostDir, [held], (line) => warnings.push(line), (plugin) => loaded.push(plugin.id));

  t.same(watch.current(), { plugin: 'held', secret: held.secret, url: 'http://127.0.0.1:7/' }, 'a declaration the program holds');
  write('alpha', { url: 'http://127.0.0.1:1/' });
  t.match(watch.current(), { plugin: 'alpha', url: 'http://127.0.0.1:1/' }, 'a file added is seen at the next look');
  t.match(warnings, [/plugin held declares an A2A agent, but plugin alpha already does/]);
  const warned = warnings.length;
  t.match(watch.current(), { plugin: 'alpha' });
  t.equal(warnings.length, warned, 'an unchanged directory is not read again, nor warned about');
  write('alpha', { url: 'http://127.0.0.1:2/' });
  t.match(watch.current(), { url: 'http://127.0.0.1:2/' }, 'a changed file');
  write('alpha', { url: 'http://localhost:3/a2a/' });
  t.match(watch.current(), { url: 'http://127.0.0.1:3/a2a/' }, 'localhost is taken as 127.0.0.1, never resolved');
  write('alpha', { url: 'http://10.0.0.1:2/' });
  t.match(watch.current(), { plugin: 'held' }, 'an invalid file leaves its plugin out');
  t.match(warnings.at(-1), /is not on this machine/);
  rmSync(join(plugins, 'alpha.json'));
  write('held');
  t.equal(watch.current(), undefined, "a file wins over the program's declaration of the same id");
  t.same(loaded, ['held', 'alpha', 'alpha', 'alpha', 'held'], 'the declaring plugin is told each time it was read');
});
