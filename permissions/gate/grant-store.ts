import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { P2pError } from '../../extension/common/errors';
import { closedObject, StateFileFormat } from '../../extension/common/json-state-file';
import { acquireLock } from '../../extension/common/lock-file';
import { fileVersion, type FileVersion } from '../file-version';
import { declaredPermissions, type PermissionGrant, type PermissionName, type PermissionState, type PluginDeclaration } from './types';

/**
 * What each plugin may call: per plugin, per permission, its state, the
 * scope values approved with "Allow" and those refused with "Deny".
 *
 * File `<hostDataDir>/grants.json`, mode 0600, replaced atomically on every
 * change:
 *
 *   {"version": 1,
 *    "plugins": {"<plugin id>": {"ext:<extension>:<operation>":
 *                  {"state": "active" | "deferred" | "revoked", "approved_scopes": ["<value>", ...],
 *                   "denied_scopes": ["<value>", ...]}}}}      // denied_scopes may be absent (older files)
 *
 * The running host and the CLI change the same file. Every change is a
 * read-modify-write under `grants.json.lock`, starting from what is on disk,
 * so neither overwrites the other's change; and every read first checks
 * whether the file changed (one stat), so a change made by the CLI applies
 * to the running host's next decision.
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
  denied_scopes?: string[];
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
          denied_scopes: { type: 'array', uniqueItems: true, items: { type: 'string' } },
        }, ['state', 'approved_scopes']),
      },
    },
  }),
});

/** How long a change waits for another process's change to the same file. */
export const GRANTS_LOCK_WAIT_MS = 2000;

export class GrantStore {
  private readonly lockPath: string;

  private constructor(
    private readonly path: string,
    private table: GrantTable,
    private version: FileVersion,
  ) {
    this.lockPath = `${path}.lock`;
  }

  /** Loads the grants of this host; a missing file means no plugin has been registered yet. */
  static open(hostDataDir: string): GrantStore {
    mkdirSync(hostDataDir, { recursive: true, mode: 0o700 });
    const path = join(hostDataDir, GRANTS_FILE_NAME);
    const version = fileVersion(path);
    return new GrantStore(path, readTable(path), version);
  }

  /**
   * Adds a deferred grant for each declared permission this plugin does not
   * hold yet. Existing grants keep their state and scopes, and permissions no
   * longer declared are kept too: editing plugin.json must never undo a
   * person's decision (in particular, never lift a revocation).
   */
  register(declaration: PluginDeclaration): void {
    const missing = (table: GrantTable): PermissionName[] =>
      declaredPermissions(declaration).filter((permission) => table.get(declaration.id)?.has(permission) !== true);
    const current = this.current();
    if (current.has(declaration.id) && missing(current).length === 0) return;
    this.update((table) => {
      const grants = table.get(declaration.id) ?? new Map<PermissionName, PermissionGrant>();
      for (const permission of missing(table)) grants.set(permission, { permission, state: 'deferred', approvedScopes: [], deniedScopes: [] });
      table.set(declaration.id, grants);
    });
  }

  get(plugin: string, permission: PermissionName): PermissionGrant | undefined {
    const grant = this.current().get(plugin)?.get(permission);
    return grant === undefined ? undefined : copyGrant(grant);
  }

  /** Every grant of one plugin, or of all plugins, sorted by plugin and permission. */
  list(plugin?: string): PluginGrant[] {
    const table = this.current();
    const plugins = plugin === undefined ? [...table.keys()].sort(compare) : table.has(plugin) ? [plugin] : [];
    return plugins.flatMap((id) =>
      [...(table.get(id)?.values() ?? [])]
        .sort((a, b) => compare(a.permission, b.permission))
        .map((grant) => ({ plugin: id, ...copyGrant(grant) })),
    );
  }

  /** Registered plugin ids, sorted. */
  plugins(): string[] {
    return [...this.current().keys()].sort(compare);
  }

  setState(plugin: string, permission: PermissionName, state: PermissionState): void {
    this.update((table) => {
      requiredIn(table, plugin, permission).state = state;
    });
  }

  /** Remembers a scope value approved with "Allow" (and lifts an earlier "Deny" of it). */
  addScope(plugin: string, permission: PermissionName, value: string): void {
    this.update((table) => {
      const grant = requiredIn(table, plugin, permission);
      grant.approvedScopes = withValue(grant.approvedScopes, value);
      grant.deniedScopes = grant.deniedScopes.filter((scope) => scope !== value);
    });
  }

  /** Remembers a scope value refused with "Deny", so the plugin cannot raise the same dialog again. */
  denyScope(plugin: string, permission: PermissionName, value: string): void {
    this.update((table) => {
      const grant = requiredIn(table, plugin, permission);
      grant.deniedScopes = withValue(grant.deniedScopes, value);
      grant.approvedScopes = grant.approvedScopes.filter((scope) => scope !== value);
    });
  }

  /** Forgets an approval or a denial of a scope value (it is asked for again); false when there was neither. */
  removeScope(plugin: string, permission: PermissionName, value: string): boolean {
    let removed = false;
    this.update((table) => {
      const grant = requiredIn(table, plugin, permission);
      removed = grant.approvedScopes.includes(value) || grant.deniedScopes.includes(value);
      grant.approvedScopes = grant.approvedScopes.filter((scope) => scope !== value);
      grant.deniedScopes = grant.deniedScopes.filter((scope) => scope !== value);
    });
    return removed;
  }

  /** The table as on disk now: read again when another process replaced the file. */
  private current(): GrantTable {
    const version = fileVersion(this.path);
    if (version !== this.version) {
      this.table = readTable(this.path);
      this.version = version;
    }
    return this.table;
  }

  /**
   * Applies a change to what is on disk under the lock, saves it, then
   * adopts it: what the gate decides on is always what is on disk, and a
   * change made meanwhile by another process is never overwritten.
   */
  private update(change: (table: GrantTable) => void): void {
    const lock = acquireLock(this.lockPath, { waitMs: GRANTS_LOCK_WAIT_MS });
    try {
      const next = copyTable(readTable(this.path));
      change(next);
      GRANTS_FILE.save(this.path, fileFromTable(next));
      this.table = next;
      this.version = fileVersion(this.path);
    } finally {
      lock.release();
    }
  }
}

function readTable(path: string): GrantTable {
  const file = GRANTS_FILE.load(path);
  return file === undefined ? new Map() : tableFromFile(file);
}


function withValue(values: readonly string[], value: string): string[] {
  return values.includes(value) ? [...values] : [...values, value];
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
  return { permission: grant.permission, state: grant.state, approvedScopes: [...grant.approvedScopes], deniedScopes: [...grant.deniedScopes] };
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
          { permission, state: stored.state, approvedScopes: [...stored.approved_scopes], deniedScopes: [...(stored.denied_scopes ?? [])] },
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
            { state: grant.state, approved_scopes: [...grant.approvedScopes], denied_scopes: [...grant.deniedScopes] },
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
