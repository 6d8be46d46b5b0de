import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { loadPolicy, type Policy, PolicyPrompter } from '../../../permissions/gate/policy-prompter';
import type { ApprovalContext } from '../../../permissions/gate/types';
import { tempDir } from '../../helpers/extension';

function policyFile(t: Test, content: unknown): string {
  const path = join(tempDir(t), 'policy.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function context(plugin: string, operation: string, scopeValue?: string): ApprovalContext {
  return {
    plugin,
    extension: 'p2p-comm',
    operation,
    permission: `ext:p2p-comm:${operation}`,
    description: 'test operation',
    riskLevel: 'medium',
    input: {},
    ...(scopeValue === undefined ? {} : { scope: { key: 'peer', value: scopeValue, description: 'Peer' } }),
    details: [],
  };
}

t.test('loads a valid policy, with or without the default', async (t) => {
  const policy: Policy = {
    rules: [
      { plugin: 'agent-a', operation: 'send', prompt: 'scope', scope_value: 'peer-1', answer: 'allow' },
      { plugin: '*', operation: '*', prompt: 'permission', answer: 'once' },
      { plugin: 'agent-b', operation: 'pair', prompt: 'high_risk', answer: 'approve' },
      { plugin: '*', operation: '*', prompt: '*', answer: 'deny' },
    ],
    default: 'deny',
  };
  t.same(loadPolicy(policyFile(t, policy)), policy);
  t.same(loadPolicy(policyFile(t, { rules: [] })), { rules: [] });
});

t.test('refuses a bad policy, naming the file and the problem', async (t) => {
  const rule = { plugin: 'agent-a', operation: 'send', prompt: 'permission', answer: 'approve' };
  const cases: [string, unknown, RegExp][] = [
    ['not JSON', '{"rules": [', /is not valid JSON/],
    ['no rules', { default: 'deny' }, /the policy file is missing the required field "rules"/],
    ['unknown top-level field', { rules: [], fallback: 'deny' }, /the policy file has an unexpected field "fallback"/],
    ['default other than deny', { rules: [], default: 'approve' }, /field \/default must be "deny"/],
    ['rules not a list', { rules: {} }, /field \/rules must be array/],
    ['unknown rule field', { rules: [{ ...rule, extension: 'p2p-comm' }] }, /field \/rules\/0 has an unexpected field "extension"/],
    ['rule without answer', { rules: [{ plugin: '*', operation: '*', prompt: '*' }] }, /field \/rules\/0 is missing the required field "answer"/],
    ['bad plugin', { rules: [{ ...rule, plugin: 'Agent A' }] }, /field \/rules\/0\/plugin is not in the expected format/],
    ['bad operation', { rules: [{ ...rule, operation: 'se*' }] }, /field \/rules\/0\/operation is not in the expected format/],
    ['unknown prompt', { rules: [{ ...rule, prompt: 'risk' }] }, /field \/rules\/0\/prompt must be one of "permission", "scope", "high_risk", "\*"/],
    ['unknown answer', { rules: [{ ...rule, answer: 'yes' }] }, /field \/rules\/0\/answer must be one of "approve", "once", "deny", "allow"/],
    ['empty scope_value', { rules: [{ ...rule, prompt: 'scope', answer: 'allow', scope_value: '' }] }, /field \/rules\/0\/scope_value must NOT have fewer than 1 characters/],
    ['allow for a permission', { rules: [{ ...rule, answer: 'allow' }] }, /rule \/rules\/0 answers "allow" to prompt "permission", which takes "approve", "once", "deny"/],
    ['approve for a scope', { rules: [rule, { ...rule, prompt: 'scope' }] }, /rule \/rules\/1 answers "approve" to prompt "scope", which takes "allow", "once", "deny"/],
    ['once for high risk', { rules: [{ ...rule, prompt: 'high_risk', answer: 'once' }] }, /answers "once" to prompt "high_risk", which takes "approve", "deny"/],
    ['approve for every prompt', { rules: [{ ...rule, prompt: '*' }] }, /answers "approve" to prompt "\*", which takes "deny"/],
    ['scope_value outside a scope rule', { rules: [{ ...rule, scope_value: 'peer-1' }] }, /rule \/rules\/0 has a scope_value but prompt "permission"; scope_value is only for prompt "scope"/],
  ];
  for (const [name, content, problem] of cases) {
    const path = policyFile(t, content);
    t.throws(() => loadPolicy(path), { message: problem }, name);
    t.throws(() => loadPolicy(path), { message: `policy file ${path} ` }, name);
  }
  const absent = join(tempDir(t), 'absent.json');
  t.throws(() => loadPolicy(absent), { message: `policy file ${absent} does not exist` });
});

t.test('the first matching rule answers; no match is a deny', async (t) => {
  const prompter = new PolicyPrompter(
    loadPolicy(
      policyFile(t, {
        rules: [
          { plugin: 'agent-a', operation: 'send', prompt: 'scope', scope_value: 'peer-1', answer: 'allow' },
          { plugin: 'agent-a', operation: 'send', prompt: 'scope', answer: 'once' },
          { plugin: 'agent-a', operation: 'pair', prompt: '*', answer: 'deny' },
          { plugin: 'agent-a', operation: '*', prompt: 'permission', answer: 'approve' },
          { plugin: '*', operation: 'status', prompt: 'permission', answer: 'once' },
          { plugin: '*', operation: '*', prompt: 'high_risk', answer: 'approve' },
        ],
      }),
    ),
  );
  t.equal(await prompter.approveScope(context('agent-a', 'send', 'peer-1')), 'allow', 'the exact scope value');
  t.equal(await prompter.approveScope(context('agent-a', 'send', 'peer-2')), 'once', 'any other value falls through');
  t.equal(await prompter.approveScope(context('agent-a', 'receive', 'peer-1')), 'deny', 'no scope rule for receive');
  t.equal(await prompter.approveScope(context('agent-b', 'send', 'peer-1')), 'deny', 'no scope rule for agent-b');
  t.equal(await prompter.approvePermission(context('agent-a', 'pair')), 'deny', 'an earlier "*" rule wins over a later approve');
  t.equal(await prompter.approveHighRisk(context('agent-a', 'pair')), 'deny');
  t.equal(await prompter.approvePermission(context('agent-a', 'send')), 'approve');
  t.equal(await prompter.approvePermission(context('agent-a', 'status')), 'approve', 'agent-a\'s rule comes first');
  t.equal(await prompter.approvePermission(context('agent-b', 'status')), 'once');
  t.equal(await prompter.approvePermission(context('agent-b', 'send')), 'deny');
  t.equal(await prompter.approveHighRisk(context('agent-b', 'revoke')), 'approve');
});

t.test('an empty policy denies everything', async (t) => {
  const prompter = new PolicyPrompter(loadPolicy(policyFile(t, { rules: [], default: 'deny' })));
  t.equal(await prompter.approvePermission(context('agent-a', 'send')), 'deny');
  t.equal(await prompter.approveScope(context('agent-a', 'send', 'peer-1')), 'deny');
  t.equal(await prompter.approveHighRisk(context('agent-a', 'pair')), 'deny');
});

t.test('a policy built in code with an answer that does not fit its prompt denies', async (t) => {
  const prompter = new PolicyPrompter({ rules: [{ plugin: '*', operation: '*', prompt: '*', answer: 'approve' }] });
  t.equal(await prompter.approvePermission(context('agent-a', 'send')), 'approve');
  t.equal(await prompter.approveScope(context('agent-a', 'send', 'peer-1')), 'deny');
  t.equal(await prompter.approveHighRisk(context('agent-a', 'pair')), 'approve');
});
