import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { manifest } from '../extension/common/manifest';
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
  t.match(broken({ capabilities: [{ type: 'network' }] }), /unknown capability type 'network'/);
});

t.test('declares exactly the operations of the design, with their risk and scope', async (t) => {
  t.same(
    manifest.operations.map((op) => [op.name, op.risk_level, op.scope_key]),
    DESIGN_OPERATIONS,
  );
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
