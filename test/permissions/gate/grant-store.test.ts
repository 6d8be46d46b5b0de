import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { GRANTS_FILE_NAME, GrantStore } from '../../../permissions/gate/grant-store';
import type { PluginDeclaration } from '../../../permissions/gate/types';
import { tempDir } from '../../helpers/extension';

const AGENT_A: PluginDeclaration = { id: 'agent-a', secret: 's'.repeat(16), extensions: { 'p2p-comm': ['send', 'receive'] } };
const AGENT_B: PluginDeclaration = { id: 'agent-b', secret: 's'.repeat(16), extensions: { 'p2p-comm': ['status'] } };
const SEND = 'ext:p2p-comm:send';
const RECEIVE = 'ext:p2p-comm:receive';

t.test('register adds a deferred grant per declared permission, kept across opening again', async (t) => {
  const dir = tempDir(t);
  const store = GrantStore.open(dir);
  t.same(store.plugins(), []);
  t.notOk(existsSync(join(dir, GRANTS_FILE_NAME)), 'nothing written before something changes');
  store.register(AGENT_B);
  store.register(AGENT_A);
  t.same(store.get('agent-a', SEND), { permission: SEND, state: 'deferred', approvedScopes: [], deniedScopes: [] });
  t.equal(store.get('agent-a', 'ext:p2p-comm:status'), undefined);
  t.equal(store.get('nobody', SEND), undefined);
  t.equal(statSync(join(dir, GRANTS_FILE_NAME)).mode & 0o777, 0o600);

  const reopened = GrantStore.open(dir);
  t.same(reopened.plugins(), ['agent-a', 'agent-b']);
  t.same(reopened.list(), [
    { plugin: 'agent-a', permission: RECEIVE, state: 'deferred', approvedScopes: [], deniedScopes: [] },
    { plugin: 'agent-a', permission: SEND, state: 'deferred', approvedScopes: [], deniedScopes: [] },
    { plugin: 'agent-b', permission: 'ext:p2p-comm:status', state: 'deferred', approvedScopes: [], deniedScopes: [] },
  ]);
  t.same(reopened.list('agent-b'), [{ plugin: 'agent-b', permission: 'ext:p2p-comm:status', state: 'deferred', approvedScopes: [], deniedScopes: [] }]);
  t.same(reopened.list('nobody'), []);
});

t.test('register never changes or drops an existing grant', async (t) => {
  const dir = tempDir(t);
  const store = GrantStore.open(dir);
  store.register(AGENT_A);
  store.setState('agent-a', SEND, 'revoked');
  store.setState('agent-a', RECEIVE, 'active');
  store.addScope('agent-a', RECEIVE, 'peer-1');
  // The declaration now lists only send, plus a new operation.
  store.register({ ...AGENT_A, extensions: { 'p2p-comm': ['send', 'ack'] } });
  const reopened = GrantStore.open(dir);
  t.same(reopened.get('agent-a', SEND), { permission: SEND, state: 'revoked', approvedScopes: [], deniedScopes: [] }, 'a revocation is not lifted');
  t.same(reopened.get('agent-a', RECEIVE), { permission: RECEIVE, state: 'active', approvedScopes: ['peer-1'], deniedScopes: [] }, 'an undeclared grant is kept');
  t.same(reopened.get('agent-a', 'ext:p2p-comm:ack'), { permission: 'ext:p2p-comm:ack', state: 'deferred', approvedScopes: [], deniedScopes: [] });
});

t.test('a plugin declaring nothing is still registered', async (t) => {
  const dir = tempDir(t);
  GrantStore.open(dir).register({ ...AGENT_A, extensions: {} });
  t.same(GrantStore.open(dir).plugins(), ['agent-a']);
});

t.test('state and scopes are persisted', async (t) => {
  const dir = tempDir(t);
  const store = GrantStore.open(dir);
  store.register(AGENT_A);
  store.setState('agent-a', SEND, 'active');
  store.addScope('agent-a', SEND, 'peer-1');
  store.addScope('agent-a', SEND, 'peer-2');
  store.addScope('agent-a', SEND, 'peer-1');
  t.same(GrantStore.open(dir).get('agent-a', SEND), { permission: SEND, state: 'active', approvedScopes: ['peer-1', 'peer-2'], deniedScopes: [] });
  t.equal(store.removeScope('agent-a', SEND, 'peer-1'), true);
  t.equal(store.removeScope('agent-a', SEND, 'peer-1'), false, 'removing one not approved changes nothing');
  t.same(GrantStore.open(dir).get('agent-a', SEND), { permission: SEND, state: 'active', approvedScopes: ['peer-2'], deniedScopes: [] });
  const file = JSON.parse(readFileSync(join(dir, GRANTS_FILE_NAME), 'utf8')) as unknown;
  t.same(file, {
    version: 1,
    plugins: {
      'agent-a': {
        [SEND]: { state: 'active', approved_scopes: ['peer-2'], denied_scopes: [] },
        [RECEIVE]: { state: 'deferred', approved_scopes: [], denied_scopes: [] },
      },
    },
  });
});

t.test('a grant handed out is a copy', async (t) => {
  const store = GrantStore.open(tempDir(t));
  store.register(AGENT_A);
  store.get('agent-a', SEND)?.approvedScopes.push('peer-1');
  const listed = store.list('agent-a')[0];
  if (listed !== undefined) listed.state = 'active';
  t.same(store.get('agent-a', SEND), { permission: SEND, state: 'deferred', approvedScopes: [], deniedScopes: [] });
  t.same(store.get('agent-a', RECEIVE), { permission: RECEIVE, state: 'deferred', approvedScopes: [], deniedScopes: [] });
});

t.test('changing a grant that does not exist is refused clearly', async (t) => {
  const store = GrantStore.open(tempDir(t));
  store.register(AGENT_A);
  t.throws(() => store.setState('agent-b', SEND, 'active'), { errorName: 'NOT_FOUND', message: /plugin 'agent-b' is not registered/ });
  t.throws(() => store.setState('agent-a', 'ext:p2p-comm:pair', 'active'), {
    errorName: 'NOT_FOUND',
    message: /plugin 'agent-a' does not declare permission 'ext:p2p-comm:pair'/,
  });
  t.throws(() => store.addScope('agent-a', 'ext:p2p-comm:ack', 'peer-1'), { errorName: 'NOT_FOUND', message: /does not declare permission 'ext:p2p-comm:ack'/ });
  t.throws(() => store.removeScope('agent-b', SEND, 'peer-1'), { errorName: 'NOT_FOUND', message: /register the plugin from its declaration first/ });
});

t.test('plugin ids that are Object.prototype members are ordinary ids', async (t) => {
  const dir = tempDir(t);
  const store = GrantStore.open(dir);
  t.equal(store.get('constructor', SEND), undefined);
  t.same(store.list('__proto__'), []);
  store.register({ ...AGENT_A, id: '__proto__' });
  store.register({ ...AGENT_A, id: 'constructor' });
  const reopened = GrantStore.open(dir);
  t.same(reopened.plugins(), ['__proto__', 'constructor']);
  t.same(reopened.get('__proto__', SEND), { permission: SEND, state: 'deferred', approvedScopes: [], deniedScopes: [] });
});

t.test('a corrupt file is refused with its name and left as it is', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, GRANTS_FILE_NAME);
  const cases: [string, RegExp][] = [
    ['{"version": 1, "plugins": ', /it is not valid JSON/],
    ['{"version": 2, "plugins": {}}', /\/version must be 1/],
    ['{"version": 1}', /missing the required field "plugins"/],
    ['{"version": 1, "plugins": {"Agent A": {}}}', /has a key "Agent A"/],
    ['{"version": 1, "plugins": {"a": {"send": {"state": "active", "approved_scopes": []}}}}', /has a key "send"/],
    ['{"version": 1, "plugins": {"a": {"ext:p2p-comm:send": {"state": "on", "approved_scopes": []}}}}', /state must be one of "active", "deferred", "revoked"/],
    ['{"version": 1, "plugins": {"a": {"ext:p2p-comm:send": {"state": "active"}}}}', /missing the required field "approved_scopes"/],
    ['{"version": 1, "plugins": {"a": {"ext:p2p-comm:send": {"state": "active", "approved_scopes": ["x", "x"]}}}}', /duplicate items/],
  ];
  for (const [content, problem] of cases) {
    writeFileSync(path, content);
    t.throws(() => GrantStore.open(dir), { errorName: 'STATE_FILE_CORRUPT', message: problem }, content);
    t.throws(() => GrantStore.open(dir), { message: `the grant store ${path} is corrupt` });
    t.equal(readFileSync(path, 'utf8'), content, 'never reset');
  }
});

t.test('a failed change leaves the grants as they were', async (t) => {
  const dir = tempDir(t);
  const store = GrantStore.open(dir);
  store.register(AGENT_A);
  // A non-empty directory in the lock's place makes taking the lock fail, even for root.
  const lock = join(dir, `${GRANTS_FILE_NAME}.lock`);
  mkdirSync(lock);
  writeFileSync(join(lock, 'keep'), '');
  t.throws(() => store.setState('agent-a', SEND, 'active'));
  t.equal(store.get('agent-a', SEND)?.state, 'deferred');
  t.equal(GrantStore.open(dir).get('agent-a', SEND)?.state, 'deferred');
  rmSync(lock, { recursive: true });
});

t.test('a file from before denied scopes existed loads, and denials are kept apart from approvals', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, GRANTS_FILE_NAME), JSON.stringify({ version: 1, plugins: { 'agent-a': { [SEND]: { state: 'active', approved_scopes: ['peer-1'] } } } }));
  const store = GrantStore.open(dir);
  t.same(store.get('agent-a', SEND), { permission: SEND, state: 'active', approvedScopes: ['peer-1'], deniedScopes: [] });
  store.denyScope('agent-a', SEND, 'peer-1');
  store.denyScope('agent-a', SEND, 'peer-2');
  t.same(store.get('agent-a', SEND), { permission: SEND, state: 'active', approvedScopes: [], deniedScopes: ['peer-1', 'peer-2'] }, 'a denial replaces an approval');
  store.addScope('agent-a', SEND, 'peer-2');
  t.same(GrantStore.open(dir).get('agent-a', SEND), { permission: SEND, state: 'active', approvedScopes: ['peer-2'], deniedScopes: ['peer-1'] }, 'and the other way round');
  t.equal(store.removeScope('agent-a', SEND, 'peer-1'), true, 'forgetting a denial');
  t.same(store.get('agent-a', SEND)?.deniedScopes, []);
});

t.test('a change made through another store on the same file is seen at once and never overwritten', async (t) => {
  const dir = tempDir(t);
  const host = GrantStore.open(dir);
  host.register(AGENT_A);
  const cli = GrantStore.open(dir);
  cli.setState('agent-a', SEND, 'revoked');
  t.equal(host.get('agent-a', SEND)?.state, 'revoked', 'seen by the other store');
  host.addScope('agent-a', RECEIVE, 'peer-1');
  cli.addScope('agent-a', RECEIVE, 'peer-2');
  host.setState('agent-a', RECEIVE, 'active');
  t.same(GrantStore.open(dir).list('agent-a'), [
    { plugin: 'agent-a', permission: RECEIVE, state: 'active', approvedScopes: ['peer-1', 'peer-2'], deniedScopes: [] },
    { plugin: 'agent-a', permission: SEND, state: 'revoked', approvedScopes: [], deniedScopes: [] },
  ]);
});
