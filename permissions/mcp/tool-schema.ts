import type { OperationDefinition } from '../../extension/common/manifest';

/**
 * An operation's input schema as an MCP tool offers it, derived from
 * manifest.json (the one source of every input schema). Claude's API
 * refuses a tool whose schema has `oneOf`, `anyOf` or `allOf` at its root,
 * and Claude Code drops one with a root `if`/`then`: so a root choice
 * between alternatives becomes one object holding the properties of every
 * alternative, and root conditions are left out. Nothing is lost: every
 * call still passes the gate, which checks the input against the
 * operation's full schema, and the extension checks it again.
 */
const ROOT_ONLY_KEYWORDS = ['oneOf', 'anyOf', 'allOf', 'not', 'if', 'then', 'else'] as const;

export function toolInputSchema(definition: OperationDefinition): Record<string, unknown> {
  const schema = definition.input_schema;
  const kept = Object.fromEntries(Object.entries(schema).filter(([key]) => !(ROOT_ONLY_KEYWORDS as readonly string[]).includes(key)));
  const alternatives = [schema['oneOf'], schema['anyOf']].flatMap((list) => (Array.isArray(list) ? (list as Record<string, unknown>[]) : []));
  if (alternatives.length === 0) return kept;
  const properties = Object.assign({}, kept['properties'], ...alternatives.map((alternative) => alternative['properties'] ?? {})) as Record<string, unknown>;
  return { ...kept, type: 'object', properties, additionalProperties: false };
}

/** One property of an operation's input schema, as the manifest declares it, with the description a tool gives it. */
export function operationProperty(definition: OperationDefinition, name: string, description: string): Record<string, unknown> {
  const property = (definition.input_schema['properties'] as Record<string, Record<string, unknown>> | undefined)?.[name];
  if (property === undefined) throw new Error(`operation ${definition.name} declares no input property ${name}`);
  return { ...property, description };
}
