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
}

export interface ExtensionManifest {
  id: string;
  display_name: string;
  version: string;
  description: string;
  author: string;
  author_public_key: string;
  operations: OperationDefinition[];
}

export const manifest: ExtensionManifest = manifestJson as ExtensionManifest;
