/**
 * The contract between the parts of the reference host: plugins and their
 * permissions, the approval prompts, and the gate that applies Nexus's
 * order (permission -> input schema -> scope -> risk) before a call reaches
 * the extension.
 */

/** `ext:<extension id>:<operation>`, as Nexus names an extension permission. */
export type PermissionName = string;

export function permissionName(extensionId: string, operation: string): PermissionName {
  return `ext:${extensionId}:${operation}`;
}

export type PermissionState = 'active' | 'deferred' | 'revoked';

export interface PermissionGrant {
  permission: PermissionName;
  state: PermissionState;
  /** Scope values approved with "Allow" (persisted); a value not listed needs approval (an empty list approves nothing). */
  approvedScopes: string[];
}

export interface PluginDeclaration {
  /** Lower-case letters, digits, `.`, `_`, `-`; 1-100 characters. */
  id: string;
  /** Shared secret the plugin exchanges for a bearer token. */
  secret: string;
  /** `{"p2p-comm": ["send", "receive"]}`: each becomes permission `ext:p2p-comm:<op>`. */
  extensions: Record<string, string[]>;
}

/** What a person (or a policy) is asked, with everything needed to decide. */
export interface ApprovalContext {
  plugin: string;
  extension: string;
  operation: string;
  permission: PermissionName;
  /** The operation's description from the manifest. */
  description: string;
  riskLevel: 'low' | 'medium' | 'high';
  input: Record<string, unknown>;
  /** For scope prompts: the scope key, its value and the manifest's scope_description. */
  scope?: { key: string; value: string; description: string };
  /** Extra lines a prompt should show, e.g. `peer fingerprint: a3:f2:...` for every peer id in the input. */
  details: string[];
}

/** As Nexus: approve (deferred -> active), once (this call only, stays deferred), deny (deferred -> revoked). */
export type PermissionAnswer = 'approve' | 'once' | 'deny';
export type ScopeAnswer = 'allow' | 'once' | 'deny';
export type RiskAnswer = 'approve' | 'deny';

/** Asks for a decision. Terminal prompts ask a person; a policy file answers for headless runs. */
export interface Prompter {
  /** A deferred permission is being used for the first time (just-in-time approval). */
  approvePermission(context: ApprovalContext): Promise<PermissionAnswer>;
  /** The scope value is not among the approved scopes for this plugin and permission. */
  approveScope(context: ApprovalContext): Promise<ScopeAnswer>;
  /** A high-risk operation: approval per call, showing the full input. */
  approveHighRisk(context: ApprovalContext): Promise<RiskAnswer>;
}

/** The gate's verdict; on refusal, the HTTP status and error Nexus would return. */
export type GateVerdict =
  | { allowed: true }
  | { allowed: false; status: 400 | 403; error: string; details: string | null };
