import { chmodSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { PluginDeclaration } from '../../../permissions/gate/types';
import { createPlugin, loadPlugins, PluginDirectory, pluginsDirectory } from '../../../permissions/plugins/plugin-directory';
import { tempDir } from '../../helpers/extension';

const declaration = (id: string, secret = 'correct horse battery staple'): PluginDeclaration => ({ id, secret, extensions: { 'p2p-comm': ['status'] } });

function writePlugin(hostDir: string, name: string, content: PluginDeclaration, mode = 0o600): string {
  const path = join(pluginsDirectory(hostDir), `${name}.json`);
  writeFileSync(path, JSON.stringify(content), { mode });
  chmodSync(path, mode);
  return path;
}

function hostWithPlugins(t: Test): string {
  const hostDir = join(tempDir(t), 'host');
  loadPlugins(hostDir);
  return hostDir;
}

t.test('createPlugin checks the id before building a path', async (t) => {
  const root = tempDir(t);
  const hostDir = join(root, 'host');
  for (const id of ['../../x', '../x', 'a/b', '', 'Agent', 'x'.repeat(101), 'a\u0000b']) {
    t.throws(() => createPlugin(hostDir, id, ['status']), { message: `${JSON.stringify(id)} is not a valid plugin id: use 1-100 lower-case letters, digits, ".", "_" or "-"` }, JSON.stringify(id));
  }
  t.same(readdirSync(root), [], 'nothing was written anywhere');
  const created = createPlugin(hostDir, 'agent', ['status']);
  t.equal(created.id, 'agent');
  t.equal(statSync(join(pluginsDirectory(hostDir), 'agent.json')).mode & 0o777, 0o600);
});

t.test('a declaration others can read is made private, with a warning', async (t) => {
  const hostDir = hostWithPlugins(t);
  const path = writePlugin(hostDir, 'agent', declaration('agent'), 0o644);
  const warnings: string[] = [];
  t.same(loadPlugins(hostDir, (line) => warnings.push(line)), [declaration('agent')]);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.equal(warnings.length, 1);
  t.match(warnings[0], `plugin declaration ${path} could be read by other users (mode 0644); it is now 0600`);
  t.match(warnings[0], /replace the secret/);
  warnings.length = 0;
  loadPlugins(hostDir, (line) => warnings.push(line));
  t.same(warnings, [], 'once private, nothing to say');
});

t.test('a declaration whose id is not its file name is left out, with a warning naming both', async (t) => {
  const hostDir = hostWithPlugins(t);
  const path = writePlugin(hostDir, 'agent', declaration('impostor'));
  writePlugin(hostDir, 'other', declaration('other'));
  const warnings: string[] = [];
  t.same(loadPlugins(hostDir, (line) => warnings.push(line)).map((plugin) => plugin.id), ['other']);
  t.same(warnings, [
    `warning: plugin agent is left out until its file is fixed: plugin declaration ${path} declares the id "impostor", but its file name says "agent": rename the file to impostor.json or change the id`,
  ]);
});

t.test('the directory is followed while the host runs', async (t) => {
  const hostDir = hostWithPlugins(t);
  let now = 0;
  const loaded: string[] = [];
  const warnings: string[] = [];
  const directory = new PluginDirectory(hostDir, {
    recheckMs: 500,
    now: () => now,
    onLoaded: (plugin) => loaded.push(`${plugin.id} ${plugin.secret}`),
    warn: (line) => warnings.push(line),
  });
  t.equal(directory.get('late'), undefined, 'no file, no plugin');

  createPlugin(hostDir, 'late', ['status']);
  const added = directory.get('late');
  t.equal(added?.id, 'late', 'a file added is seen at once when nothing was known of it');
  t.same(loaded, [`late ${added?.secret}`], 'and reported, so the host can register its permissions');

  writePlugin(hostDir, 'late', declaration('late', 'a brand new secret value'));
  t.equal(directory.get('late')?.secret, added?.secret, 'within the recheck interval the known version is used');
  now += 500;
  t.equal(directory.get('late')?.secret, 'a brand new secret value', 'then the change is read');
  t.equal(loaded.length, 2);
  now += 500;
  directory.get('late');
  t.equal(loaded.length, 2, 'an unchanged file is not read again');

  rmSync(join(pluginsDirectory(hostDir), 'late.json'));
  now += 500;
  t.equal(directory.get('late'), undefined, 'a removed file removes the plugin');

  writePlugin(hostDir, 'late', declaration('someone-else'));
  now += 500;
  t.equal(directory.get('late'), undefined, 'a broken file makes the plugin unavailable');
  t.equal(directory.get('late'), undefined);
  now += 500;
  t.equal(directory.get('late'), undefined);
  t.equal(warnings.length, 1, 'with one warning per version of the file');
  t.match(warnings[0], /plugin late is unavailable until its file is fixed: .*declares the id "someone-else"/);

  for (const id of ['../host/plugins/late', '', 'A', 'constructor/..']) t.equal(directory.get(id), undefined, JSON.stringify(id));
});

t.test('declarations held by the program, next to the files', async (t) => {
  const hostDir = hostWithPlugins(t);
  writePlugin(hostDir, 'filed', declaration('filed', 'the secret in the file'));
  const directory = new PluginDirectory(hostDir, {
    recheckMs: 0,
    declared: [declaration('demo'), declaration('filed', 'the secret the program had')],
  });
  t.equal(directory.get('demo')?.id, 'demo', 'one without a file is served as given');
  t.equal(directory.get('filed')?.secret, 'the secret in the file', 'a file of the same id wins');
  rmSync(join(pluginsDirectory(hostDir), 'filed.json'));
  t.equal(directory.get('filed'), undefined, 'and removing that file removes the plugin, the copy held by the program included');
});

t.test('a listener that fails is told again on the next lookup', async (t) => {
  const hostDir = hostWithPlugins(t);
  writePlugin(hostDir, 'agent', declaration('agent'));
  let failures = 1;
  const told: string[] = [];
  const directory = new PluginDirectory(hostDir, {
    onLoaded: (plugin) => {
      if (failures-- > 0) throw new Error('the grant store could not be written');
      told.push(plugin.id);
    },
  });
  t.throws(() => directory.get('agent'), { message: 'the grant store could not be written' });
  t.equal(directory.get('agent')?.id, 'agent');
  t.same(told, ['agent']);
});
