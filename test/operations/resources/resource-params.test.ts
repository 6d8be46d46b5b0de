import t from 'tap';
import { P2pError } from '../../../extension/common/errors';
import { manifest } from '../../../extension/common/manifest';
import { ResourceParams } from '../../../extension/operations/resources/resource-params';
import { peerResource } from '../../../extension/operations/resources/peer-resource';
import { ResourceRegistry, RESOURCE_TYPES } from '../../../extension/operations/resources/resource-registry';

const params = new ResourceParams(manifest.resources, { maxPageSize: 50 });
const PEER = 'a'.repeat(51) + 'q';
const REQUEST = '0f'.repeat(16);

function refusal(verb: Parameters<ResourceParams['parse']>[0], input: unknown): { name: string; message: string } {
  try {
    params.parse(verb, input);
  } catch (error) {
    t.ok(error instanceof P2pError);
    return { name: (error as P2pError).errorName, message: (error as Error).message };
  }
  throw new Error(`${verb} ${JSON.stringify(input)} was accepted`);
}

t.test('list: paging and sorting as Nexus sends them, defaults from the manifest’s list_view', async (t) => {
  t.same(params.parse('list', { resource_type: 'peers' }), {
    verb: 'list',
    type: 'peers',
    list: { page: 1, pageSize: null, sortBy: 'self_chosen_name', sortOrder: 'asc' },
  });
  t.same(params.parse('list', { resource_type: 'requests' }), {
    verb: 'list',
    type: 'requests',
    list: { page: 1, pageSize: null, sortBy: 'created_at', sortOrder: 'desc' },
  });
  t.same(params.parse('list', { resource_type: 'peers', page: 3, page_size: 50, sort_by: 'last_seen', sort_order: 'desc' }), {
    verb: 'list',
    type: 'peers',
    list: { page: 3, pageSize: 50, sortBy: 'last_seen', sortOrder: 'desc' },
  });
  t.match(refusal('list', { resource_type: 'peers', page: 0 }), { name: 'INVALID_PARAMS', message: /params\.page must be >= 1/ });
  t.match(refusal('list', { resource_type: 'peers', page: 1.5 }), { message: /params\.page must be integer/ });
  t.match(refusal('list', { resource_type: 'peers', page_size: 51 }), { message: /params\.page_size must be <= 50/ });
  t.match(refusal('list', { resource_type: 'peers', sort_order: 'up' }), { message: /params\.sort_order must be one of "asc", "desc"/ });
  t.match(refusal('list', { resource_type: 'peers', sort_by: 'capabilities' }), { message: /params\.sort_by must be one of .*"self_chosen_name"/ }, 'an object column does not sort');
  t.match(refusal('list', { resource_type: 'peers', sort_by: 'decision' }), { message: /params\.sort_by must be one of/ }, 'a column of another type');
});

t.test('resource_type must name a declared type', async (t) => {
  t.match(refusal('get', { resource_type: 'groups', id: PEER }), {
    name: 'INVALID_PARAMS',
    message: 'resources.get: unknown resource_type "groups"; p2p-comm serves "peers", "requests"',
  });
  t.match(refusal('get', { id: PEER }), { message: /unknown resource_type; p2p-comm serves/ });
  t.match(refusal('get', { resource_type: 'constructor', id: PEER }), { message: /unknown resource_type "constructor"/ }, 'not an Object key');
  t.match(refusal('list', null), { name: 'INVALID_PARAMS', message: 'resources.list params must be an object' });
  t.match(refusal('list', [1]), { message: 'resources.list params must be an object' });
});

t.test('ids are checked against the id property of their type', async (t) => {
  t.same(params.parse('get', { resource_type: 'peers', id: PEER }), { verb: 'get', type: 'peers', id: PEER });
  t.same(params.parse('delete', { resource_type: 'peers', id: PEER }), { verb: 'delete', type: 'peers', id: PEER });
  t.match(refusal('get', { resource_type: 'peers', id: REQUEST }), { name: 'INVALID_PARAMS', message: /params\.id must NOT have fewer than 52 characters/ });
  t.match(refusal('get', { resource_type: 'requests', id: PEER }), { message: /params\.id must NOT have more than 32 characters/ });
  t.match(refusal('get', { resource_type: 'requests', id: 'G'.repeat(32) }), { message: /params\.id is not in the expected format/ });
  t.match(refusal('delete', { resource_type: 'peers' }), { message: /params is missing the required field "id"/ });
});

t.test('create takes only what the person types, checked as pair checks a link', async (t) => {
  t.same(params.parse('create', { resource_type: 'peers', data: { link: 'p2p-comm://abc?x=1' } }), {
    verb: 'create',
    type: 'peers',
    data: { link: 'p2p-comm://abc?x=1' },
  });
  t.match(refusal('create', { resource_type: 'peers', data: {} }), { name: 'INVALID_INPUT', message: /params\.data is missing the required field "link"/ });
  t.match(refusal('create', { resource_type: 'peers', data: { link: 'https://example.org/x' } }), { name: 'INVALID_INPUT', message: /^resources\.create: "Pairing link \(then compare the fingerprint with theirs\)" \(params\.data\.link\) is not in the expected format/ }, 'a row field is named by its label on the form');
  t.match(refusal('create', { resource_type: 'peers', data: { link: 'p2p-comm://abc', state: 'trusted' } }), { message: /params\.data has an unexpected field "state"/ }, 'no readonly field on a new row');
  t.match(refusal('create', { resource_type: 'peers', data: 'p2p-comm://abc' }), { message: /params\.data must be object/ });
  t.match(refusal('create', { resource_type: 'peers', data: { link: 'p2p-comm://abc\ud800' } }), { name: 'INVALID_INPUT' });
});

t.test('update takes the row back with the decision, as Nexus’s form sends it', async (t) => {
  const row = {
    id: REQUEST,
    direction: 'incoming',
    self_chosen_name: 'Alice',
    fingerprint: '0a:'.repeat(15) + '0a',
    peer: PEER,
    safety_number: Array(14).fill('01234').join(' '),
    address: '127.0.0.1:7400',
    state: 'waiting_for_you',
    created_at: '2026-11-30T15:00:00.000Z',
    expires_at: '2026-12-07T15:00:00.000Z',
    changes_since_arrival: null,
    attempts: null,
    last_error: null,
  };
  t.same(params.parse('update', { resource_type: 'requests', id: REQUEST, data: { ...row, decision: 'accept' } }).verb, 'update');
  t.same(params.parse('update', { resource_type: 'requests', id: REQUEST, data: { decision: 'reject' } }), {
    verb: 'update',
    type: 'requests',
    id: REQUEST,
    data: { decision: 'reject' },
  });
  t.same(params.parse('update', { resource_type: 'requests', id: REQUEST, data: row }).verb, 'update', 'what an update needs is its handler’s to say');
  t.match(refusal('update', { resource_type: 'requests', id: REQUEST, data: { decision: 'maybe' } }), { message: /"Decision \(accept only if the fingerprint matches theirs\)" \(params\.data\.decision\) must be one of "accept", "reject"/ });
  t.match(refusal('update', { resource_type: 'requests', id: REQUEST, data: { decision: 'accept', note: 'x' } }), { message: /unexpected field "note"/ });
  t.match(refusal('update', { resource_type: 'requests', id: REQUEST, data: { ...row, decision: 'accept', fingerprint: 'AB' } }), { message: /params\.data\.fingerprint\) is not in the expected format/ }, 'echoed fields must be what a row holds');
});

t.test('a peer is updated with its note only; a note is plain text', async (t) => {
  t.same(params.parse('update', { resource_type: 'peers', id: PEER, data: { id: PEER, note: 'Alice from the bakery', state: 'trusted' } }).verb, 'update');
  t.same(params.parse('update', { resource_type: 'peers', id: PEER, data: { note: null } }).verb, 'update', 'null clears it');
  t.match(refusal('update', { resource_type: 'peers', id: PEER, data: { note: 'x'.repeat(201) } }), { name: 'INVALID_INPUT', message: /^resources\.update: "Your note \(kept on this machine only\)" \(params\.data\.note\) must NOT have more than 200 characters$/ });
  t.match(refusal('update', { resource_type: 'peers', id: PEER, data: { note: 'Alice\u202e' } }), { message: /params\.data\.note\) is not in the expected format/ });
  t.match(refusal('update', { resource_type: 'peers', id: PEER, data: { note: 'a\nb' } }), { message: /params\.data\.note\) is not in the expected format/ });
});

t.test('the registry refuses a manifest and handlers that disagree', async (t) => {
  t.throws(() => new ResourceRegistry({ ...manifest.resources, groups: { label: 'Groups', schema: { properties: { id: { type: 'string', 'x-resource-role': 'id' } } } } }), /declares resource type "groups" but no handler/);
  t.throws(() => new ResourceRegistry({ peers: manifest.resources['peers']! }), /resource handlers without a manifest declaration: requests/);
  t.throws(
    () => new ResourceRegistry({ ...manifest.resources, requests: { ...manifest.resources['requests']!, capabilities: { create: true, update: true, delete: false } } }),
    /resource type "requests": the manifest offers create, its handler does not agree/,
  );
  const { delete: _revoke, ...peersWithoutDelete } = peerResource;
  t.throws(() => new ResourceRegistry(manifest.resources, { ...RESOURCE_TYPES, peers: peersWithoutDelete }), /offers delete/);
  t.throws(() => new ResourceParams({ x: { label: 'X', schema: { properties: { key: { type: 'string' } } } } }), /must declare an "id" property/);
});
