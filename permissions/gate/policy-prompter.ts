import Ajv from 'ajv';
import { readConfigFile } from '../json-config-file';
import type { ApprovalContext, PermissionAnswer, Prompter, RiskAnswer, ScopeAnswer } from './types';

/**
 * Answers approval prompts from a policy file, for headless runs (tests, the
 * demo, a node nobody watches):
 *
 *   {"rules": [
 *      {"plugin": "agent-a", "operation": "send", "prompt": "scope",
 *       "scope_value": "<peer id>", "answer": "allow"},
 *      {"plugin": "*", "operation": "*", "prompt": "permission", "answer": "once"}
 *    ],
 *    "default": "deny"}
 *
 * - `plugin`: a plugin id or "*"; `operation`: an operation name or "*".
 * - `prompt`: "permission" (answers approve / once / deny), "scope" (allow /
 *   once / deny / deny_once), "high_risk" (approve / deny), or "*" (every prompt, so it can
 *   only answer deny: no other answer means something for all three).
 * - `scope_value`: only in "scope" rules; "*" (the default) or one exact value.
 * - The first matching rule answers. With none, the answer is `default`, which
 *   is "deny" and may be left out: a policy only ever grants what it names.
 */
export type PromptKind = 'permission' | 'scope' | 'high_risk';

export interface PolicyRule {
  plugin: string;
  operation: string;
  prompt: PromptKind | '*';
  scope_value?: string;
  answer: PermissionAnswer | ScopeAnswer | RiskAnswer;
}

export interface Policy {
  rules: PolicyRule[];
  default?: 'deny';
}

const PERMISSION_ANSWERS: readonly PermissionAnswer[] = ['approve', 'once', 'deny'];
const SCOPE_ANSWERS: readonly ScopeAnswer[] = ['allow', 'once', 'deny', 'deny_once'];
const RISK_ANSWERS: readonly RiskAnswer[] = ['approve', 'deny'];

const ANSWERS_BY_KIND: Record<PromptKind | '*', readonly string[]> = {
  permission: PERMISSION_ANSWERS,
  scope: SCOPE_ANSWERS,
  high_risk: RISK_ANSWERS,
  '*': ['deny'],
};

const POLICY_SCHEMA = {
  type: 'object',
  properties: {
    rules: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          plugin: { type: 'string', pattern: '^(\\*|[a-z0-9._-]{1,100})$' },
          operation: { type: 'string', pattern: '^(\\*|[a-z0-9_]{1,100})$' },
          prompt: { enum: ['permission', 'scope', 'high_risk', '*'] },
          scope_value: { type: 'string', minLength: 1 },
          answer: { enum: ['approve', 'once', 'deny', 'allow', 'deny_once'] },
        },
        required: ['plugin', 'operation', 'prompt', 'answer'],
        additionalProperties: false,
      },
    },
    default: { const: 'deny' },
  },
  required: ['rules'],
  additionalProperties: false,
};

// allErrors off: the first problem is what the message names.
const validatePolicy = new Ajv({ strict: true, allErrors: false }).compile<Policy>(POLICY_SCHEMA);

/** Reads and checks a policy file; throws an Error naming the file and the offending rule or field. */
export function loadPolicy(path: string): Policy {
  const value = readConfigFile(path, 'policy file', validatePolicy);
  value.rules.forEach((rule, index) => {
    const problem = ruleProblem(rule);
    if (problem !== undefined) throw new Error(`policy file ${path} is invalid: rule /rules/${index} ${problem}`);
  });
  return value;
}

/** What a schema cannot say about one rule, or undefined when it is fine. */
function ruleProblem(rule: PolicyRule): string | undefined {
  const allowed = ANSWERS_BY_KIND[rule.prompt];
  if (!allowed.includes(rule.answer)) {
    return `answers "${rule.answer}" to prompt "${rule.prompt}", which takes ${allowed.map((answer) => `"${answer}"`).join(', ')}`;
  }
  if (rule.scope_value !== undefined && rule.prompt !== 'scope') {
    return `has a scope_value but prompt "${rule.prompt}"; scope_value is only for prompt "scope"`;
  }
  return undefined;
}

export class PolicyPrompter implements Prompter {
  constructor(private readonly policy: Policy) {}

  async approvePermission(context: ApprovalContext): Promise<PermissionAnswer> {
    return this.answer('permission', context, PERMISSION_ANSWERS);
  }

  async approveScope(context: ApprovalContext): Promise<ScopeAnswer> {
    return this.answer('scope', context, SCOPE_ANSWERS);
  }

  async approveHighRisk(context: ApprovalContext): Promise<RiskAnswer> {
    return this.answer('high_risk', context, RISK_ANSWERS);
  }

  /**
   * The first matching rule's answer, else deny. loadPolicy refuses a rule
   * whose answer does not fit its prompt; a policy built in code without it
   * still cannot grant by mistake, as an answer that does not fit is a deny.
   */
  private answer<A extends string>(kind: PromptKind, context: ApprovalContext, fitting: readonly A[]): A | 'deny' {
    const rule = this.policy.rules.find((candidate) => matches(candidate, kind, context));
    return fitting.find((answer) => answer === rule?.answer) ?? 'deny';
  }
}

function matches(rule: PolicyRule, kind: PromptKind, context: ApprovalContext): boolean {
  return (
    (rule.plugin === '*' || rule.plugin === context.plugin) &&
    (rule.operation === '*' || rule.operation === context.operation) &&
    (rule.prompt === '*' || rule.prompt === kind) &&
    (rule.scope_value === undefined || rule.scope_value === '*' || rule.scope_value === context.scope?.value)
  );
}
