import Ajv, { type ValidateFunction } from 'ajv';
import type { OperationDefinition } from '../../extension/common/manifest';
import { describeSchemaError } from '../../extension/common/describe-schema-error';
import type { AuditLayer, AuditLog } from './audit-log';
import type { GrantStore } from './grant-store';
import { CallAbandoned, NobodyToAskError, permissionName, type ApprovalContext, type GateVerdict, type Prompter } from './types';

/**
 * Decides whether a plugin's call may reach the extension, in Nexus's order:
 * declared operation, permission (with just-in-time approval of a deferred
 * one), input schema, scope, risk. The first layer that refuses answers with
 * the HTTP status and error Nexus would return; every layer's decision,
 * allowed or not, is written to the audit log.
 */
export interface GateOptions {
  extensionId: string;
  manifest: { operations: OperationDefinition[] };
  grants: GrantStore;
  prompter: Prompter;
  audit: AuditLog;
  /** The facts a dialog shows about a call (peer, content); by default none. Must not throw. */
  describeCall?: (operation: string, input: Record<string, unknown>) => Promise<string[]>;
  /** How long a dialog waits for an answer before the call is refused. */
  dialogTimeoutMs?: number;
}

export const DEFAULT_DIALOG_TIMEOUT_MS = 120_000;

/**
 * Why a dialog got no answer; the call is then refused and nothing is
 * remembered (an input that closed is nobody's "deny").
 */
type Unanswered = { readonly unanswered: 'timeout' | 'nobody' | 'busy' | 'abandoned'; readonly reason: string };

type Refusal = Extract<GateVerdict, { allowed: false }>;

interface Call {
  plugin: string;
  extension: string;
  operation: string;
}

/** An approval context whose input has passed the schema check. */
type CheckedContext = ApprovalContext & { input: Record<string, unknown> };

interface CompiledOperation {
  definition: OperationDefinition;
  validate: ValidateFunction;
}

export class Gate {
  private readonly operations = new Map<string, CompiledOperation>();
  private readonly dialogTimeoutMs: number;
  /** Plugins with a dialog open now. */
  private readonly dialogsOpen = new Set<string>();

  constructor(private readonly options: GateOptions) {
    this.dialogTimeoutMs = options.dialogTimeoutMs ?? DEFAULT_DIALOG_TIMEOUT_MS;
    // allErrors off, as Nexus: only the first error is reported, and it bounds
    // the work a hostile input can cause.
    const ajv = new Ajv({ strict: true, allErrors: false });
    for (const definition of options.manifest.operations) {
      let validate: ValidateFunction;
      try {
        validate = ajv.compile(definition.input_schema);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`operation '${definition.name}' of extension '${options.extensionId}' has an input_schema that cannot be compiled: ${reason}`);
      }
      this.operations.set(definition.name, { definition, validate });
    }
  }

  /**
   * `signal`: the caller gives up (an MCP client cancelled the call). A
   * dialog open for it is taken down, and a call approved meanwhile is
   * refused, each audited as `abandoned`.
   */
  async check(plugin: string, operation: string, input: unknown, signal?: AbortSignal): Promise<GateVerdict> {
    const call: Call = { plugin, extension: this.options.extensionId, operation };
    const compiled = this.operations.get(operation);
    if (compiled === undefined) {
      return this.refuse(call, 'extension', { status: 403, error: 'Forbidden', details: `Extension '${call.extension}' has no operation '${operation}'` });
    }
    this.record(call, 'extension', 'allowed', null);
    const { definition, validate } = compiled;

    // The permission prompt comes before the schema check, so the input may
    // not even be an object yet; the prompt then shows none.
    const context = this.approvalContext(call, definition, isRecord(input) ? input : {});
    const permissionRefusal = await this.checkPermission(call, context, signal);
    if (permissionRefusal !== undefined) return permissionRefusal;

    // Unlike Nexus, which skips the remaining layers right after a
    // just-in-time approval, every call goes on to schema, scope and risk:
    // approving a permission must not also approve an unapproved scope or a
    // high-risk call the person has not seen.
    if (!isRecord(input)) {
      return this.refuse(call, 'schema', { status: 400, error: 'Invalid input', details: 'input must be a JSON object' });
    }
    if (!validate(input)) {
      return this.refuse(call, 'schema', { status: 400, error: 'Invalid input', details: firstSchemaError(validate) });
    }
    this.record(call, 'schema', 'allowed', null);

    const checked: CheckedContext = { ...context, input };
    return (
      (await this.checkScope(call, definition, checked, signal)) ??
      (await this.checkRisk(call, checked, signal)) ??
      this.recheck(call, definition, checked) ??
      this.abandoned(call, signal) ?? { allowed: true }
    );
  }

  /**
   * A dialog can stay open for minutes, and the CLI may revoke the
   * permission or deny the scope meanwhile: what is on disk when the call
   * is about to run decides, not what was read before the dialogs.
   */
  private recheck(call: Call, definition: OperationDefinition, context: CheckedContext): Refusal | undefined {
    const grant = this.options.grants.get(call.plugin, context.permission);
    if (grant === undefined || grant.state === 'revoked') {
      const refusal = lacksPermission(call.plugin, context.permission);
      return this.refuse(call, 'permission', refusal, 'refused', `${refusal.details} (revoked while a dialog was open)`);
    }
    const key = definition.scope_key;
    const value = key === undefined ? undefined : context.input[key];
    if (key !== undefined && typeof value === 'string' && grant.deniedScopes.includes(value)) {
      const refusal = scopeDenied(key, value);
      return this.refuse(call, 'scope', refusal, 'refused', `${refusal.details} (denied while a dialog was open)`);
    }
    return undefined;
  }

  /** Approved, but its caller gave up while a dialog was open: it is not run behind the caller's back. */
  private abandoned(call: Call, signal: AbortSignal | undefined): Refusal | undefined {
    if (signal?.aborted !== true) return undefined;
    const details = 'The caller gave up on this call while a dialog was open: it was not run.';
    return this.refuse(call, 'call', { status: 403, error: 'Abandoned', details }, 'abandoned');
  }

  private async checkPermission(call: Call, context: ApprovalContext, signal: AbortSignal | undefined): Promise<Refusal | undefined> {
    const { grants, prompter } = this.options;
    const grant = grants.get(call.plugin, context.permission);
    if (grant === undefined || grant.state === 'revoked') {
      const refusal = lacksPermission(call.plugin, context.permission);
      const why = grant === undefined ? 'not declared by the plugin' : 'revoked';
      return this.refuse(call, 'permission', refusal, 'refused', `${refusal.details} (${why})`);
    }
    if (grant.state === 'active') {
      this.record(call, 'permission', 'allowed', 'permission active');
      return undefined;
    }
    const answer = await this.ask(context, (asked, dialog) => prompter.approvePermission(asked, dialog), signal);
    if (isUnanswered(answer)) return this.unanswered(call, 'permission', answer, `the just-in-time approval of '${context.permission}'`);
    if (answer === 'approve') {
      grants.setState(call.plugin, context.permission, 'active');
      this.record(call, 'permission', answer, 'deferred permission approved; now active');
      return undefined;
    }
    if (answer === 'once') {
      this.record(call, 'permission', answer, 'deferred permission approved for this call only; it stays deferred');
      return undefined;
    }
    grants.setState(call.plugin, context.permission, 'revoked');
    const details = `User denied deferred permission '${context.permission}'`;
    return this.refuse(call, 'permission', { status: 403, error: 'Permission denied', details }, 'deny');
  }

  /**
   * Nexus's rule exactly: only a string at input[scope_key] is checked; a
   * missing or non-string value skips the check. p2p-comm's schemas make
   * every scope field a required string, so for it the check always runs.
   */
  private async checkScope(call: Call, definition: OperationDefinition, context: CheckedContext, signal: AbortSignal | undefined): Promise<Refusal | undefined> {
    const key = definition.scope_key;
    if (key === undefined) {
      this.record(call, 'scope', 'skipped', 'the operation has no scope');
      return undefined;
    }
    const value = Object.hasOwn(context.input, key) ? context.input[key] : undefined;
    if (typeof value !== 'string') {
      this.record(call, 'scope', 'skipped', `input.${key} is not a string`);
      return undefined;
    }
    const { grants, prompter } = this.options;
    const scope = `scope '${key}' = '${value}'`;
    const grant = grants.get(call.plugin, context.permission);
    if (grant?.approvedScopes.includes(value) === true) {
      this.record(call, 'scope', 'allowed', `${scope} is approved`);
      return undefined;
    }
    const denied = scopeDenied(key, value);
    if (grant?.deniedScopes.includes(value) === true) {
      // Remembered, so that a plugin cannot raise the same dialog again and again.
      return this.refuse(call, 'scope', denied, 'refused', `${scope} was denied earlier (p2p-comm-host forget-scope asks again)`);
    }
    const scoped = { ...context, scope: { key, value, description: definition.scope_description ?? '' } };
    const answer = await this.ask(scoped, (asked, dialog) => prompter.approveScope(asked, dialog), signal);
    if (isUnanswered(answer)) return this.unanswered(call, 'scope', answer, `the approval of ${scope}`);
    switch (answer) {
      case 'allow':
        grants.addScope(call.plugin, context.permission, value);
        this.record(call, 'scope', answer, `${scope} approved and remembered`);
        return undefined;
      case 'once':
        this.record(call, 'scope', answer, `${scope} approved for this call only`);
        return undefined;
      case 'deny':
        grants.denyScope(call.plugin, context.permission, value);
        return this.refuse(call, 'scope', denied, answer, `${scope} denied and remembered`);
      default:
        return this.refuse(call, 'scope', denied, answer, `${scope} denied for this call only`);
    }
  }

  /** High risk asks on every call, showing the full input; low and medium behave the same, as in Nexus. */
  private async checkRisk(call: Call, context: CheckedContext, signal: AbortSignal | undefined): Promise<Refusal | undefined> {
    if (context.riskLevel !== 'high') {
      this.record(call, 'risk', 'allowed', `risk level ${context.riskLevel}`);
      return undefined;
    }
    const answer = await this.ask(context, (asked, dialog) => this.options.prompter.approveHighRisk(asked, dialog), signal);
    if (isUnanswered(answer)) return this.unanswered(call, 'risk', answer, 'the approval of this high-risk call');
    if (answer === 'approve') {
      this.record(call, 'risk', answer, 'high-risk call approved');
      return undefined;
    }
    return this.refuse(call, 'risk', { status: 403, error: 'Denied', details: 'User denied the high-risk operation' }, 'deny');
  }

  /**
   * The prompter's answer, or why there is none: the dialog timeout passed
   * or the caller gave up (`caller`; either way the prompter is told to
   * stop asking), nobody can be asked, or this plugin already has a dialog
   * open (one at a time per plugin, so that one plugin cannot bury everyone
   * else's dialogs under its own). The facts about the call are gathered
   * here, only when someone is about to be asked: they may take a call to
   * the extension.
   */
  private async ask<C extends ApprovalContext, A>(context: C, question: (context: C, signal: AbortSignal) => Promise<A>, caller: AbortSignal | undefined): Promise<A | Unanswered> {
    const abandoned: Unanswered = { unanswered: 'abandoned', reason: 'the caller gave up on the call' };
    if (caller?.aborted === true) return abandoned;
    if (this.dialogsOpen.has(context.plugin)) {
      return { unanswered: 'busy', reason: `plugin '${context.plugin}' already has a dialog open; call again once it is answered` };
    }
    this.dialogsOpen.add(context.plugin);
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let giveUp: (() => void) | undefined;
    try {
      const details = (await this.options.describeCall?.(context.operation, context.input)) ?? [];
      const timedOut: Unanswered = { unanswered: 'timeout', reason: `nobody answered within ${Math.round(this.dialogTimeoutMs / 1000)} s` };
      const unanswered = new Promise<Unanswered>((resolve) => {
        timer = setTimeout(() => {
          resolve(timedOut);
          controller.abort();
        }, this.dialogTimeoutMs);
        giveUp = () => {
          resolve(abandoned);
          controller.abort(new CallAbandoned());
        };
        if (caller?.aborted === true) giveUp();
        else caller?.addEventListener('abort', giveUp, { once: true });
      });
      const answer = question({ ...context, details }, controller.signal).catch((error: unknown): Unanswered => {
        if (error instanceof NobodyToAskError) return { unanswered: 'nobody', reason: error.message };
        throw error;
      });
      const result = await Promise.race([answer, unanswered]);
      // A prompter taken down answers something (a page's dialog says "deny"): that is no one's answer.
      if (controller.signal.aborted) return controller.signal.reason instanceof CallAbandoned ? abandoned : timedOut;
      return result;
    } finally {
      clearTimeout(timer);
      if (giveUp !== undefined) caller?.removeEventListener('abort', giveUp);
      this.dialogsOpen.delete(context.plugin);
    }
  }

  private unanswered(call: Call, layer: AuditLayer, answer: Unanswered, what: string): Refusal {
    if (answer.unanswered === 'abandoned') {
      const details = `Not answered: ${answer.reason} while ${what} was asked; the dialog was taken down, nothing was approved or remembered.`;
      return this.refuse(call, layer, { status: 403, error: 'Abandoned', details }, 'abandoned');
    }
    if (answer.unanswered === 'busy') {
      return this.refuse(call, layer, { status: 429, error: 'Too many requests', details: `Not asked: ${answer.reason}` }, 'busy');
    }
    const details = `No answer to ${what}: ${answer.reason}; nothing was approved or remembered. Call again when someone can answer the dialog.`;
    return this.refuse(call, layer, { status: 403, error: 'Approval timed out', details }, answer.unanswered);
  }

  private approvalContext(call: Call, definition: OperationDefinition, input: Record<string, unknown>): ApprovalContext {
    return {
      ...call,
      permission: permissionName(call.extension, call.operation),
      description: definition.description,
      riskLevel: definition.risk_level,
      input,
      details: [],
    };
  }

  private refuse(
    call: Call,
    layer: AuditLayer,
    refusal: Omit<Refusal, 'allowed'>,
    decision = 'refused',
    auditDetail: string | null = refusal.details,
  ): Refusal {
    this.record(call, layer, decision, auditDetail);
    return { allowed: false, ...refusal };
  }

  private record(call: Call, layer: AuditLayer, decision: string, detail: string | null): void {
    this.options.audit.record({ ...call, layer, decision, detail });
  }
}

function firstSchemaError(validate: ValidateFunction): string {
  const error = validate.errors?.[0];
  if (error === undefined) return 'input does not match the operation\'s input_schema';
  const where = error.instancePath === '' ? 'input' : `input${error.instancePath.replaceAll('/', '.')}`;
  return describeSchemaError(error, where);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isUnanswered(answer: unknown): answer is Unanswered {
  return typeof answer === 'object' && answer !== null && 'unanswered' in answer;
}

/** Nexus's refusal of a permission the plugin does not hold (never declared, or revoked). */
function lacksPermission(plugin: string, permission: string): Omit<Refusal, 'allowed'> & { details: string } {
  return { status: 403, error: 'Permission denied', details: `Plugin '${plugin}' lacks permission '${permission}'` };
}

/** Nexus's refusal of a scope value the person denied. */
function scopeDenied(key: string, value: string): Omit<Refusal, 'allowed'> & { details: string } {
  return { status: 403, error: 'Scope approval denied', details: `User denied access to scope '${key}' = '${value}'` };
}
