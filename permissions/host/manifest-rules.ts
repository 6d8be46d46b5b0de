/**
 * The checks Nexus applies to an extension manifest before installing it
 * (src-tauri/src/extensions/manifest.rs `validate_metadata`, plus what its
 * serde types accept). Returns the first problem in Nexus's wording, or null.
 */

const ID_CHARS = /^[a-z0-9_-]+$/;
const OPERATION_NAME_CHARS = /^[a-z0-9_]+$/;
const BIDI_OVERRIDES = /[\u202A-\u202E\u2066-\u2069]/;
const RISK_LEVELS = new Set(['low', 'medium', 'high']);

/** Capability variants of Nexus's tagged enum, with the fields each requires. */
const CAPABILITY_FIELDS: Record<string, string[]> = {
  process_exec: ['scope'],
  file_read: ['scope'],
  file_write: ['scope'],
  network_http: ['scope'],
  system_info: [],
  native_library: ['scope'],
  credential_provider: [],
  custom: ['name', 'description'],
};

function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function lengthBetween(value: unknown, min: number, max: number): value is string {
  return typeof value === 'string' && utf8Length(value) >= min && utf8Length(value) <= max;
}

export function checkManifest(manifest: Record<string, unknown>): string | null {
  const { id, display_name, version, description, author, author_public_key, operations, binaries } = manifest;
  if (!lengthBetween(id, 1, 100)) return 'id must be 1-100 characters';
  if (!ID_CHARS.test(id)) return 'id must contain only lowercase letters, digits, underscores, and hyphens';
  if (!lengthBetween(display_name, 1, 100)) return 'display_name must be 1-100 characters';
  if (!lengthBetween(version, 1, 50)) return 'version must be 1-50 characters';
  if (!lengthBetween(description, 1, 2000)) return 'description must be 1-2000 characters';
  if (!lengthBetween(author, 1, 100)) return 'author must be 1-100 characters';
  if (typeof author_public_key !== 'string' || author_public_key.length === 0) return 'author_public_key is required';
  if (typeof binaries !== 'object' || binaries === null || Array.isArray(binaries)) return 'binaries must be an object';
  if (!Array.isArray(operations) || operations.length === 0) return 'at least one operation is required';

  const seen = new Set<string>();
  for (const operation of operations as Record<string, unknown>[]) {
    const { name, description: opDescription, risk_level, input_schema } = operation;
    if (!lengthBetween(name, 1, 100)) return `operation name must be 1-100 characters: '${String(name)}'`;
    if (!OPERATION_NAME_CHARS.test(name)) {
      return `operation name must contain only lowercase letters, digits, and underscores: '${name}'`;
    }
    if (seen.has(name)) return `duplicate operation name: '${name}'`;
    seen.add(name);
    if (typeof opDescription !== 'string' || opDescription.length === 0) {
      return `operation '${name}' must have a non-empty description`;
    }
    if (utf8Length(opDescription) > 2000) return `operation description too long: '${name}'`;
    if (typeof risk_level !== 'string' || !RISK_LEVELS.has(risk_level)) {
      return `operation '${name}' risk_level must be low, medium or high`;
    }
    const schema = input_schema as Record<string, unknown> | undefined;
    if (typeof schema !== 'object' || schema === null || schema['type'] !== 'object') {
      return `operation '${name}' input_schema must have "type": "object" at root`;
    }
    for (const key of ['scope_key', 'scope_description', 'mcp_description'] as const) {
      if (key in operation && typeof operation[key] !== 'string') return `operation '${name}' ${key} must be a string`;
    }
  }

  const capabilities = manifest['capabilities'];
  if (capabilities !== undefined) {
    if (!Array.isArray(capabilities)) return 'capabilities must be a list';
    for (const capability of capabilities as Record<string, unknown>[]) {
      const fields = CAPABILITY_FIELDS[String(capability['type'])];
      if (fields === undefined) return `unknown capability type '${String(capability['type'])}'`;
      const missing = fields.find((field) => !(field in capability));
      if (missing !== undefined) return `capability '${String(capability['type'])}' needs '${missing}'`;
    }
  }

  for (const field of [display_name, description, author]) {
    if (BIDI_OVERRIDES.test(field)) return 'display fields must not contain Unicode bidirectional override characters';
  }
  return null;
}
