import t, { type Test } from 'tap';
import { peerIdFromPublicKey } from '../../../extension/common/peer-id';
import { manifest, type OperationDefinition } from '../../../extension/common/manifest';
import { AuditLog } from '../../../permissions/gate/audit-log';
import { Gate } from '../../../permissions/gate/gate';
import { GrantStore } from '../../../permissions/gate/grant-store';
import { CallAbandoned, NobodyToAskError, type ApprovalContext, type PermissionAnswer, type Prompter, type RiskAnswer, type ScopeAnswer } from '../../../permissions/gate/types';
import { tempDir } from '../../helpers/extension';

const PLUGIN = 'agent-a';
const KEY = new Uint8Array(32).fill(7);
const PEER = peerIdFromPublicKey(KEY);
const OTHER_PEER = peerIdFromPublicKey(new Uint8Array(32).fill(9));
const SEND_INPUT = { peer: PEER, type: 'text', content: 'hello' };

type PromptKind = 'permission' | 'scope' | 'high_risk';

interface Script {
  permission?: PermissionAnswer[];
  scope?: ScopeAnswer[];
  high_risk?: RiskAnswer[];
}

/** Answers from a script, one answer per prompt, and fails the call on a prompt the test did not expect. */
class ScriptedPrompter implements Prompter {
  readonly asked: { kind: PromptKind; context: ApprovalContext }[] = [];

  constructor(private readonly script: Script) {}

  readonly signals: AbortSignal[] = [];

  approvePermission(context: ApprovalContext, signal: AbortSignal): Promise<PermissionAnswer> {
    this.signals.push(signal);
    return this.next('permission', context, this.script.permission);
  }

  approveScope(context: ApprovalContext, signal: AbortSignal): Promise<ScopeAnswer> {
    this.signals.push(signal);
    return this.next('scope', context, this.script.scope);
  }

  approveHighRisk(context: ApprovalContext, signal: AbortSignal): Promise<RiskAnswer> {
    this.signals.push(signal);
    return this.next('high_risk', context, this.script.high_risk);
  }

  get kinds(): PromptKind[] {
    return this.asked.map((prompt) => prompt.kind);
  }

  private async next<A>(kind: PromptKind, context: ApprovalContext, answers: A[] | undefined): Promise<A> {
    this.asked.push({ kind, context });
    const answer = answers?.shift();
    if (answer === undefined) throw new Error(`unexpected ${kind} prompt`);
    return answer;
  }
}

interface Setup {
  dir: string;
  grants: GrantStore;
  audit: AuditLog;
  prompter: ScriptedPrompter;
  gate: Gate;
  /** `layer:decision` for every audit entry, in order. */
  decisions: () => string[];
}

/** The facts every test dialog shows, so that a test can tell they were gathered. */
const FACTS = async (operation: string, input: Record<string, unknown>): Promise<string[]> => [`facts of ${operation} ${JSON.stringify(input)}`];

/** agent-a declares the given operations, each starting in the given state. */
function setup(t: Test, granted: Record<string, 'active' | 'deferred' | 'revoked'>, script: Script = {}, dialogTimeoutMs?: number): Setup {
  const dir = tempDir(t);
  const grants = GrantStore.open(dir);
  grants.register({ id: PLUGIN, secret: 's'.repeat(16), extensions: { 'p2p-comm': Object.keys(granted) } });
  for (const [operation, state] of Object.entries(granted)) grants.setState(PLUGIN, `ext:p2p-comm:${operation}`, state);
  const audit = AuditLog.open(dir);
  const prompter = new ScriptedPrompter(script);
  const gate = new Gate({ extensionId: 'p2p-comm', manifest, grants, prompter, audit, describeCall: FACTS, ...(dialogTimeoutMs === undefined ? {} : { dialogTimeoutMs }) });
  const decisions = (): string[] => audit.read().map((entry) => `${entry.layer}:${entry.decision}`);
  return { dir, grants, audit, prompter, gate, decisions };
}

function stateOf(dir: string, operation: string): string | undefined {
  return GrantStore.open(dir).get(PLUGIN, `ext:p2p-comm:${operation}`)?.state;
}

function scopesOf(dir: string, operation: string): string[] | undefined {
  return GrantStore.open(dir).get(PLUGIN, `ext:p2p-comm:${operation}`)?.approvedScopes;
}

const ALLOWED_LOW = ['extension:allowed', 'permission:allowed', 'schema:allowed', 'scope:skipped', 'risk:allowed'];

t.test('an active permission on a low-risk operation without scope is allowed, every layer audited', async (t) => {
  const { gate, audit, prompter, decisions } = setup(t, { status: 'active' });
  t.same(await gate.check(PLUGIN, 'status', {}), { allowed: true });
  t.same(prompter.kinds, []);
  t.same(decisions(), ALLOWED_LOW);
  t.match(audit.read(), [{ plugin: PLUGIN, extension: 'p2p-comm', operation: 'status', time: String }]);
  t.match(audit.read()[4], { detail: 'risk level low' });
});

t.test('an operation the manifest does not declare is forbidden', async (t) => {
  const { gate, prompter, decisions, audit } = setup(t, { status: 'active' });
  t.same(await gate.check(PLUGIN, 'format_disk', {}), {
    allowed: false,
    status: 403,
    error: 'Forbidden',
    details: "Extension 'p2p-comm' has no operation 'format_disk'",
  });
  t.same(prompter.kinds, []);
  t.same(decisions(), ['extension:refused']);
  t.match(audit.read()[0], { operation: 'format_disk', detail: "Extension 'p2p-comm' has no operation 'format_disk'" });
});

t.test('a permission the plugin does not hold is denied', async (t) => {
  const { gate, prompter, decisions, audit } = setup(t, { status: 'active' });
  const lacking = { allowed: false, status: 403, error: 'Permission denied', details: "Plugin 'agent-a' lacks permission 'ext:p2p-comm:peers'" };
  t.same(await gate.check(PLUGIN, 'peers', {}), lacking);
  t.same(await gate.check('stranger', 'status', {}), { ...lacking, details: "Plugin 'stranger' lacks permission 'ext:p2p-comm:status'" });
  t.same(prompter.kinds, []);
  t.same(decisions(), ['extension:allowed', 'permission:refused', 'extension:allowed', 'permission:refused']);
  t.match(audit.read()[1], { detail: /\(not declared by the plugin\)$/ });
});

t.test('a revoked permission is denied before the input is even validated', async (t) => {
  const { gate, prompter, decisions, audit } = setup(t, { send: 'revoked' });
  const denied = { allowed: false, status: 403, error: 'Permission denied', details: "Plugin 'agent-a' lacks permission 'ext:p2p-comm:send'" };
  t.same(await gate.check(PLUGIN, 'send', SEND_INPUT), denied);
  t.same(await gate.check(PLUGIN, 'send', { nonsense: true }), denied);
  t.same(await gate.check(PLUGIN, 'send', 'not even an object'), denied);
  t.same(prompter.kinds, []);
  t.same(decisions(), ['extension:allowed', 'permission:refused', 'extension:allowed', 'permission:refused', 'extension:allowed', 'permission:refused']);
  t.match(audit.read()[1], { detail: /\(revoked\)$/ });
});

t.test('deferred, approved: active from now on, persisted', async (t) => {
  const { dir, gate, prompter, decisions } = setup(t, { status: 'deferred' }, { permission: ['approve'] });
  t.same(await gate.check(PLUGIN, 'status', {}), { allowed: true });
  t.equal(stateOf(dir, 'status'), 'active');
  t.same(await gate.check(PLUGIN, 'status', {}), { allowed: true }, 'not asked again');
  t.same(prompter.kinds, ['permission']);
  t.match(prompter.asked[0]?.context, {
    plugin: PLUGIN,
    extension: 'p2p-comm',
    operation: 'status',
    permission: 'ext:p2p-comm:status',
    riskLevel: 'low',
    input: {},
    details: [],
  });
  t.same(decisions(), [
    'extension:allowed', 'permission:approve', 'schema:allowed', 'scope:skipped', 'risk:allowed',
    ...ALLOWED_LOW,
  ]);
});

t.test('deferred, once: this call only, stays deferred', async (t) => {
  const { dir, gate, prompter, decisions } = setup(t, { status: 'deferred' }, { permission: ['once', 'once'] });
  t.same(await gate.check(PLUGIN, 'status', {}), { allowed: true });
  t.equal(stateOf(dir, 'status'), 'deferred');
  t.same(await gate.check(PLUGIN, 'status', {}), { allowed: true });
  t.same(prompter.kinds, ['permission', 'permission'], 'asked again on the next call');
  t.same(decisions().filter((decision) => decision.startsWith('permission:')), ['permission:once', 'permission:once']);
});

t.test('deferred, denied: revoked, persisted, and never asked again', async (t) => {
  const { dir, gate, prompter, decisions } = setup(t, { status: 'deferred' }, { permission: ['deny'] });
  t.same(await gate.check(PLUGIN, 'status', {}), {
    allowed: false,
    status: 403,
    error: 'Permission denied',
    details: "User denied deferred permission 'ext:p2p-comm:status'",
  });
  t.equal(stateOf(dir, 'status'), 'revoked');
  t.same(await gate.check(PLUGIN, 'status', {}), {
    allowed: false,
    status: 403,
    error: 'Permission denied',
    details: "Plugin 'agent-a' lacks permission 'ext:p2p-comm:status'",
  });
  t.same(prompter.kinds, ['permission']);
  t.same(decisions(), ['extension:allowed', 'permission:deny', 'extension:allowed', 'permission:refused']);
});

t.test('invalid input is refused with the first schema error', async (t) => {
  const { gate, decisions, audit } = setup(t, { send: 'active', status: 'active' });
  const invalid = (details: string) => ({ allowed: false, status: 400, error: 'Invalid input', details });
  t.same(await gate.check(PLUGIN, 'send', { peer: PEER, type: 'text' }), invalid('input is missing the required field "content"'));
  t.same(await gate.check(PLUGIN, 'send', { ...SEND_INPUT, peer: 'nobody' }), invalid('input.peer must NOT have fewer than 52 characters'));
  t.same(await gate.check(PLUGIN, 'send', { ...SEND_INPUT, type: 'html' }), invalid('input.type must be one of "text", "json"'));
  t.same(await gate.check(PLUGIN, 'status', { verbose: true }), invalid('input has an unexpected field "verbose"'));
  for (const input of [null, [], 'status', 42]) {
    t.same(await gate.check(PLUGIN, 'status', input), invalid('input must be a JSON object'), JSON.stringify(input));
  }
  t.same(decisions().filter((decision) => decision.startsWith('schema:')), Array(8).fill('schema:refused'));
  t.same(decisions().filter((decision) => decision.startsWith('scope:') || decision.startsWith('risk:')), [], 'no later layer ran');
  t.match(audit.read()[2], { layer: 'schema', detail: 'input is missing the required field "content"' });
});

t.test('a deferred permission is asked before the schema check; a non-object input shows as none', async (t) => {
  const { gate, prompter, decisions } = setup(t, { status: 'deferred' }, { permission: ['once'] });
  t.match(await gate.check(PLUGIN, 'status', [1, 2]), { allowed: false, status: 400 });
  t.same(prompter.asked[0]?.context.input, {});
  t.same(decisions(), ['extension:allowed', 'permission:once', 'schema:refused']);
});

t.test('scope, allowed: remembered, persisted, not asked again', async (t) => {
  const { dir, gate, prompter, decisions, audit } = setup(t, { send: 'active' }, { scope: ['allow'] });
  t.same(await gate.check(PLUGIN, 'send', SEND_INPUT), { allowed: true });
  t.same(scopesOf(dir, 'send'), [PEER]);
  t.same(await gate.check(PLUGIN, 'send', SEND_INPUT), { allowed: true });
  t.same(prompter.kinds, ['scope']);
  t.match(prompter.asked[0]?.context, {
    operation: 'send',
    permission: 'ext:p2p-comm:send',
    riskLevel: 'medium',
    input: SEND_INPUT,
    scope: { key: 'peer', value: PEER, description: 'Peer this plugin may exchange messages with' },
    details: [`facts of send ${JSON.stringify(SEND_INPUT)}`],
  });
  t.same(decisions(), [
    'extension:allowed', 'permission:allowed', 'schema:allowed', 'scope:allow', 'risk:allowed',
    'extension:allowed', 'permission:allowed', 'schema:allowed', 'scope:allowed', 'risk:allowed',
  ]);
  t.match(audit.read()[3], { detail: `scope 'peer' = '${PEER}' approved and remembered` });
  t.match(audit.read()[8], { detail: `scope 'peer' = '${PEER}' is approved` });
});

t.test('scope approved for one peer is asked again for another', async (t) => {
  const { gate, prompter } = setup(t, { send: 'active' }, { scope: ['allow', 'once'] });
  t.same(await gate.check(PLUGIN, 'send', SEND_INPUT), { allowed: true });
  t.same(await gate.check(PLUGIN, 'send', { ...SEND_INPUT, peer: OTHER_PEER }), { allowed: true });
  t.same(prompter.asked.map((prompt) => prompt.context.scope?.value), [PEER, OTHER_PEER]);
});

t.test('scope, once: this call only, not persisted', async (t) => {
  const { dir, gate, prompter, decisions } = setup(t, { receive: 'active' }, { scope: ['once', 'once'] });
  t.same(await gate.check(PLUGIN, 'receive', { peer: PEER }), { allowed: true });
  t.same(scopesOf(dir, 'receive'), []);
  t.same(await gate.check(PLUGIN, 'receive', { peer: PEER }), { allowed: true });
  t.same(prompter.kinds, ['scope', 'scope']);
  t.same(decisions().filter((decision) => decision.startsWith('scope:')), ['scope:once', 'scope:once']);
});

const SCOPE_DENIED = {
  allowed: false,
  status: 403,
  error: 'Scope approval denied',
  details: `User denied access to scope 'peer' = '${PEER}'`,
};

t.test('scope, denied: refused and remembered, so the dialog is not raised again', async (t) => {
  const { dir, gate, prompter, decisions, audit } = setup(t, { send: 'active' }, { scope: ['deny', 'allow'] });
  t.same(await gate.check(PLUGIN, 'send', SEND_INPUT), SCOPE_DENIED);
  t.same(scopesOf(dir, 'send'), []);
  t.same(GrantStore.open(dir).get(PLUGIN, 'ext:p2p-comm:send')?.deniedScopes, [PEER], 'persisted');
  t.equal(stateOf(dir, 'send'), 'active', 'a scope denial does not touch the permission');
  for (let call = 0; call < 3; call += 1) t.same(await gate.check(PLUGIN, 'send', SEND_INPUT), SCOPE_DENIED);
  t.same(prompter.kinds, ['scope'], 'asked once, whatever the plugin does');
  t.same(decisions().filter((decision) => decision.startsWith('scope:')), ['scope:deny', 'scope:refused', 'scope:refused', 'scope:refused']);
  t.match(audit.read()[7], { detail: /was denied earlier \(p2p-comm-host forget-scope asks again\)$/ });
  t.ok(GrantStore.open(dir).removeScope(PLUGIN, 'ext:p2p-comm:send', PEER), 'forgetting the denial');
  t.same(await gate.check(PLUGIN, 'send', SEND_INPUT), { allowed: true }, 'asks again, and the answer counts');
  t.same(prompter.kinds, ['scope', 'scope']);
});

t.test('scope, denied once: refused, nothing remembered, asked again next time', async (t) => {
  const { dir, gate, prompter, decisions } = setup(t, { send: 'active' }, { scope: ['deny_once', 'once'] });
  t.same(await gate.check(PLUGIN, 'send', SEND_INPUT), SCOPE_DENIED);
  t.same(GrantStore.open(dir).get(PLUGIN, 'ext:p2p-comm:send'), { permission: 'ext:p2p-comm:send', state: 'active', approvedScopes: [], deniedScopes: [] });
  t.same(await gate.check(PLUGIN, 'send', SEND_INPUT), { allowed: true });
  t.same(prompter.kinds, ['scope', 'scope']);
  t.same(decisions().filter((decision) => decision.startsWith('scope:')), ['scope:deny_once', 'scope:once']);
});

t.test('an unanswered dialog times out: 403 with a reason, the prompter told, nothing remembered', async (t) => {
  const never = { permission: [], scope: [], high_risk: [] };
  class SilentPrompter extends ScriptedPrompter {
    override approveScope(context: ApprovalContext, signal: AbortSignal): Promise<ScopeAnswer> {
      this.signals.push(signal);
      this.asked.push({ kind: 'scope', context });
      return new Promise(() => undefined);
    }
  }
  const dir = tempDir(t);
  const grants = GrantStore.open(dir);
  grants.register({ id: PLUGIN, secret: 's'.repeat(16), extensions: { 'p2p-comm': ['send'] } });
  grants.setState(PLUGIN, 'ext:p2p-comm:send', 'active');
  const audit = AuditLog.open(dir);
  const prompter = new SilentPrompter(never);
  const gate = new Gate({ extensionId: 'p2p-comm', manifest, grants, prompter, audit, dialogTimeoutMs: 50 });
  const verdict = await gate.check(PLUGIN, 'send', SEND_INPUT);
  t.same(verdict, {
    allowed: false,
    status: 403,
    error: 'Approval timed out',
    details: `No answer to the approval of scope 'peer' = '${PEER}': nobody answered within 0 s; nothing was approved or remembered. Call again when someone can answer the dialog.`,
  });
  t.ok(prompter.signals[0]?.aborted, 'the prompter is told to take the question down');
  t.same(GrantStore.open(dir).get(PLUGIN, 'ext:p2p-comm:send')?.deniedScopes, []);
  t.same(GrantStore.open(dir).get(PLUGIN, 'ext:p2p-comm:send')?.approvedScopes, []);
  t.match(audit.read().at(-1), { layer: 'scope', decision: 'timeout' });
});

t.test('a prompter that answers "deny" as it is taken down at the timeout revokes nothing: the call timed out', async (t) => {
  // As the web page's dialog does: aborted, it settles with "deny" at once.
  const denyOnAbort = <A>(signal: AbortSignal): Promise<A> => new Promise((resolve) => signal.addEventListener('abort', () => resolve('deny' as A)));
  const prompter: Prompter = {
    approvePermission: (_context, signal) => denyOnAbort(signal),
    approveScope: (_context, signal) => denyOnAbort(signal),
    approveHighRisk: (_context, signal) => denyOnAbort(signal),
  };
  const dir = tempDir(t);
  const grants = GrantStore.open(dir);
  grants.register({ id: PLUGIN, secret: 's'.repeat(16), extensions: { 'p2p-comm': ['send'] } });
  const audit = AuditLog.open(dir);
  const gate = new Gate({ extensionId: 'p2p-comm', manifest, grants, prompter, audit, dialogTimeoutMs: 20 });
  t.match(await gate.check(PLUGIN, 'send', SEND_INPUT), { allowed: false, status: 403, error: 'Approval timed out' });
  t.equal(GrantStore.open(dir).get(PLUGIN, 'ext:p2p-comm:send')?.state, 'deferred', 'not revoked: nobody said deny');
  grants.setState(PLUGIN, 'ext:p2p-comm:send', 'active');
  t.match(await gate.check(PLUGIN, 'send', SEND_INPUT), { allowed: false, error: 'Approval timed out' });
  t.same(GrantStore.open(dir).get(PLUGIN, 'ext:p2p-comm:send')?.deniedScopes, [], 'no scope denied');
  t.match(audit.read().at(-1), { layer: 'scope', decision: 'timeout' });
});

t.test('the dialog timeout applies to permission and high-risk prompts too', async (t) => {
  const silent: Prompter = {
    approvePermission: () => new Promise(() => undefined),
    approveScope: () => new Promise(() => undefined),
    approveHighRisk: () => new Promise(() => undefined),
  };
  const dir = tempDir(t);
  const grants = GrantStore.open(dir);
  grants.register({ id: PLUGIN, secret: 's'.repeat(16), extensions: { 'p2p-comm': ['status', 'revoke'] } });
  grants.setState(PLUGIN, 'ext:p2p-comm:revoke', 'active');
  const gate = new Gate({ extensionId: 'p2p-comm', manifest, grants, prompter: silent, audit: AuditLog.open(dir), dialogTimeoutMs: 20 });
  t.match(await gate.check(PLUGIN, 'status', {}), { allowed: false, status: 403, error: 'Approval timed out' });
  t.equal(stateOf(dir, 'status'), 'deferred', 'a timed-out permission stays deferred');
  t.match(await gate.check(PLUGIN, 'revoke', { peer: PEER }), { allowed: false, status: 403, error: 'Approval timed out' });
});

t.test('a prompter that cannot ask anyone refuses the call and remembers nothing', async (t) => {
  const nobody: Prompter = {
    approvePermission: () => Promise.reject(new NobodyToAskError('input closed')),
    approveScope: () => Promise.reject(new NobodyToAskError('input closed')),
    approveHighRisk: () => Promise.reject(new NobodyToAskError('input closed')),
  };
  const dir = tempDir(t);
  const grants = GrantStore.open(dir);
  grants.register({ id: PLUGIN, secret: 's'.repeat(16), extensions: { 'p2p-comm': ['status', 'send'] } });
  grants.setState(PLUGIN, 'ext:p2p-comm:send', 'active');
  const audit = AuditLog.open(dir);
  const gate = new Gate({ extensionId: 'p2p-comm', manifest, grants, prompter: nobody, audit });
  t.match(await gate.check(PLUGIN, 'status', {}), { allowed: false, status: 403, error: 'Approval timed out', details: /input closed; nothing was approved or remembered/ });
  t.equal(stateOf(dir, 'status'), 'deferred', 'not revoked');
  t.match(await gate.check(PLUGIN, 'send', SEND_INPUT), { allowed: false, status: 403 });
  t.same(GrantStore.open(dir).get(PLUGIN, 'ext:p2p-comm:send')?.deniedScopes, [], 'not denied');
  t.same(audit.read().filter((entry) => entry.decision === 'nobody').map((entry) => entry.layer), ['permission', 'scope']);
});

t.test('one open dialog per plugin: a second call that needs one is refused with 429, others are asked', async (t) => {
  let answer: (value: ScopeAnswer) => void = () => undefined;
  let opened: () => void = () => undefined;
  const dialogOpen = (): Promise<void> => new Promise((resolve) => (opened = resolve));
  const asked: string[] = [];
  const slow: Prompter = {
    approvePermission: async () => 'approve',
    approveScope: (context) => {
      asked.push(`${context.plugin} ${context.scope?.value ?? ''}`);
      opened();
      return new Promise((resolve) => {
        answer = resolve;
      });
    },
    approveHighRisk: async () => 'approve',
  };
  const dir = tempDir(t);
  const grants = GrantStore.open(dir);
  for (const id of [PLUGIN, 'agent-b']) {
    grants.register({ id, secret: 's'.repeat(16), extensions: { 'p2p-comm': ['send'] } });
    grants.setState(id, 'ext:p2p-comm:send', 'active');
  }
  const gate = new Gate({ extensionId: 'p2p-comm', manifest, grants, prompter: slow, audit: AuditLog.open(dir) });
  let open = dialogOpen();
  const first = gate.check(PLUGIN, 'send', SEND_INPUT);
  await open;
  t.same(await gate.check(PLUGIN, 'send', { ...SEND_INPUT, peer: OTHER_PEER }), {
    allowed: false,
    status: 429,
    error: 'Too many requests',
    details: "Not asked: plugin 'agent-a' already has a dialog open; call again once it is answered",
  });
  answer('allow');
  t.same(await first, { allowed: true });
  open = dialogOpen();
  const second = gate.check('agent-b', 'send', SEND_INPUT);
  await open;
  answer('once');
  t.same(await second, { allowed: true });
  t.same(asked, [`${PLUGIN} ${PEER}`, `agent-b ${PEER}`]);
});

t.test('a revocation or a scope denial made while a dialog is open decides the call', async (t) => {
  const dir = tempDir(t);
  const grants = GrantStore.open(dir);
  grants.register({ id: PLUGIN, secret: 's'.repeat(16), extensions: { 'p2p-comm': ['revoke', 'send'] } });
  grants.setState(PLUGIN, 'ext:p2p-comm:revoke', 'active');
  grants.setState(PLUGIN, 'ext:p2p-comm:send', 'active');
  const cli = GrantStore.open(dir);
  const meanwhile: Prompter = {
    approvePermission: async () => 'approve',
    approveScope: async () => {
      cli.denyScope(PLUGIN, 'ext:p2p-comm:send', OTHER_PEER);
      return 'once';
    },
    approveHighRisk: async () => {
      cli.setState(PLUGIN, 'ext:p2p-comm:revoke', 'revoked');
      return 'approve';
    },
  };
  const gate = new Gate({ extensionId: 'p2p-comm', manifest, grants, prompter: meanwhile, audit: AuditLog.open(dir) });
  t.match(await gate.check(PLUGIN, 'revoke', { peer: PEER }), { allowed: false, status: 403, error: 'Permission denied' });
  t.match(await gate.check(PLUGIN, 'send', { ...SEND_INPUT, peer: OTHER_PEER }), { allowed: false, status: 403, error: 'Scope approval denied' });
});

t.test('facts are gathered only when someone is asked', async (t) => {
  let gathered = 0;
  const dir = tempDir(t);
  const grants = GrantStore.open(dir);
  grants.register({ id: PLUGIN, secret: 's'.repeat(16), extensions: { 'p2p-comm': ['status', 'revoke'] } });
  grants.setState(PLUGIN, 'ext:p2p-comm:status', 'active');
  grants.setState(PLUGIN, 'ext:p2p-comm:revoke', 'active');
  const prompter = new ScriptedPrompter({ high_risk: ['approve'] });
  const describeCall = async (): Promise<string[]> => {
    gathered += 1;
    return ['fact'];
  };
  const gate = new Gate({ extensionId: 'p2p-comm', manifest, grants, prompter, audit: AuditLog.open(dir), describeCall });
  await gate.check(PLUGIN, 'status', {});
  t.equal(gathered, 0);
  await gate.check(PLUGIN, 'revoke', { peer: PEER });
  t.equal(gathered, 1);
  t.same(prompter.asked[0]?.context.details, ['fact']);
});

t.test('a change another process makes to the grants applies to the next call', async (t) => {
  const { dir, gate, prompter } = setup(t, { status: 'active', send: 'active' }, { scope: [] });
  t.same(await gate.check(PLUGIN, 'status', {}), { allowed: true });
  const cli = GrantStore.open(dir);
  cli.setState(PLUGIN, 'ext:p2p-comm:status', 'revoked');
  t.match(await gate.check(PLUGIN, 'status', {}), { allowed: false, status: 403, error: 'Permission denied' });
  cli.addScope(PLUGIN, 'ext:p2p-comm:send', PEER);
  t.same(await gate.check(PLUGIN, 'send', SEND_INPUT), { allowed: true }, 'a scope allowed by the CLI needs no dialog');
  t.same(prompter.kinds, []);
});

t.test('high risk, approved: asked with the full input and peer fingerprints', async (t) => {
  const { gate, prompter, decisions } = setup(t, { revoke: 'active' }, { high_risk: ['approve', 'approve'] });
  t.same(await gate.check(PLUGIN, 'revoke', { peer: PEER }), { allowed: true });
  t.same(await gate.check(PLUGIN, 'revoke', { peer: PEER }), { allowed: true });
  t.same(prompter.kinds, ['high_risk', 'high_risk'], 'asked on every call');
  const context = prompter.asked[0]?.context;
  t.same(context?.input, { peer: PEER });
  t.same(context?.details, [`facts of revoke ${JSON.stringify({ peer: PEER })}`]);
  t.equal(context?.riskLevel, 'high');
  t.notOk(context !== undefined && 'scope' in context, 'no scope in a risk prompt');
  t.same(decisions().slice(0, 5), ['extension:allowed', 'permission:allowed', 'schema:allowed', 'scope:skipped', 'risk:approve']);
});

t.test('high risk, denied', async (t) => {
  const { gate, decisions } = setup(t, { revoke: 'active' }, { high_risk: ['deny'] });
  t.same(await gate.check(PLUGIN, 'revoke', { peer: PEER }), {
    allowed: false,
    status: 403,
    error: 'Denied',
    details: 'User denied the high-risk operation',
  });
  t.same(decisions(), ['extension:allowed', 'permission:allowed', 'schema:allowed', 'scope:skipped', 'risk:deny']);
});

t.test('a just-in-time approval still goes through the scope check', async (t) => {
  const { dir, gate, prompter, decisions } = setup(t, { send: 'deferred' }, { permission: ['approve'], scope: ['deny'] });
  t.match(await gate.check(PLUGIN, 'send', SEND_INPUT), { allowed: false, status: 403, error: 'Scope approval denied' });
  t.same(prompter.kinds, ['permission', 'scope']);
  t.equal(stateOf(dir, 'send'), 'active', 'the permission approval itself stands');
  t.same(decisions(), ['extension:allowed', 'permission:approve', 'schema:allowed', 'scope:deny']);
});

t.test('a just-in-time approval still goes through the risk check', async (t) => {
  const { gate, prompter, decisions } = setup(t, { revoke: 'deferred' }, { permission: ['once'], high_risk: ['deny'] });
  t.match(await gate.check(PLUGIN, 'revoke', { peer: PEER }), { allowed: false, status: 403, error: 'Denied' });
  t.same(prompter.kinds, ['permission', 'high_risk']);
  t.same(decisions(), ['extension:allowed', 'permission:once', 'schema:allowed', 'scope:skipped', 'risk:deny']);
});

t.test('a just-in-time approval still goes through the schema check', async (t) => {
  const { gate, prompter } = setup(t, { revoke: 'deferred' }, { permission: ['approve'] });
  t.match(await gate.check(PLUGIN, 'revoke', { peer: 'x' }), { allowed: false, status: 400 });
  t.same(prompter.kinds, ['permission']);
});

/** Nexus's scope rule for operations whose scope field may be absent or not a string (not p2p-comm's case). */
t.test('a missing or non-string scope value skips the scope check', async (t) => {
  const operation: OperationDefinition = {
    name: 'lookup',
    description: 'Look something up',
    risk_level: 'low',
    input_schema: { type: 'object', properties: { folder: {} } },
    scope_key: 'folder',
    scope_description: 'Folder',
  };
  const dir = tempDir(t);
  const grants = GrantStore.open(dir);
  grants.register({ id: PLUGIN, secret: 's'.repeat(16), extensions: { other: ['lookup'] } });
  grants.setState(PLUGIN, 'ext:other:lookup', 'active');
  const audit = AuditLog.open(dir);
  const prompter = new ScriptedPrompter({ scope: ['once'] });
  const gate = new Gate({ extensionId: 'other', manifest: { operations: [operation] }, grants, prompter, audit });
  t.same(await gate.check(PLUGIN, 'lookup', {}), { allowed: true });
  t.same(await gate.check(PLUGIN, 'lookup', { folder: 7 }), { allowed: true });
  t.same(await gate.check(PLUGIN, 'lookup', { folder: 'docs' }), { allowed: true });
  t.same(prompter.kinds, ['scope']);
  t.same(
    audit.read().filter((entry) => entry.layer === 'scope').map((entry) => [entry.decision, entry.detail]),
    [['skipped', 'input.folder is not a string'], ['skipped', 'input.folder is not a string'], ['once', "scope 'folder' = 'docs' approved for this call only"]],
  );
});

t.test('an input_schema that cannot be compiled is named', async (t) => {
  const dir = tempDir(t);
  const operation: OperationDefinition = { name: 'broken', description: 'x', risk_level: 'low', input_schema: { type: 'object', frobnicate: true } };
  t.throws(
    () => new Gate({ extensionId: 'other', manifest: { operations: [operation] }, grants: GrantStore.open(dir), prompter: new ScriptedPrompter({}), audit: AuditLog.open(dir) }),
    { message: /operation 'broken' of extension 'other' has an input_schema that cannot be compiled: .*frobnicate/ },
  );
});

t.test('a caller that gives up while its dialog is open: the dialog is taken down, the call refused as abandoned, nothing remembered', async (t) => {
  const dialogs: AbortSignal[] = [];
  const waitForever = <A>(signal: AbortSignal): Promise<A> => {
    dialogs.push(signal);
    return new Promise(() => undefined);
  };
  const { dir, grants, audit } = setup(t, { send: 'deferred' });
  const prompter: Prompter = { approvePermission: (_c, signal) => waitForever(signal), approveScope: (_c, signal) => waitForever(signal), approveHighRisk: (_c, signal) => waitForever(signal) };
  const gate = new Gate({ extensionId: 'p2p-comm', manifest, grants, prompter, audit });
  const caller = new AbortController();
  const verdict = gate.check(PLUGIN, 'send', SEND_INPUT, caller.signal);
  while (dialogs.length === 0) await new Promise((resolve) => setImmediate(resolve));
  caller.abort();
  t.match(await verdict, { allowed: false, status: 403, error: 'Abandoned', details: /the caller gave up on the call while the just-in-time approval .* was asked; the dialog was taken down/ });
  t.ok(dialogs[0]?.aborted, 'the dialog was taken down');
  t.type(dialogs[0]?.reason, CallAbandoned, 'saying why');
  t.equal(GrantStore.open(dir).get(PLUGIN, 'ext:p2p-comm:send')?.state, 'deferred', 'nothing remembered');
  t.match(audit.read().at(-1), { layer: 'permission', decision: 'abandoned' });
  t.match(await gate.check(PLUGIN, 'send', SEND_INPUT, caller.signal), { error: 'Abandoned' }, 'a caller that gave up already is not asked');
  t.equal(dialogs.length, 1);
});

t.test('a call approved just as its caller gave up is refused, and audited as abandoned', async (t) => {
  const caller = new AbortController();
  const { gate, audit, decisions } = setup(t, { status: 'deferred' }, { permission: ['approve'] });
  // The caller gives up right after the person approved.
  const record = audit.record.bind(audit);
  audit.record = (entry) => {
    record(entry);
    if (entry.decision === 'approve') caller.abort();
  };
  t.match(await gate.check(PLUGIN, 'status', {}, caller.signal), { allowed: false, status: 403, error: 'Abandoned', details: /gave up on this call while a dialog was open: it was not run/ });
  t.same(decisions(), ['extension:allowed', 'permission:approve', 'schema:allowed', 'scope:skipped', 'risk:allowed', 'call:abandoned']);
  
});

t.test('the group scope: one approval per group id, which covers no other group; group_accept also asks on every call', async (t) => {
  const groupA = `grp-${'a'.repeat(32)}`;
  const groupB = `grp-${'b'.repeat(32)}`;
  const { dir, gate, prompter } = setup(t, { group_send: 'active', group_accept: 'active' }, { scope: ['allow', 'allow', 'allow'], high_risk: ['approve', 'approve'] });
  const send = (group: string) => gate.check(PLUGIN, 'group_send', { group, type: 'text', content: 'hi' });
  t.same(await send(groupA), { allowed: true });
  t.same(await send(groupA), { allowed: true }, 'not asked again for that group');
  t.same(await send(groupB), { allowed: true });
  t.same(prompter.kinds, ['scope', 'scope'], 'another group is asked for');
  t.match(prompter.asked[0]?.context, { scope: { key: 'group', value: groupA, description: /^Group this plugin may act in/ } });
  t.same(scopesOf(dir, 'group_send'), [groupA, groupB]);
  t.same(await gate.check(PLUGIN, 'group_accept', { group: groupA }), { allowed: true });
  t.same(await gate.check(PLUGIN, 'group_accept', { group: groupA }), { allowed: true });
  t.same(prompter.kinds.slice(2), ['scope', 'high_risk', 'high_risk'], 'the group once, the high risk every call');
  t.same(scopesOf(dir, 'group_accept'), [groupA], 'a scope approved for group_send is not one for group_accept');
});
