import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { declaredPermissions } from '../../../permissions/gate/types';
import { loadPluginDeclaration } from '../../../permissions/plugins/plugin-declarations';
import { tempDir } from '../../helpers/extension';

const VALID = { id: 'agent-a', secret: 'correct horse battery staple', extensions: { 'p2p-comm': ['send', 'receive'] } };

function declarationFile(t: Test, content: unknown): string {
  const path = join(tempDir(t), 'plugin.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

t.test('loads a valid declaration and names its permissions', async (t) => {
  const declaration = loadPluginDeclaration(declarationFile(t, VALID));
  t.same(declaration, VALID);
  t.same(declaredPermissions(declaration), ['ext:p2p-comm:send', 'ext:p2p-comm:receive']);
});

t.test('every extension and operation becomes a permission', async (t) => {
  const declaration = loadPluginDeclaration(
    declarationFile(t, { ...VALID, id: 'x.y_z-1', extensions: { 'p2p-comm': ['status'], other_ext: ['a_1', 'b'], empty: [] } }),
  );
  t.same(declaredPermissions(declaration), ['ext:p2p-comm:status', 'ext:other_ext:a_1', 'ext:other_ext:b']);
});

t.test('refuses a bad file, naming the file and the field', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['not JSON', '{"id": ', /is not valid JSON/],
    ['not an object', '[]', /the plugin declaration must be object/],
    ['missing id', { secret: VALID.secret, extensions: {} }, /missing the required field "id"/],
    ['missing secret', { id: 'a', extensions: {} }, /missing the required field "secret"/],
    ['missing extensions', { id: 'a', secret: VALID.secret }, /missing the required field "extensions"/],
    ['unknown field', { ...VALID, extension: {} }, /unexpected field "extension"/],
    ['upper-case id', { ...VALID, id: 'Agent' }, /field \/id is not in the expected format/],
    ['id too long', { ...VALID, id: 'a'.repeat(101) }, /field \/id is not in the expected format/],
    ['empty id', { ...VALID, id: '' }, /field \/id/],
    ['short secret', { ...VALID, secret: 'x'.repeat(15) }, /field \/secret must NOT have fewer than 16 characters/],
    ['long secret', { ...VALID, secret: 'x'.repeat(257) }, /field \/secret must NOT have more than 256 characters/],
    ['non-ASCII secret', { ...VALID, secret: `${'x'.repeat(16)}é` }, /field \/secret is not in the expected format/],
    ['control character in secret', { ...VALID, secret: `${'x'.repeat(16)}\n` }, /field \/secret is not in the expected format/],
    ['extensions a list', { ...VALID, extensions: ['send'] }, /field \/extensions must be object/],
    ['bad extension id', { ...VALID, extensions: { 'P2P comm': ['send'] } }, /field \/extensions has a key "P2P comm"/],
    ['operations not a list', { ...VALID, extensions: { 'p2p-comm': 'send' } }, /field \/extensions\/p2p-comm must be array/],
    ['bad operation name', { ...VALID, extensions: { 'p2p-comm': ['Send'] } }, /field \/extensions\/p2p-comm\/0 is not in the expected format/],
    ['repeated operation', { ...VALID, extensions: { 'p2p-comm': ['send', 'send'] } }, /field \/extensions\/p2p-comm must NOT have duplicate items/],
  ];
  for (const [name, content, problem] of cases) {
    const path = declarationFile(t, content);
    t.throws(() => loadPluginDeclaration(path), { message: problem }, name);
    t.throws(() => loadPluginDeclaration(path), { message: `plugin declaration ${path} ` }, name);
  }
});

t.test('a refusal never shows the secret', async (t) => {
  const secret = `${'s'.repeat(20)}\u00e9`;
  const path = declarationFile(t, { ...VALID, secret });
  t.throws(() => loadPluginDeclaration(path), { message: /field \/secret is not in the expected format/ });
  t.throws(() => loadPluginDeclaration(path), { message: /^(?![\s\S]*sssss)/ });
});

t.test('a missing file is named', async (t) => {
  const path = join(tempDir(t), 'absent.json');
  t.throws(() => loadPluginDeclaration(path), { message: `plugin declaration ${path} does not exist` });
});
