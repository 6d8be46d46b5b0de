import t from 'tap';
import { EVENT_PERMISSIONS, grantPermissions, mayReceiveEvent } from '../../permissions/http/event-permissions';
import type { PermissionGrant } from '../../permissions/gate/types';

const PEER_A = 'a'.repeat(51) + 'q';
const PEER_B = 'b'.repeat(51) + 'q';

/** A grant table as the grant store answers it: `<plugin> <operation>` -> grant. */
function permissionsOf(grants: Record<string, { state: PermissionGrant['state']; scopes?: string[] }>) {
  return grantPermissions({
    get: (plugin, permission) => {
      const grant = grants[`${plugin} ${permission.replace(/^ext:p2p-comm:/, '')}`];
      return grant === undefined ? undefined : { permission, state: grant.state, approvedScopes: grant.scopes ?? [], deniedScopes: [] };
    },
  });
}

const event = (type: string, peer?: string) => ({ type, ...(peer === undefined ? {} : { subject: peer }), data: peer === undefined ? {} : { peer } });
const sees = (grants: Parameters<typeof permissionsOf>[0], type: string, peer?: string) => mayReceiveEvent(permissionsOf(grants), 'p2p-comm', 'agent', event(type, peer));

t.test('every event type the extension publishes has a rule', async (t) => {
  t.same(
    [...EVENT_PERMISSIONS.keys()].sort(),
    [
      'p2p.a2a.answer',
      'p2p.a2a.failed',
      'p2p.a2a.request',
      'p2p.file.failed',
      'p2p.file.offered',
      'p2p.file.progress',
      'p2p.file.received',
      'p2p.group.changed',
      'p2p.group.invited',
      'p2p.group.left',
      'p2p.group.message',
      'p2p.identity.rotated',
      'p2p.message.delivered',
      'p2p.message.expired',
      'p2p.message.failed',
      'p2p.message.received',
      'p2p.message.rejected',
      'p2p.node.started',
      'p2p.peer.card',
      'p2p.peer.connected',
      'p2p.peer.disconnected',
      'p2p.peer.key_mismatch',
      'p2p.peer.key_rotated',
      'p2p.peer.misbehaving',
      'p2p.peer.paired',
      'p2p.peer.request',
      'p2p.peer.revoked',
      'p2p.peer.revoked_by_peer',
    ],
  );
  for (const type of EVENT_PERMISSIONS.keys()) t.notOk(sees({}, type, PEER_A), `${type}: nothing without a permission`);
});

t.test('a plugin holding only status sees no pairing request and no peer or message event', async (t) => {
  const grants = { 'agent status': { state: 'active' as const } };
  t.ok(sees(grants, 'p2p.node.started'));
  for (const type of EVENT_PERMISSIONS.keys()) {
    if (type !== 'p2p.node.started' && type !== 'p2p.identity.rotated') t.notOk(sees(grants, type, PEER_A), type);
  }
});

t.test('received messages: receive active and the peer approved for receive', async (t) => {
  const grants = { 'agent receive': { state: 'active' as const, scopes: [PEER_A] } };
  t.ok(sees(grants, 'p2p.message.received', PEER_A));
  t.notOk(sees(grants, 'p2p.message.received', PEER_B), 'not from another peer');
  t.notOk(sees({ 'agent receive': { state: 'deferred', scopes: [PEER_A] } }, 'p2p.message.received', PEER_A), 'not while deferred');
  t.notOk(sees({ 'agent receive': { state: 'revoked', scopes: [PEER_A] } }, 'p2p.message.received', PEER_A), 'not once revoked');
  t.notOk(sees({ 'agent send': { state: 'active', scopes: [PEER_A] } }, 'p2p.message.received', PEER_A), 'send is not receive');
});

t.test('sent-message events: send or message_status active, and the peer approved for send', async (t) => {
  for (const type of ['p2p.message.delivered', 'p2p.message.expired', 'p2p.message.failed', 'p2p.message.rejected']) {
    t.ok(sees({ 'agent send': { state: 'active', scopes: [PEER_A] } }, type, PEER_A), type);
    t.ok(sees({ 'agent send': { state: 'revoked', scopes: [PEER_A] }, 'agent message_status': { state: 'active' } }, type, PEER_A), `${type} with message_status`);
    t.notOk(sees({ 'agent send': { state: 'active', scopes: [PEER_A] } }, type, PEER_B), `${type}: not of another peer`);
    t.notOk(sees({ 'agent message_status': { state: 'active' } }, type, PEER_A), `${type}: message_status alone approves no peer`);
  }
});

t.test('A2A events: calling ones as sending (send, a2a_send or a2a_task, the peer approved for send); serving ones as receiving', async (t) => {
  for (const type of ['p2p.a2a.answer', 'p2p.a2a.failed']) {
    for (const operation of ['send', 'a2a_send', 'a2a_task']) {
      t.ok(sees({ [`agent ${operation}`]: { state: 'active' }, 'agent send': { state: operation === 'send' ? 'active' : 'revoked', scopes: [PEER_A] } }, type, PEER_A), `${type} with ${operation}`);
    }
    t.notOk(sees({ 'agent a2a_task': { state: 'active', scopes: [PEER_A] } }, type, PEER_A), `${type}: a2a_task alone approves no peer`);
    t.notOk(sees({ 'agent send': { state: 'active', scopes: [PEER_A] } }, type, PEER_B), `${type}: not of another peer`);
    t.notOk(sees({ 'agent receive': { state: 'active', scopes: [PEER_A] } }, type, PEER_A), `${type}: receive is not send`);
  }
  t.ok(sees({ 'agent receive': { state: 'active', scopes: [PEER_A] } }, 'p2p.a2a.request', PEER_A));
  t.ok(sees({ 'agent a2a_serve': { state: 'active' }, 'agent receive': { state: 'revoked', scopes: [PEER_A] } }, 'p2p.a2a.request', PEER_A), 'with a2a_serve');
  t.notOk(sees({ 'agent receive': { state: 'active', scopes: [PEER_A] } }, 'p2p.a2a.request', PEER_B), 'not from another peer');
  t.notOk(sees({ 'agent send': { state: 'active', scopes: [PEER_A] } }, 'p2p.a2a.request', PEER_A), 'send is not receive');
});

t.test('a rejected incoming message concerns receiving; a rejected outgoing one, sending', async (t) => {
  const rejected = (side: string) => ({ type: 'p2p.message.rejected', subject: PEER_A, data: { peer: PEER_A, side } });
  const receiver = permissionsOf({ 'agent receive': { state: 'active', scopes: [PEER_A] } });
  const sender = permissionsOf({ 'agent send': { state: 'active', scopes: [PEER_A] } });
  t.ok(mayReceiveEvent(receiver, 'p2p-comm', 'agent', rejected('local')));
  t.notOk(mayReceiveEvent(sender, 'p2p-comm', 'agent', rejected('local')), 'a sender does not learn about incoming messages');
  t.ok(mayReceiveEvent(sender, 'p2p-comm', 'agent', rejected('remote')));
  t.notOk(mayReceiveEvent(receiver, 'p2p-comm', 'agent', rejected('remote')));
});

t.test('pairing requests: requests or accept active; peer state: peers active', async (t) => {
  t.ok(sees({ 'agent requests': { state: 'active' } }, 'p2p.peer.request', PEER_A));
  t.ok(sees({ 'agent accept': { state: 'active' } }, 'p2p.peer.request', PEER_A));
  t.notOk(sees({ 'agent peers': { state: 'active' } }, 'p2p.peer.request', PEER_A));
  for (const type of ['p2p.peer.paired', 'p2p.peer.connected', 'p2p.peer.disconnected', 'p2p.peer.key_mismatch', 'p2p.peer.revoked', 'p2p.peer.revoked_by_peer', 'p2p.peer.misbehaving']) {
    t.ok(sees({ 'agent peers': { state: 'active' } }, type, PEER_B), type);
    t.notOk(sees({ 'agent requests': { state: 'active' } }, type, PEER_B), type);
  }
});

t.test('unknown types go to nobody, whatever the plugin holds', async (t) => {
  const everything = Object.fromEntries(
    ['status', 'identity', 'receive', 'send', 'message_status', 'requests', 'accept', 'peers'].map((operation) => [`agent ${operation}`, { state: 'active' as const, scopes: [PEER_A] }]),
  );
  for (const type of ['p2p.peer.teleported', 'constructor', '__proto__', 'toString', '']) t.notOk(sees(everything, type, PEER_A), JSON.stringify(type));
});

t.test("the event's peer: data.peer, else the subject, never two that disagree", async (t) => {
  const permissions = permissionsOf({ 'agent receive': { state: 'active', scopes: [PEER_A] } });
  const check = (subject: string | undefined, data: unknown) =>
    mayReceiveEvent(permissions, 'p2p-comm', 'agent', { type: 'p2p.message.received', ...(subject === undefined ? {} : { subject }), data });
  t.ok(check(PEER_A, { peer: PEER_A }));
  t.ok(check(undefined, { peer: PEER_A }));
  t.ok(check(PEER_A, { message_id: 'm' }));
  t.notOk(check(PEER_A, { peer: PEER_B }));
  t.notOk(check(PEER_B, { peer: PEER_A }));
  t.notOk(check(undefined, { peer: 7 }));
  t.notOk(check(undefined, null));
});

t.test('file events: files or accept_file active, and the peer approved for files', async (t) => {
  const types = ['p2p.file.offered', 'p2p.file.progress', 'p2p.file.received', 'p2p.file.failed'];
  for (const type of types) {
    t.ok(sees({ 'agent files': { state: 'active', scopes: [PEER_A] } }, type, PEER_A), `${type}: a plugin listing the peer's files`);
    t.ok(sees({ 'agent accept_file': { state: 'active' }, 'agent files': { state: 'deferred', scopes: [PEER_A] } }, type, PEER_A), `${type}: a plugin that may accept them`);
    t.notOk(sees({ 'agent files': { state: 'active', scopes: [PEER_A] } }, type, PEER_B), `${type}: not about another peer`);
    t.notOk(sees({ 'agent accept_file': { state: 'active' } }, type, PEER_A), `${type}: not without the peer approved for files`);
    t.notOk(sees({ 'agent send': { state: 'active', scopes: [PEER_A] }, 'agent receive': { state: 'active', scopes: [PEER_A] } }, type, PEER_A), `${type}: messaging grants are not file grants`);
  }
});

t.test('key rotation: this node’s own to identity or status; a peer’s as its peer state, to peers', async (t) => {
  for (const permission of ['identity', 'status']) t.ok(sees({ [`agent ${permission}`]: { state: 'active' } }, 'p2p.identity.rotated'), permission);
  t.notOk(sees({ 'agent peers': { state: 'active' } }, 'p2p.identity.rotated'));
  t.notOk(sees({ 'agent identity': { state: 'deferred' } }, 'p2p.identity.rotated'), 'a permission not active');
  t.ok(sees({ 'agent peers': { state: 'active' } }, 'p2p.peer.key_rotated', PEER_A));
  t.notOk(sees({ 'agent identity': { state: 'active' }, 'agent send': { state: 'active', scopes: [PEER_A] } }, 'p2p.peer.key_rotated', PEER_A));
});

const GROUP_A = `grp-${'a'.repeat(32)}`;
const GROUP_B = `grp-${'b'.repeat(32)}`;
const groupEvent = (type: string, group: string, data: Record<string, unknown> = {}) => ({ type, subject: group, data: { group, ...data } });
const seesGroup = (grants: Parameters<typeof permissionsOf>[0], type: string, group: string, data: Record<string, unknown> = {}) =>
  mayReceiveEvent(permissionsOf(grants), 'p2p-comm', 'agent', groupEvent(type, group, data));

t.test("a group's messages and member changes: group_receive active and approved for that group, without any peer scope", async (t) => {
  for (const type of ['p2p.group.message', 'p2p.group.changed']) {
    const reader = { 'agent group_receive': { state: 'active' as const, scopes: [GROUP_A] } };
    // The author is a member this plugin has no peer scope for: the group scope stands in for it.
    t.ok(seesGroup(reader, type, GROUP_A, { author: PEER_A, cursor: 3 }), `${type}: the group it may read`);
    t.notOk(seesGroup(reader, type, GROUP_B, { author: PEER_A }), `${type}: not of another group`);
    t.notOk(seesGroup({ 'agent group_receive': { state: 'deferred', scopes: [GROUP_A] } }, type, GROUP_A), `${type}: not while deferred`);
    t.notOk(seesGroup({ 'agent group_receive': { state: 'revoked', scopes: [GROUP_A] } }, type, GROUP_A), `${type}: not once revoked`);
    t.notOk(seesGroup({ 'agent group_send': { state: 'active', scopes: [GROUP_A] }, 'agent groups': { state: 'active' } }, type, GROUP_A), `${type}: sending or listing is not reading`);
    t.notOk(seesGroup({ 'agent receive': { state: 'active', scopes: [PEER_A] } }, type, GROUP_A, { author: PEER_A }), `${type}: a peer scope is not a group scope`);
    t.notOk(seesGroup({ 'agent group_receive': { state: 'active', scopes: [PEER_A] } }, type, GROUP_A, { author: PEER_A }), `${type}: a peer id approved is no group`);
    // The group the event is about must be one: a subject naming another group, or none at all, shows it to nobody.
    t.notOk(mayReceiveEvent(permissionsOf(reader), 'p2p-comm', 'agent', { type, subject: GROUP_B, data: { group: GROUP_A } }), `${type}: subject and group disagree`);
    t.notOk(mayReceiveEvent(permissionsOf(reader), 'p2p-comm', 'agent', { type, subject: GROUP_A, data: {} }), `${type}: no group in the data`);
    t.ok(mayReceiveEvent(permissionsOf(reader), 'p2p-comm', 'agent', { type, data: { group: GROUP_A } }), `${type}: the group alone, without a subject`);
  }
});

t.test('group invitations and this node leaving a group: to a plugin with groups active', async (t) => {
  for (const type of ['p2p.group.invited', 'p2p.group.left']) {
    t.ok(seesGroup({ 'agent groups': { state: 'active' } }, type, GROUP_A, { creator: PEER_A }), `${type}: a plugin listing the groups`);
    t.notOk(seesGroup({ 'agent groups': { state: 'deferred' } }, type, GROUP_A), `${type}: not while deferred`);
    t.notOk(seesGroup({ 'agent group_receive': { state: 'active', scopes: [GROUP_A] }, 'agent peers': { state: 'active' } }, type, GROUP_A), `${type}: reading a group or listing peers is not listing groups`);
  }
});
