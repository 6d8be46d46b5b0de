import manifestJson from '../../manifest.json';

/**
 * manifest.json is the single source of the operation list and of every
 * input schema: the host validates against it, and so do we. The bundler
 * inlines it, so the installed binary reads nothing from disk for it.
 */
export type RiskLevel = 'low' | 'medium' | 'high';

export interface OperationDefinition {
  name: string;
  description: string;
  risk_level: RiskLevel;
  input_schema: Record<string, unknown>;
  scope_key?: string;
  scope_description?: string;
  /**
   * Nexus makes the operation a tool of its MCP gateway, named
   * `{ext_id}.{op}`, where it checks no input schema and no scope and asks
   * approval once: only for operations whose safety rests on neither.
   */
  mcp_expose?: boolean;
  /** What that tool says to a model instead of `description`. */
  mcp_description?: string;
}

/** The roles Nexus's resource UI gives a schema property (`x-resource-role`). */
export type ResourceRole = 'id' | 'editable' | 'readonly';

/** One resource type Nexus renders a list and a form for (its `ResourceTypeDef`). */
export interface ResourceTypeDefinition {
  label: string;
  description?: string;
  icon?: string;
  /** A JSON Schema of one row whose properties carry `x-resource-role` and `x-display`. */
  schema: Record<string, unknown>;
  list_view?: { columns: string[]; sort_by?: string; sort_order?: string };
  /** Each true unless declared false, as in Nexus. */
  capabilities?: { create?: boolean; update?: boolean; delete?: boolean };
}

export interface ExtensionManifest {
  id: string;
  display_name: string;
  version: string;
  description: string;
  author: string;
  author_public_key: string;
  operations: OperationDefinition[];
  resources: Record<string, ResourceTypeDefinition>;
}

export const manifest: ExtensionManifest = manifestJson as ExtensionManifest;
