/**
 * The checks Nexus applies to an extension manifest before installing it
 * (src-tauri/src/extensions/manifest.rs): `checkManifest` is its
 * `validate_metadata` plus what its serde types accept, `checkInstallableManifest`
 * its `validate`, which "Install from File" and the marketplace run. Each
 * returns the first problem in Nexus's wording, or null.
 */

const ID_CHARS = /^[a-z0-9_-]+$/;
const OPERATION_NAME_CHARS = /^[a-z0-9_]+$/;
const BIDI_OVERRIDES = /[\u202A-\u202E\u2066-\u2069]/;
const RISK_LEVELS = new Set(['low', 'medium', 'high']);

/**
 * The platforms Nexus looks up in `binaries` (`current_platform`). Nexus
 * accepts any key there, so a misspelt one is never reported: it just never
 * installs anywhere.
 */
export const NEXUS_TARGETS = [
  'x86_64-unknown-linux-gnu',
  'aarch64-unknown-linux-gnu',
  'x86_64-apple-darwin',
  'aarch64-apple-darwin',
  'x86_64-pc-windows-msvc',
  'aarch64-pc-windows-msvc',
] as const;

export type NexusTarget = (typeof NEXUS_TARGETS)[number];

/** One platform's entry in `binaries` (Nexus's `BinaryEntry`). */
export interface BinaryEntry {
  url: string;
  /** Base64 Ed25519 signature by `author_public_key` over the raw 32-byte SHA-256 of the file. */
  signature: string;
  /** Lowercase hex SHA-256 of the file. */
  sha256: string;
}

const BINARY_ENTRY_FIELDS = ['url', 'signature', 'sha256'] as const;

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
  const binariesProblem = checkBinariesShape(binaries);
  if (binariesProblem !== null) return binariesProblem;
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
    if ('mcp_expose' in operation && typeof operation['mcp_expose'] !== 'boolean') return `operation '${name}' mcp_expose must be true or false`;
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

  const dependenciesProblem = checkExtensionDependencies(manifest['extension_dependencies'], id);
  if (dependenciesProblem !== null) return dependenciesProblem;
  const resourcesProblem = checkResources(manifest['resources']);
  if (resourcesProblem !== null) return resourcesProblem;

  for (const field of [display_name, description, author]) {
    if (BIDI_OVERRIDES.test(field)) return 'display fields must not contain Unicode bidirectional override characters';
  }
  return null;
}

/**
 * Nexus's `validate`: the metadata, then at least one platform in
 * `binaries`, each with a non-empty url, signature and sha256. It checks
 * nothing of their form: a malformed signature or digest is refused only
 * when a download is verified (binary-signature.ts), and "Install from
 * File" verifies none.
 */
export function checkInstallableManifest(manifest: Record<string, unknown>): string | null {
  const metadataProblem = checkManifest(manifest);
  if (metadataProblem !== null) return metadataProblem;
  const binaries = manifest['binaries'] as Record<string, BinaryEntry>;
  const platforms = Object.keys(binaries);
  if (platforms.length === 0) return 'at least one binary platform entry is required';
  for (const platform of platforms) {
    const entry = binaries[platform] as BinaryEntry;
    for (const field of BINARY_ENTRY_FIELDS) {
      if (entry[field].length === 0) return `binary ${field} is empty for platform '${platform}'`;
    }
  }
  return null;
}

/** What Nexus's serde types accept for `binaries`: an object of `{url, signature, sha256}` strings. */
function checkBinariesShape(binaries: unknown): string | null {
  if (!isPlainObject(binaries)) return 'binaries must be an object';
  for (const [platform, entry] of Object.entries(binaries)) {
    const complete = isPlainObject(entry) && BINARY_ENTRY_FIELDS.every((field) => typeof entry[field] === 'string');
    if (!complete) return `binary entry for platform '${platform}' must have string url, signature and sha256`;
  }
  return null;
}

function checkExtensionDependencies(dependencies: unknown, ownId: string): string | null {
  if (dependencies === undefined) return null;
  if (!Array.isArray(dependencies) || !dependencies.every((dependency) => typeof dependency === 'string')) {
    return 'extension_dependencies must be a list of strings';
  }
  for (const dependency of dependencies as string[]) {
    if (!lengthBetween(dependency, 1, 100)) return `extension_dependencies entry must be 1-100 characters: '${dependency}'`;
    if (!ID_CHARS.test(dependency)) {
      return `extension_dependencies entry must contain only lowercase letters, digits, underscores, and hyphens: '${dependency}'`;
    }
    if (dependency === ownId) return 'extension_dependencies must not include self';
  }
  return null;
}

/**
 * What Nexus's serde types accept for `resources` (`ResourceTypeDef`): an
 * object of types, each with a string `label` and a `schema`; optional
 * strings may be null, but `columns` and the capability flags, which have
 * serde defaults, may only be left out.
 */
function checkResources(resources: unknown): string | null {
  if (resources === undefined) return null;
  if (!isPlainObject(resources)) return 'resources must be an object';
  for (const [name, definition] of Object.entries(resources)) {
    if (!isPlainObject(definition)) return `resource type '${name}' must be an object`;
    if (typeof definition['label'] !== 'string') return `resource type '${name}' needs a string label`;
    if (!('schema' in definition)) return `resource type '${name}' needs a schema`;
    for (const key of ['description', 'icon'] as const) {
      if (!isOptionalString(definition[key])) return `resource type '${name}' ${key} must be a string`;
    }
    const listView = definition['list_view'];
    if (listView !== undefined && listView !== null) {
      if (!isPlainObject(listView)) return `resource type '${name}' list_view must be an object`;
      const columns = listView['columns'];
      if (columns !== undefined && !(Array.isArray(columns) && columns.every((column) => typeof column === 'string'))) {
        return `resource type '${name}' list_view.columns must be a list of strings`;
      }
      if (!isOptionalString(listView['sort_by']) || !isOptionalString(listView['sort_order'])) {
        return `resource type '${name}' list_view sort_by and sort_order must be strings`;
      }
    }
    const capabilities = definition['capabilities'];
    if (capabilities !== undefined && capabilities !== null) {
      if (!isPlainObject(capabilities)) return `resource type '${name}' capabilities must be an object`;
      for (const flag of ['create', 'update', 'delete'] as const) {
        if (capabilities[flag] !== undefined && typeof capabilities[flag] !== 'boolean') {
          return `resource type '${name}' capabilities.${flag} must be true or false`;
        }
      }
    }
  }
  return null;
}

function isOptionalString(value: unknown): boolean {
  return value === undefined || value === null || typeof value === 'string';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
