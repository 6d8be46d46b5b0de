import { type AgentCard, type Task, TaskState } from '@a2a-js/sdk';
import type { Client, ClientFactory } from '@a2a-js/sdk/client';
import t, { type Test } from 'tap';
import { PluginClient } from '../../permissions/demo/plugin-client';
import type { PeerAgentOptions } from '../../permissions/a2a/peer-agent-routes';
import type { PluginDeclaration } from '../../permissions/gate/types';
import type { RpcResponse } from '../../permissions/host/extension-process';
import { MEETING_CARD, PullAgent } from '../helpers/a2a-pull-agent';
import { sdkFactory, userMessage, type SendParams } from '../helpers/a2a-sdk-client';
import { approveAll, pairPlugins, startMcpSide, tokenFor, type McpSide } from '../helpers/mcp-clients';
import { eventually } from '../helpers/node';

/**
 * Two reference hosts. At A, an A2A client built only with the A2A SDK
 * calls B's agent at A's `/a2a/<B>/`, authenticated as A's plugin
 * `caller`; at B, an SDK agent serves in pull mode through B's Host API
 * as B's plugin `agent`. Every dialog is answered by the side's policy.
 */
const CALLER: PluginDeclaration = { id: 'caller', secret: 'caller-secret-of-a-0123456789', extensions: { 'p2p-comm': ['identity', 'pair', 'peers', 'send'] } };
const AGENT: PluginDeclaration = {
  id: 'agent',
  secret: 'agent-secret-of-b-0123456789',
  extensions: { 'p2p-comm': ['identity', 'requests', 'accept', 'a2a_set_card', 'a2a_serve', 'a2a_respond'] },
};

/** B's plugin in the shape the pull agent calls a node in. */
function pluginNode(client: PluginClient): { call: (operation: string, input?: Record<string, unknown>) => Promise<Record<string, unknown>>; attempt: (operation: string, input?: Record<string, unknown>) => Promise<RpcResponse> } {
  return {
    call: (operation, input = {}) => client.data(operation, input),
    attempt: async (operation, input = {}) => {
      const { status, body } = await client.call(operation, input);
      return status === 200 ? { id: 0, result: { data: body['data'] } } : { id: 0, error: { code: status, message: JSON.stringify(body) } };
    },
  };
}

interface Sides {
  a: McpSide;
  b: McpSide;
  bId: string;
  client: Client;
  factory: ClientFactory;
  agent: PullAgent;
}

/** `serving`: whether B's agent runs from the start. */
async function setUp(t: Test, { serving = true, a2a }: { serving?: boolean; a2a?: PeerAgentOptions } = {}): Promise<Sides> {
  const a = await startMcpSide(t, [], approveAll('caller'), [CALLER], undefined, a2a);
  const b = await startMcpSide(t, [], approveAll('agent'), [AGENT]);
  const caller = new PluginClient(a.node.apiUrl, CALLER.id, CALLER.secret);
  const agentPlugin = new PluginClient(b.node.apiUrl, AGENT.id, AGENT.secret);
  const { callerId: aId, acceptorId: bId } = await pairPlugins(caller, agentPlugin);
  await agentPlugin.data('a2a_set_card', { card: MEETING_CARD });
  await eventually(async () => ((await caller.data('peers'))['peers'] as { peer: string; agent_card: unknown }[]).some((peer) => peer.peer === bId && peer.agent_card !== null), "B's card at A");
  const agent = new PullAgent(pluginNode(agentPlugin), aId);
  if (serving) agent.start();
  t.teardown(() => agent.stop());
  const factory = sdkFactory(await tokenFor(a, CALLER.id));
  const client = await factory.createFromUrl(`${a.node.apiUrl}/a2a/${bId}/`);
  return { a, b, bId, client, factory, agent };
}

t.test('an unmodified A2A client calls a paired peer through its host: blocking, streaming, GetTask, CancelTask', async (t) => {
  const { a, bId, client, agent } = await setUp(t);

  const card = await client.getAgentCard();
  t.equal(card.name, MEETING_CARD.name, "the card is B's agent's");
  t.equal(card.supportedInterfaces[0]?.url, `${a.node.apiUrl}/a2a/${bId}/`, 'served at A');

  const result = await client.sendMessage({ tenant: '', message: userMessage('m-1', 'plan a meeting on Friday'), configuration: undefined, metadata: undefined } as SendParams);
  t.ok('status' in result, 'a blocking SendMessage answers with the task');
  const task = result as Task;
  t.equal(task.status?.state, TaskState.TASK_STATE_COMPLETED);
  t.match(task.artifacts[0]?.parts[0]?.content, { $case: 'text', value: 'Meet on Friday.' });

  const kinds: string[] = [];
  const states: (TaskState | undefined)[] = [];
  for await (const event of client.sendMessageStream({ tenant: '', message: userMessage('m-2', 'plan a meeting'), configuration: undefined, metadata: undefined } as SendParams)) {
    const payload = event.payload;
    if (payload === undefined) continue;
    kinds.push(payload.$case);
    if (payload.$case === 'task') states.push(payload.value.status?.state);
    if (payload.$case === 'statusUpdate') states.push(payload.value.status?.state);
  }
  t.same(kinds, ['task', 'statusUpdate', 'artifactUpdate', 'statusUpdate'], 'the events in order');
  t.same(states, [TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING, TaskState.TASK_STATE_COMPLETED], 'ending in a terminal state');

  const got = await client.getTask({ tenant: '', id: task.id, historyLength: undefined } as Parameters<Client['getTask']>[0]);
  t.equal(got.id, task.id);
  t.equal(got.status?.state, TaskState.TASK_STATE_COMPLETED);

  const held = (await client.sendMessage({
    tenant: '',
    message: userMessage('m-3', 'hold this one'),
    configuration: { returnImmediately: true, acceptedOutputModes: [], historyLength: undefined, taskPushNotificationConfig: undefined },
    metadata: undefined,
  } as unknown as SendParams)) as Task;
  t.ok(held.id !== undefined && held.id !== '', 'returnImmediately: the task at once');
  const canceled = await client.cancelTask({ tenant: '', id: held.id, metadata: undefined } as Parameters<Client['cancelTask']>[0]);
  t.equal(canceled.status?.state, TaskState.TASK_STATE_CANCELED);
  agent.executor.release();

  const audited = a.node.audit.read().filter((entry) => entry.plugin === 'caller' && entry.operation === 'send' && entry.layer === 'scope');
  t.ok(audited.length >= 5, 'every call and the card read were gated as send with the peer in scope');
  t.same(agent.failures, [], 'the agent served every request it took');
});

t.test('a peer this node is not paired with: -32062 at the client, and nothing is sent', async (t) => {
  const { a, bId, factory } = await setUp(t);
  const card = (await (await fetch(`${a.node.apiUrl}/a2a/${bId}/.well-known/agent-card.json`, { headers: { authorization: `Bearer ${await tokenFor(a, CALLER.id)}` } })).json()) as AgentCard;
  const stranger = 'b'.repeat(51) + 'q';
  const strangerUrl = `${a.node.apiUrl}/a2a/${stranger}/`;
  const client = await factory.createFromAgentCard({ ...card, supportedInterfaces: [{ url: strangerUrl, protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' }] });
  const refused = await client.sendMessage({ tenant: '', message: userMessage('m-x', 'hello?'), configuration: undefined, metadata: undefined } as SendParams).then(
    () => undefined,
    (error: unknown) => error as { envelopeCode?: number; data?: unknown },
  );
  t.equal(refused?.envelopeCode, -32062, 'not paired');
  t.match(refused?.data, [{ reason: 'NOT_PAIRED', domain: 'p2p-comm' }]);
});

t.test('no answer within the wait: -32060 with the request id; the same message sent again re-attaches and gets the answer', async (t) => {
  const { client, agent } = await setUp(t, { serving: false, a2a: { waitMs: 500 } });
  const params = { tenant: '', message: userMessage('m-late', 'plan a meeting on Friday'), configuration: undefined, metadata: undefined } as SendParams;
  const pending = await client.sendMessage(params).then(
    () => undefined,
    (error: unknown) => error as { envelopeCode?: number; data?: { reason: string; metadata: Record<string, string> }[] },
  );
  t.equal(pending?.envelopeCode, -32060, 'queued, not answered within the wait');
  t.match(pending?.data?.[0]?.reason, /^(PEER_OFFLINE|ANSWER_PENDING)$/);
  const requestId = pending?.data?.[0]?.metadata['request_id'];
  t.match(requestId, /^[0-9a-f]{32}$/, 'the ErrorInfo names the queued request');

  agent.start();
  const answered = (await client.sendMessage(params)) as Task;
  t.equal(answered.status?.state, TaskState.TASK_STATE_COMPLETED, 'the same message again: the answer of the queued request');
  t.match(answered.artifacts[0]?.parts[0]?.content, { $case: 'text', value: 'Meet on Friday.' });
  t.equal(agent.executor.executed, 1, 'one request reached the agent, not two');
  t.same([...agent.answered.keys()], [requestId], 'the one queued at first');
});
