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

/** `ext:<extension>:<operation>` for every operation the plugin declares, in declaration order. */
export function declaredPermissions(declaration: PluginDeclaration): PermissionName[] {
  return Object.entries(declaration.extensions).flatMap(([extension, operations]) =>
    operations.map((operation) => permissionName(extension, operation)),
  );
}

export type PermissionState = 'active' | 'deferred' | 'revoked';

export interface PermissionGrant {
  permission: PermissionName;
  state: PermissionState;
  /** Scope values approved with "Allow" (persisted); a value not listed needs approval (an empty list approves nothing). */
  approvedScopes: string[];
  /** Scope values refused with "Deny" (persisted): refused without asking again until forgotten with the CLI. */
  deniedScopes: string[];
}

export interface PluginDeclaration {
  /** Lower-case letters, digits, `.`, `_`, `-`; 1-100 characters. */
  id: string;
  /** Shared secret the plugin exchanges for a bearer token. */
  secret: string;
  /** `{"p2p-comm": ["send", "receive"]}`: each becomes permission `ext:p2p-comm:<op>`. */
  extensions: Record<string, string[]>;
  /** The A2A agent this plugin serves on loopback; the host forwards paired peers' A2A requests to it. */
  a2a?: { url: string };
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
  /**
   * What the call is about, one fact per line, so that a person can judge
   * it: for a peer its fingerprint, self-chosen name, address and safety
   * number; for a message its type, size and a preview. Raw: a prompt
   * escapes them before showing them.
   */
  details: string[];
}

/** As Nexus: approve (deferred -> active), once (this call only, stays deferred), deny (deferred -> revoked). */
export type PermissionAnswer = 'approve' | 'once' | 'deny';
/**
 * Nexus's three answers plus "deny once": allow (remembered), once (this
 * call only), deny (remembered: later calls for the value are refused
 * without asking), deny_once (this call only; asked again next time).
 */
export type ScopeAnswer = 'allow' | 'once' | 'deny' | 'deny_once';
export type RiskAnswer = 'approve' | 'deny';

/**
 * Asks for a decision. Terminal prompts ask a person; a policy file answers
 * for headless runs. `signal` aborts when the host stops waiting (the dialog
 * timed out): a prompter then takes its question down, and its answer, if
 * any, is ignored.
 */
export interface Prompter {
  /** A deferred permission is being used for the first time (just-in-time approval). */
  approvePermission(context: ApprovalContext, signal: AbortSignal): Promise<PermissionAnswer>;
  /** The scope value is neither approved nor denied for this plugin and permission. */
  approveScope(context: ApprovalContext, signal: AbortSignal): Promise<ScopeAnswer>;
  /** A high-risk operation: approval per call, showing the full input. */
  approveHighRisk(context: ApprovalContext, signal: AbortSignal): Promise<RiskAnswer>;
}

/** The gate's verdict; on refusal, the HTTP status and error Nexus would return (429: this host's limit of one open dialog per plugin). */
export type GateVerdict =
  | { allowed: true }
  | { allowed: false; status: 400 | 403 | 429; error: string; details: string | null };

/**
 * A prompter that cannot ask anyone (its input closed) rejects with this:
 * the call is refused like an unanswered dialog, and nothing is remembered,
 * since nobody said "deny".
 */
export class NobodyToAskError extends Error {
  override name = 'NobodyToAskError';
}

/**
 * The reason a prompter's question is taken down because the caller gave up
 * on the call (an MCP client cancelled it): nothing will be done with an
 * answer.
 */
export class CallAbandoned extends Error {
  override name = 'CallAbandoned';

  constructor() {
    super('the caller gave up on this call');
  }
}

/**
 * The reason a prompter's question is taken down because another prompter
 * asking the same question got an answer first (the terminal and the web
 * page ask together): the prompter says where it was answered, not that
 * time ran out.
 */
export class AnsweredElsewhere extends Error {
  override name = 'AnsweredElsewhere';

  constructor(
    readonly where: string,
    readonly answer: string,
  ) {
    super(`answered on ${where}: ${answer}`);
  }
}

/** One answer a dialog offers: what it means on a button, and how the terminal offers it (its key in brackets). */
export interface AnswerChoice<A extends string> {
  answer: A;
  key: string;
  meaning: string;
  offer: string;
}

/** Each dialog's answers, in the order offered: one list for the terminal and the web page. */
export const PERMISSION_ANSWERS: readonly AnswerChoice<PermissionAnswer>[] = [
  { answer: 'approve', key: 'a', meaning: 'Approve from now on', offer: '[a]pprove from now on' },
  { answer: 'once', key: 'o', meaning: 'Once, for this call', offer: '[o]nce for this call' },
  { answer: 'deny', key: 'd', meaning: 'Deny and revoke', offer: '[d]eny and revoke' },
];
export const SCOPE_ANSWERS: readonly AnswerChoice<ScopeAnswer>[] = [
  { answer: 'allow', key: 'a', meaning: 'Allow from now on', offer: '[a]llow from now on' },
  { answer: 'once', key: 'o', meaning: 'Once, for this call', offer: '[o]nce for this call' },
  { answer: 'deny', key: 'd', meaning: 'Deny from now on', offer: '[d]eny from now on' },
  { answer: 'deny_once', key: 'n', meaning: 'Deny once', offer: 'deny o[n]ce' },
];
export const RISK_ANSWERS: readonly AnswerChoice<RiskAnswer>[] = [
  { answer: 'approve', key: 'a', meaning: 'Run this call', offer: '[a]pprove' },
  { answer: 'deny', key: 'd', meaning: 'Deny', offer: '[d]eny' },
];
