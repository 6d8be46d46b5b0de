import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import t, { type Test } from 'tap';
import { manifest } from '../../extension/common/manifest';
import type { RpcResponse } from '../../permissions/host/extension-process';
import { eventually, startNode, type TestNode } from '../helpers/node';

/**
 * Nexus's resource UI calls these as `resources.<verb>` with the params as
 * they are (process.rs), and hands the UI the result's `data` when the
 * result is an OperationResult, the whole result otherwise.
 */
async function attempt(node: TestNode, verb: string, params: Record<string, unknown>): Promise<RpcResponse> {
  return node.extension.call(`resources.${verb}`, params);
}

async function resource(node: TestNode, verb: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await attempt(node, verb, params);
  if (response.error !== undefined) throw new Error(`resources.${verb} failed: ${response.error.code} ${response.error.message}`);
  const result = response.result as Record<string, unknown>;
  return (typeof result['success'] === 'boolean' && 'data' in result ? result['data'] : result) as Record<string, unknown>;
}

async function rows(node: TestNode, type: string, paging: Record<string, unknown> = {}): Promise<Record<string, unknown>[]> {
  return (await resource(node, 'list', { resource_type: type, ...paging }))['items'] as Record<string, unknown>[];
}

/** Every row must be what the manifest tells Nexus a row holds. */
const ajv = new Ajv({ strict: true, allowUnionTypes: true, formats: { 'date-time': /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$/ } });
ajv.addKeyword('x-resource-role');
ajv.addKeyword('x-display');
const rowValidators = Object.fromEntries(
  Object.entries(manifest.resources).map(([type, definition]) => {
    const { required: _forms, ...row } = definition.schema;
    return [type, ajv.compile({ ...row, additionalProperties: false, required: ['id'] })];
  }),
);

function checkRows(t: Test, type: string, list: Record<string, unknown>[]): void {
  for (const row of list) {
    const validate = rowValidators[type]!;
    t.ok(validate(row), `${type} row ${String(row['id'])} matches the manifest: ${ajv.errorsText(validate.errors)}`);
  }
}

t.test('pair by pasting a link, accept after reading the fingerprint, revoke: all through resources.*', async (t) => {
  const [alice, bob] = await Promise.all([startNode(t), startNode(t)]);
  const aliceIdentity = await alice.call('identity');
  const bobIdentity = await bob.call('identity');
  const aliceId = aliceIdentity['peer_id'] as string;
  const bobId = bobIdentity['peer_id'] as string;

  const created = await resource(alice, 'create', { resource_type: 'peers', data: { link: bobIdentity['link'] } });
  t.match(created, { id: bobId, state: 'requested', request_state: 'delivered', fingerprint: bobIdentity['fingerprint'] }, 'the new row shows the request state');
  const alicePeers = await rows(alice, 'peers');
  t.same(alicePeers, [created], 'the list shows the same row');
  checkRows(t, 'peers', alicePeers);
  const outgoing = await rows(alice, 'requests');
  t.match(outgoing, [{ direction: 'outgoing', peer: bobId, state: 'delivered', fingerprint: bobIdentity['fingerprint'] }]);
  checkRows(t, 'requests', outgoing);

  const incoming = await rows(bob, 'requests');
  t.match(incoming, [{ direction: 'incoming', peer: aliceId, state: 'waiting_for_you', fingerprint: aliceIdentity['fingerprint'], self_chosen_name: aliceIdentity['display_name'] }]);
  checkRows(t, 'requests', incoming);
  const request = incoming[0]!;
  t.same(await resource(bob, 'get', { resource_type: 'requests', id: request['id'] }), request);

  const undecided = await attempt(bob, 'update', { resource_type: 'requests', id: request['id'], data: request });
  t.match(undecided.error, { code: -32011, message: /choose a decision, accept or reject, after comparing the fingerprint/ });
  const forged = await attempt(bob, 'update', { resource_type: 'requests', id: request['id'], data: { ...request, fingerprint: bobIdentity['fingerprint'], decision: 'accept' } });
  t.match(forged.error, { code: -32018, message: /^peer_mismatch: the fingerprint sent with this decision is not that of request/ }, 'a decision made over another fingerprint is refused');
  t.same(await rows(bob, 'peers'), [], 'nothing was trusted');

  // Nexus's edit form sends the whole row back with the field the person set.
  const accepted = await resource(bob, 'update', { resource_type: 'requests', id: request['id'], data: { ...request, decision: 'accept' } });
  t.match(accepted, { id: request['id'], decision: 'accept', peer: aliceId, state: 'trusted' });
  t.same(await rows(bob, 'requests'), [], 'answered');
  const paired = await eventually(async () => {
    const row = await resource(alice, 'get', { resource_type: 'peers', id: bobId });
    return row['state'] === 'trusted' && row['online'] === true ? row : undefined;
  }, 'alice to see bob paired and online');
  t.match(paired, { request_state: null, path: 'direct', safety_number: accepted['safety_number'] });
  checkRows(t, 'peers', [paired, ...(await rows(bob, 'peers'))]);

  // Nexus's edit form sends the row back with the note the person typed.
  const noted = await resource(alice, 'update', { resource_type: 'peers', id: bobId, data: { ...paired, note: 'Bob, from the bakery' } });
  t.match(noted, { id: bobId, note: 'Bob, from the bakery', self_chosen_name: paired['self_chosen_name'], state: 'trusted' }, 'only the note changed');
  t.equal((await resource(alice, 'get', { resource_type: 'peers', id: bobId }))['note'], 'Bob, from the bakery');
  const linkOnEdit = await attempt(alice, 'update', { resource_type: 'peers', id: bobId, data: { ...noted, link: bobIdentity['link'] } });
  t.match(linkOnEdit.error, { code: -32011, message: /a pairing link only adds a peer/ });

  const revoked = await resource(alice, 'delete', { resource_type: 'peers', id: bobId });
  t.match(revoked, { id: bobId, state: 'revoked' });
  t.same(await rows(alice, 'peers'), [], 'a revoked peer leaves the list');
  await eventually(async () => (await rows(bob, 'peers'))[0]?.['state'] === 'revoked_by_peer', 'bob to see the revocation');
  const gone = await attempt(alice, 'get', { resource_type: 'peers', id: bobId });
  t.match(gone.error, { code: -32013, message: /^not_found: Peers: nothing with id [a-z2-7]{52}; .*refresh the list/ });

  // The revoke operation (a plugin's) forgets the person's note as deleting the row does.
  await resource(bob, 'update', { resource_type: 'peers', id: aliceId, data: { note: 'Alice, who revoked me' } });
  t.match(readFileSync(join(bob.dataDir, 'peer_notes.json'), 'utf8'), 'Alice, who revoked me');
  await bob.call('revoke', { peer: aliceId });
  t.notMatch(readFileSync(join(bob.dataDir, 'peer_notes.json'), 'utf8'), 'Alice, who revoked me', 'the note went with the pairing');
});

t.test('paging and sorting as Nexus sends them; a request sent is withdrawn by deleting its peer', async (t) => {
  const [bob, alice, carol] = await Promise.all([startNode(t), startNode(t), startNode(t)]);
  const link = (await bob.call('identity'))['link'] as string;
  await resource(alice, 'create', { resource_type: 'peers', data: { link } });
  const requested = await resource(carol, 'create', { resource_type: 'peers', data: { link, note: 'my neighbour' } });
  t.match(requested, { state: 'requested', note: 'my neighbour' }, 'a note may be given when adding');

  const all = await resource(bob, 'list', { resource_type: 'requests', sort_by: 'created_at', sort_order: 'asc' });
  t.match(all, { total: 2, page: 1, page_size: 2 });
  const [first, second] = all['items'] as Record<string, unknown>[];
  const pageOne = await resource(bob, 'list', { resource_type: 'requests', page: 1, page_size: 1, sort_by: 'created_at', sort_order: 'asc' });
  const pageTwo = await resource(bob, 'list', { resource_type: 'requests', page: 2, page_size: 1, sort_by: 'created_at', sort_order: 'asc' });
  t.same([pageOne['items'], pageTwo['items']], [[first], [second]]);
  t.match([pageOne['total'], pageTwo['total']], [2, 2]);
  const reversed = await rows(bob, 'requests', { sort_by: 'created_at', sort_order: 'desc' });
  t.same(reversed, [second, first]);

  const bobId = (await bob.call('identity'))['peer_id'] as string;
  t.match(await resource(carol, 'delete', { resource_type: 'peers', id: bobId }), { id: bobId, state: 'withdrawn' });
  t.same(await rows(carol, 'peers'), []);
  t.same(await rows(carol, 'requests'), []);
});

t.test('what the manifest turns off, unknown verbs and bad params are refused with a reason', async (t) => {
  const node = await startNode(t);
  const refused = async (verb: string, params: Record<string, unknown>) => (await attempt(node, verb, params)).error;
  t.match(await refused('update', { resource_type: 'peers', id: 'a'.repeat(51) + 'q', data: { note: 'x' } }), { code: -32013, message: /no paired or requested peer/ });
  t.match(await refused('create', { resource_type: 'requests', data: {} }), { code: -32012, message: /^not_available: Pairing requests: create is not offered here; .*adding a peer with its pairing link/ });
  t.match(await refused('delete', { resource_type: 'requests', id: '0'.repeat(32) }), { code: -32012, message: /decision "reject"/ });
  t.match(await refused('rename', { resource_type: 'peers' }), { code: -32601, message: /unknown method "resources\.rename"/ });
  t.match(await refused('list', { resource_type: 'files' }), { code: -32602, message: /unknown resource_type "files"; p2p-comm serves "peers", "requests"/ });
  t.match(await refused('list', { resource_type: 'peers', page: 0 }), { code: -32602, message: /params\.page must be >= 1/ });
  t.match(await refused('create', { resource_type: 'peers', data: { link: 'https://example.org/pair' } }), { code: -32011, message: /params\.data\.link\) is not in the expected format/ });
  t.match(await refused('update', { resource_type: 'requests', id: '0'.repeat(32), data: { decision: 'accept' } }), { code: -32013, message: /no pending request/ });
  t.match(await resource(node, 'list', { resource_type: 'peers' }), { items: [], total: 0 }, 'the process still answers');
});
