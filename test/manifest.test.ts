import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { manifest } from '../extension/common/manifest';
import { DEFAULT_PEER_NOTE_LIMITS, PEER_NOTE_PATTERN } from '../extension/trust/peer-notes';
import { checkManifest } from '../permissions/host/manifest-rules';

const root = join(__dirname, '..');
const raw = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8')) as Record<string, unknown>;

/** DESIGN.md §3: names, risk levels and scope keys are fixed (accept is scoped by the requester's peer id). */
const DESIGN_OPERATIONS: [string, 'low' | 'medium' | 'high', string | undefined][] = [
  ['identity', 'low', undefined],
  ['set_display_name', 'medium', undefined],
  ['pair', 'high', undefined],
  ['requests', 'low', undefined],
  ['accept', 'high', 'peer'],
  ['reject', 'medium', undefined],
  ['peers', 'low', undefined],
  ['revoke', 'high', undefined],
  ['discover', 'low', undefined],
  ['send', 'medium', 'peer'],
  ['receive', 'low', 'peer'],
  ['ack', 'low', 'peer'],
  ['message_status', 'low', undefined],
  ['status', 'low', undefined],
  ['a2a_set_card', 'medium', undefined],
  ['a2a_card', 'low', undefined],
  ['a2a_send', 'medium', 'peer'],
  ['a2a_task', 'low', 'peer'],
  ['a2a_serve', 'low', 'peer'],
  ['a2a_respond', 'medium', 'peer'],
  ['send_file', 'medium', 'peer'],
  ['files', 'low', 'peer'],
  ['accept_file', 'high', 'peer'],
  ['cancel_file', 'medium', 'peer'],
  ['fetch_file', 'low', 'peer'],
  ['rotate_identity', 'high', undefined],
  ['group_create', 'medium', undefined],
  ['group_invite', 'medium', 'group'],
  ['group_accept', 'high', 'group'],
  ['group_leave', 'medium', 'group'],
  ['group_remove', 'medium', 'group'],
  ['groups', 'low', undefined],
  ['group_send', 'medium', 'group'],
  ['group_receive', 'low', 'group'],
];

t.test('passes Nexus validate_metadata', async (t) => {
  t.equal(checkManifest(raw), null);
});

t.test('the rules catch what Nexus refuses', async (t) => {
  const broken = (patch: Record<string, unknown>) => checkManifest({ ...raw, ...patch });
  t.match(broken({ id: 'P2P' }), /id must contain only/);
  t.match(broken({ author: 'x\u202Ey' }), /bidirectional/);
  t.match(broken({ operations: [] }), /at least one operation/);
  t.match(broken({ operations: [{ name: 'a', description: 'd', risk_level: 'High', input_schema: { type: 'object' } }] }), /risk_level/);
  t.match(broken({ operations: [{ name: 'a', description: 'd', risk_level: 'low', input_schema: { type: 'array' } }] }), /"type": "object"/);
  t.match(broken({ operations: [{ name: 'a', description: 'd', risk_level: 'low', input_schema: { type: 'object' }, mcp_expose: 'yes' }] }), /mcp_expose must be true or false/);
  t.match(broken({ operations: [{ name: 'a', description: 'd', risk_level: 'low', input_schema: { type: 'object' }, mcp_description: 1 }] }), /mcp_description must be a string/);
  t.match(broken({ capabilities: [{ type: 'network' }] }), /unknown capability type 'network'/);
  t.match(broken({ resources: [] }), /resources must be an object/);
  t.match(broken({ resources: { peers: { schema: {} } } }), /resource type 'peers' needs a string label/);
  t.match(broken({ resources: { peers: { label: 'Peers' } } }), /needs a schema/);
  t.match(broken({ resources: { peers: { label: 'Peers', schema: {}, list_view: { columns: null } } } }), /list_view\.columns must be a list of strings/);
  t.match(broken({ resources: { peers: { label: 'Peers', schema: {}, capabilities: { create: 'no' } } } }), /capabilities\.create must be true or false/);
  t.equal(broken({ resources: { peers: { label: 'Peers', schema: {}, description: null, list_view: {}, capabilities: {} } } }), null, 'null options and serde defaults pass');
});

t.test('declares exactly the operations of the design, with their risk and scope', async (t) => {
  t.same(
    manifest.operations.map((op) => [op.name, op.risk_level, op.scope_key]),
    DESIGN_OPERATIONS,
  );
});

/**
 * Nexus's MCP gateway (host_api/mcp) checks no input schema and no scope,
 * knows no caller, and asks approval once for medium and high risk, then
 * remembers it: only operations that read, are low risk and have no scope
 * may be tools there (docs/nexus.md).
 */
const NEXUS_MCP_TOOLS = ['identity', 'requests', 'peers', 'discover', 'message_status', 'status'];
const NEVER_ON_NEXUS_MCP = ['send', 'receive', 'ack', 'pair', 'accept', 'reject', 'revoke', 'set_display_name', 'a2a_set_card', 'a2a_send', 'a2a_task', 'a2a_serve', 'a2a_respond', 'send_file', 'accept_file', 'cancel_file', 'group_create', 'group_invite', 'group_accept', 'group_leave', 'group_remove', 'group_send', 'group_receive'];

t.test("Nexus's MCP gateway gets the read-only operations only, each described for a model", async (t) => {
  const exposed = manifest.operations.filter((op) => op.mcp_expose === true);
  t.same(exposed.map((op) => op.name), NEXUS_MCP_TOOLS);
  for (const name of NEVER_ON_NEXUS_MCP) t.notOk(exposed.some((op) => op.name === name), `${name} is not a Nexus MCP tool`);
  for (const op of exposed) {
    t.equal(op.risk_level, 'low', `${op.name}: low risk (the gateway asks no question for it)`);
    t.equal(op.scope_key, undefined, `${op.name}: no scope (the gateway checks none)`);
    t.match(op.mcp_description, /^Read-only\. \S.*\.$/, `${op.name}: says to a model that it only reads`);
  }
  for (const op of manifest.operations.filter((candidate) => candidate.mcp_expose !== true)) {
    t.notOk('mcp_expose' in op || 'mcp_description' in op, `${op.name}: no MCP fields at all`);
  }
});

t.test('version and key are consistent', async (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  t.equal(manifest.version, pkg.version, 'manifest and package.json agree on the version');
  t.equal(Buffer.from(manifest.author_public_key, 'base64').length, 32, 'author_public_key is a base64 Ed25519 key');
  t.same(raw['binaries'], {}, 'local builds declare no binaries');
});

/** Every object schema, however deep, must refuse unknown fields. */
function objectSchemas(schema: unknown, path: string, out: [string, Record<string, unknown>][]): void {
  if (typeof schema !== 'object' || schema === null) return;
  const node = schema as Record<string, unknown>;
  if (node['properties'] !== undefined && Object.keys(node['properties'] as object).length > 0) out.push([path, node]);
  for (const [key, child] of Object.entries(node)) {
    if (Array.isArray(child)) child.forEach((item, i) => objectSchemas(item, `${path}/${key}/${i}`, out));
    else if (key === 'properties') {
      for (const [name, sub] of Object.entries(child as object)) objectSchemas(sub, `${path}/properties/${name}`, out);
    } else objectSchemas(child, `${path}/${key}`, out);
  }
}

t.test('input schemas are strict', async (t) => {
  for (const op of manifest.operations) {
    const schema = op.input_schema;
    t.equal(schema['type'], 'object', `${op.name}: root is an object`);
    const objects: [string, Record<string, unknown>][] = [];
    objectSchemas(schema, op.name, objects);
    const closedAtRoot = schema['additionalProperties'] === false || Array.isArray(schema['oneOf']);
    t.ok(closedAtRoot, `${op.name}: closed at the root`);
    for (const [path, node] of objects) {
      const isConditional = path.includes('/if') || path.includes('/then');
      if (!isConditional) t.equal(node['additionalProperties'], false, `${path}: additionalProperties false`);
    }
    for (const [name, property] of Object.entries((schema['properties'] ?? {}) as Record<string, Record<string, unknown>>)) {
      if (property['type'] === 'string') {
        t.ok(typeof property['maxLength'] === 'number' || Array.isArray(property['enum']), `${op.name}.${name}: string length bounded`);
      }
    }
    if (op.scope_key !== undefined) {
      const required = (schema['required'] ?? []) as string[];
      t.ok(required.includes(op.scope_key), `${op.name}: scope field "${op.scope_key}" is required (else the host skips the scope check)`);
      const scope = (schema['properties'] as Record<string, Record<string, unknown>>)[op.scope_key];
      t.equal(scope?.['type'], 'string', `${op.name}: scope field is a string`);
      t.ok(typeof scope?.['pattern'] === 'string', `${op.name}: scope field has a canonical pattern`);
      t.ok(typeof op.scope_description === 'string' && op.scope_description.length > 0, `${op.name}: scope described`);
    }
  }
});

t.test('descriptions speak to a user in an approval dialog', async (t) => {
  for (const op of manifest.operations) {
    t.ok(op.description.length >= 40 && op.description.length <= 300, `${op.name}: description is a sentence`);
    t.match(op.description, /^[A-Z].*\.$/, `${op.name}: a full sentence`);
  }
});

t.test('capabilities declare network, mDNS and files', async (t) => {
  const capabilities = raw['capabilities'] as Record<string, unknown>[];
  const names = capabilities.map((c) => (c['type'] === 'custom' ? c['name'] : c['type']));
  t.same(names, ['network_listen', 'network_connect', 'mdns', 'file_read', 'file_write']);
});

type SchemaProperty = Record<string, unknown> & { 'x-resource-role'?: string; 'x-display'?: Record<string, unknown> };

function propertiesOf(type: string): Record<string, SchemaProperty> {
  return (manifest.resources[type]?.schema['properties'] ?? {}) as Record<string, SchemaProperty>;
}

t.test('resources: peers and requests, shaped for Nexus’s resource UI', async (t) => {
  t.same(Object.keys(manifest.resources), ['peers', 'requests']);
  t.same(manifest.resources['peers']?.capabilities, { create: true, update: true, delete: true }, 'pair by link, a note, revoke');
  // Nexus turns every capability on unless it is false: requests are never created or deleted there.
  t.same(manifest.resources['requests']?.capabilities, { create: false, update: true, delete: false }, 'a decision is the only change');
  for (const [type, definition] of Object.entries(manifest.resources)) {
    const properties = propertiesOf(type);
    t.equal(properties['id']?.['x-resource-role'], 'id', `${type}: Nexus addresses a row by its id`);
    for (const [name, property] of Object.entries(properties)) {
      t.ok(['id', 'editable', 'readonly'].includes(property['x-resource-role'] ?? ''), `${type}.${name} has a role`);
      t.type(property['description'], 'string', `${type}.${name} says what it is`);
    }
    for (const column of [...(definition.list_view?.columns ?? []), definition.list_view?.sort_by]) {
      t.ok(column !== undefined && column in properties, `${type}: column ${String(column)} is a property`);
    }
    t.ok(definition.description !== undefined && definition.description.length >= 40, `${type}: described`);
  }
  t.same(Object.keys(propertiesOf('peers')).filter((name) => propertiesOf('peers')[name]?.['x-resource-role'] === 'editable'), ['link', 'note']);
  t.same(manifest.resources['peers']?.schema['required'], ['link'], 'a new peer needs its link');
  t.equal(propertiesOf('peers')['note']?.['pattern'], PEER_NOTE_PATTERN, 'a note is checked as the notes file checks it');
  t.equal(propertiesOf('peers')['note']?.['maxLength'], DEFAULT_PEER_NOTE_LIMITS.maxNoteLength);
  t.same(Object.keys(propertiesOf('requests')).filter((name) => propertiesOf('requests')[name]?.['x-resource-role'] === 'editable'), ['decision']);
  t.same(propertiesOf('requests')['decision']?.['enum'], ['accept', 'reject']);
});

t.test('resources: a name a peer chose is marked as its own claim, and the fingerprint is beside it', async (t) => {
  for (const type of ['peers', 'requests']) {
    const properties = propertiesOf(type);
    t.notOk('display_name' in properties, `${type}: no unmarked name`);
    t.match(properties['self_chosen_name']?.['x-display']?.['label'], /they chose.*compare the fingerprint/);
    const columns = manifest.resources[type]?.list_view?.columns ?? [];
    t.ok(columns.includes('self_chosen_name') && columns.includes('fingerprint'), `${type}: the list shows both`);
  }
  t.match(propertiesOf('requests')['decision']?.['x-display']?.['label'], /fingerprint/, 'the decision asks to compare the fingerprint');
  t.match(propertiesOf('peers')['link']?.['x-display']?.['label'], /fingerprint/, 'adding a peer asks to compare the fingerprint');
});

t.test('resources: the link a peer is added with is checked as pair checks it', async (t) => {
  const pair = manifest.operations.find((op) => op.name === 'pair')?.input_schema as { oneOf: { properties: Record<string, Record<string, unknown>> }[] };
  const { description: _d, 'x-resource-role': _r, 'x-display': _x, ...link } = propertiesOf('peers')['link'] ?? {};
  const { description: _pd, ...pairLink } = pair.oneOf[0]?.properties['link'] ?? {};
  t.same(link, pairLink);
});
