import Ajv, { type ValidateFunction } from 'ajv';
import { fingerprintOf, PEER_ID_PATTERN, publicKeyFromPeerId } from '../../extension/common/peer-id';
import type { OperationDefinition } from '../../extension/common/manifest';
import { describeSchemaError } from '../../extension/common/describe-schema-error';
import type { AuditLayer, AuditLog } from './audit-log';
import type { GrantStore } from './grant-store';
import { permissionName, type ApprovalContext, type GateVerdict, type Prompter } from './types';

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
}

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

  constructor(private readonly options: GateOptions) {
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

  async check(plugin: string, operation: string, input: unknown): Promise<GateVerdict> {
    const call: Call = { plugin, extension: this.options.extensionId, operation };
    const compiled = this.operations.get(operation);
    if (compiled === undefined) {
      return this.refuse(call, 'extension', { status: 403, error: 'Forbidden', details: `Extension '${call.extension}' has no operation '${operation}'` });
    }
    this.record(call, 'extension', 'allowed', null);
    const { definition, validate } = compiled;

    // The permission prompt comes before the schema check, so the input may
    // not even be an object yet; the prompt then shows none.
    const context = approvalContext(call, definition, isRecord(input) ? input : {});
    const permissionRefusal = await this.checkPermission(call, context);
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
    return (await this.checkScope(call, definition, checked)) ?? (await this.checkRisk(call, checked)) ?? { allowed: true };
  }

  private async checkPermission(call: Call, context: ApprovalContext): Promise<Refusal | undefined> {
    const { grants, prompter } = this.options;
    const grant = grants.get(call.plugin, context.permission);
    if (grant === undefined || grant.state === 'revoked') {
      const details = `Plugin '${call.plugin}' lacks permission '${context.permission}'`;
      const why = grant === undefined ? 'not declared by the plugin' : 'revoked';
      return this.refuse(call, 'permission', { status: 403, error: 'Permission denied', details }, 'refused', `${details} (${why})`);
    }
    if (grant.state === 'active') {
      this.record(call, 'permission', 'allowed', 'permission active');
      return undefined;
    }
    const answer = await prompter.approvePermission(context);
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
  private async checkScope(call: Call, definition: OperationDefinition, context: CheckedContext): Promise<Refusal | undefined> {
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
    if (grants.get(call.plugin, context.permission)?.approvedScopes.includes(value) === true) {
      this.record(call, 'scope', 'allowed', `${scope} is approved`);
      return undefined;
    }
    const answer = await prompter.approveScope({ ...context, scope: { key, value, description: definition.scope_description ?? '' } });
    if (answer === 'allow') {
      grants.addScope(call.plugin, context.permission, value);
      this.record(call, 'scope', answer, `${scope} approved and remembered`);
      return undefined;
    }
    if (answer === 'once') {
      this.record(call, 'scope', answer, `${scope} approved for this call only`);
      return undefined;
    }
    const details = `User denied access to scope '${key}' = '${value}'`;
    return this.refuse(call, 'scope', { status: 403, error: 'Scope approval denied', details }, 'deny');
  }

  /** High risk asks on every call, showing the full input; low and medium behave the same, as in Nexus. */
  private async checkRisk(call: Call, context: CheckedContext): Promise<Refusal | undefined> {
    if (context.riskLevel !== 'high') {
      this.record(call, 'risk', 'allowed', `risk level ${context.riskLevel}`);
      return undefined;
    }
    const answer = await this.options.prompter.approveHighRisk(context);
    if (answer === 'approve') {
      this.record(call, 'risk', answer, 'high-risk call approved');
      return undefined;
    }
    return this.refuse(call, 'risk', { status: 403, error: 'Denied', details: 'User denied the high-risk operation' }, 'deny');
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

function approvalContext(call: Call, definition: OperationDefinition, input: Record<string, unknown>): ApprovalContext {
  return {
    ...call,
    permission: permissionName(call.extension, call.operation),
    description: definition.description,
    riskLevel: definition.risk_level,
    input,
    details: peerFingerprints(input),
  };
}

/** So that a person can compare the peer a call names with the fingerprint they checked when pairing. */
function peerFingerprints(input: Record<string, unknown>): string[] {
  const peers = new Set(Object.values(input).filter((value): value is string => typeof value === 'string' && PEER_ID_PATTERN.test(value)));
  return [...peers].map((peer) => `peer ${peer} fingerprint ${fingerprintOf(publicKeyFromPeerId(peer))}`);
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
