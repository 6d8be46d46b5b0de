import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { P2pError } from '../../extension/common/errors';
import { closedObject, StateFileFormat } from '../../extension/common/json-state-file';
import { declaredPermissions } from '../plugins/plugin-declarations';
import type { PermissionGrant, PermissionName, PermissionState, PluginDeclaration } from './types';

/**
 * What each plugin may call: per plugin, per permission, its state and the
 * scope values approved with "Allow".
 *
 * File `<hostDataDir>/grants.json`, mode 0600, replaced atomically on every
 * change:
 *
 *   {"version": 1,
 *    "plugins": {"<plugin id>": {"ext:<extension>:<operation>":
 *                  {"state": "active" | "deferred" | "revoked", "approved_scopes": ["<value>", ...]}}}}
 *
 * In memory the table is kept in Maps, not plain objects: plugin ids may be
 * "constructor" or "__proto__", which a plain object lookup would resolve to
 * Object.prototype's members.
 */
export const GRANTS_FILE_NAME = 'grants.json';

/** A grant together with the plugin holding it, as `list` returns it. */
export interface PluginGrant extends PermissionGrant {
  plugin: string;
}

interface StoredGrant {
  state: PermissionState;
  approved_scopes: string[];
}

interface GrantsFile {
  version: 1;
  plugins: Record<string, Record<PermissionName, StoredGrant>>;
}

type GrantTable = Map<string, Map<PermissionName, PermissionGrant>>;

const GRANTS_FILE = new StateFileFormat<GrantsFile>({
  name: 'the grant store',
  movingAwayMeans: 'start with every declared permission deferred again (each is then asked for on first use)',
  schema: closedObject({
    version: { const: 1 },
    plugins: {
      type: 'object',
      propertyNames: { pattern: '^[a-z0-9._-]{1,100}$' },
      additionalProperties: {
        type: 'object',
        propertyNames: { pattern: '^ext:[a-z0-9_-]{1,100}:[a-z0-9_]{1,100}$' },
        additionalProperties: closedObject({
          state: { enum: ['active', 'deferred', 'revoked'] },
          approved_scopes: { type: 'array', uniqueItems: true, items: { type: 'string' } },
        }),
      },
    },
  }),
});

export class GrantStore {
  private constructor(
    private readonly path: string,
    private table: GrantTable,
  ) {}

  /** Loads the grants of this host; a missing file means no plugin has been registered yet. */
  static open(hostDataDir: string): GrantStore {
    mkdirSync(hostDataDir, { recursive: true, mode: 0o700 });
    const path = join(hostDataDir, GRANTS_FILE_NAME);
    const file = GRANTS_FILE.load(path);
    return new GrantStore(path, file === undefined ? new Map() : tableFromFile(file));
  }

  /**
   * Adds a deferred grant for each declared permission this plugin does not
   * hold yet. Existing grants keep their state and scopes, and permissions no
   * longer declared are kept too: editing plugin.json must never undo a
   * person's decision (in particular, never lift a revocation).
   */
  register(declaration: PluginDeclaration): void {
    const known = this.table.get(declaration.id);
    const added = declaredPermissions(declaration).filter((permission) => known?.has(permission) !== true);
    if (known !== undefined && added.length === 0) return;
    this.update((table) => {
      const grants = table.get(declaration.id) ?? new Map<PermissionName, PermissionGrant>();
      for (const permission of added) grants.set(permission, { permission, state: 'deferred', approvedScopes: [] });
      table.set(declaration.id, grants);
    });
  }

  get(plugin: string, permission: PermissionName): PermissionGrant | undefined {
    const grant = this.table.get(plugin)?.get(permission);
    return grant === undefined ? undefined : copyGrant(grant);
  }

  /** Every grant of one plugin, or of all plugins, sorted by plugin and permission. */
  list(plugin?: string): PluginGrant[] {
    const plugins = plugin === undefined ? this.plugins() : this.table.has(plugin) ? [plugin] : [];
    return plugins.flatMap((id) =>
      [...(this.table.get(id)?.values() ?? [])]
        .sort((a, b) => compare(a.permission, b.permission))
        .map((grant) => ({ plugin: id, ...copyGrant(grant) })),
    );
  }

  /** Registered plugin ids, sorted. */
  plugins(): string[] {
    return [...this.table.keys()].sort(compare);
  }

  setState(plugin: string, permission: PermissionName, state: PermissionState): void {
    this.requireGrant(plugin, permission);
    this.update((table) => {
      requiredIn(table, plugin, permission).state = state;
    });
  }

  /** Remembers a scope value approved with "Allow"; approving one already approved changes nothing. */
  addScope(plugin: string, permission: PermissionName, value: string): void {
    if (this.requireGrant(plugin, permission).approvedScopes.includes(value)) return;
    this.update((table) => {
      requiredIn(table, plugin, permission).approvedScopes.push(value);
    });
  }

  /** Forgets an approved scope value; false when it was not approved. */
  removeScope(plugin: string, permission: PermissionName, value: string): boolean {
    if (!this.requireGrant(plugin, permission).approvedScopes.includes(value)) return false;
    this.update((table) => {
      const grant = requiredIn(table, plugin, permission);
      grant.approvedScopes = grant.approvedScopes.filter((scope) => scope !== value);
    });
    return true;
  }

  private requireGrant(plugin: string, permission: PermissionName): PermissionGrant {
    return requiredIn(this.table, plugin, permission);
  }

  /**
   * Changes a copy and saves it before adopting it, so that what the gate
   * decides on is always what is on disk, even when the write fails.
   */
  private update(change: (table: GrantTable) => void): void {
    const next = copyTable(this.table);
    change(next);
    GRANTS_FILE.save(this.path, fileFromTable(next));
    this.table = next;
  }
}

function requiredIn(table: GrantTable, plugin: string, permission: PermissionName): PermissionGrant {
  const grant = table.get(plugin)?.get(permission);
  if (grant === undefined) {
    const reason = table.has(plugin)
      ? `plugin '${plugin}' does not declare permission '${permission}'`
      : `plugin '${plugin}' is not registered`;
    throw new P2pError('NOT_FOUND', `no grant to change: ${reason} (register the plugin from its declaration first)`);
  }
  return grant;
}

function copyGrant(grant: PermissionGrant): PermissionGrant {
  return { permission: grant.permission, state: grant.state, approvedScopes: [...grant.approvedScopes] };
}

function copyTable(table: GrantTable): GrantTable {
  return new Map(
    [...table].map(([plugin, grants]) => [
      plugin,
      new Map([...grants].map(([permission, grant]) => [permission, copyGrant(grant)])),
    ]),
  );
}

function tableFromFile(file: GrantsFile): GrantTable {
  return new Map(
    Object.entries(file.plugins).map(([plugin, grants]) => [
      plugin,
      new Map(
        Object.entries(grants).map(([permission, stored]) => [
          permission,
          { permission, state: stored.state, approvedScopes: [...stored.approved_scopes] },
        ]),
      ),
    ]),
  );
}

function fileFromTable(table: GrantTable): GrantsFile {
  // Object.fromEntries defines own properties, so even "__proto__" is written as a plain key.
  return {
    version: 1,
    plugins: Object.fromEntries(
      [...table].map(([plugin, grants]) => [
        plugin,
        Object.fromEntries(
          [...grants].map(([permission, grant]) => [
            permission,
            { state: grant.state, approved_scopes: [...grant.approvedScopes] },
          ]),
        ),
      ]),
    ),
  };
}

/** Code-point order: the same on every machine, unlike localeCompare. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
