import { type AgentCard, type Task, TaskState } from '@a2a-js/sdk';
import type { Client } from '@a2a-js/sdk/client';
import t from 'tap';
import { PluginClient } from '../../permissions/demo/plugin-client';
import type { PluginDeclaration } from '../../permissions/gate/types';
import { PLANNER_NAME, PLANNER_SKILL, startExpressAgent, textOf } from '../helpers/a2a-express-agent';
import { rpcErrorOf, sdkFactory, userMessage, type SendParams } from '../helpers/a2a-sdk-client';
import { approveAll, pairPlugins, startMcpSide, tokenFor, writePluginFile } from '../helpers/mcp-clients';
import { eventually } from '../helpers/node';

/**
 * The A2A SDK on both ends, each used as its README shows. At B, an agent
 * built with the SDK's express handlers and no authentication, declared in
 * B's plugin file; at A, the SDK's client calling B's agent at A's
 * `/a2a/<B>/` with a plugin's bearer token. Every dialog is answered by the
 * side's policy.
 */
const CALLER: PluginDeclaration = { id: 'caller', secret: 'caller-secret-of-a-0123456789', extensions: { 'p2p-comm': ['identity', 'pair', 'peers', 'send'] } };
const OWNER: PluginDeclaration = { id: 'owner', secret: 'owner-secret-of-b-0123456789', extensions: { 'p2p-comm': ['identity', 'requests', 'accept'] } };
/** How long A's host waits for an answer before a blocking call gets -32060: short, so the offline cases end soon. */
const WAIT_MS = 4_000;

const send = (message: SendParams['message'], configuration?: { returnImmediately: boolean }): SendParams =>
  ({ tenant: '', message, configuration: configuration === undefined ? undefined : { acceptedOutputModes: [], historyLength: undefined, taskPushNotificationConfig: undefined, ...configuration }, metadata: undefined }) as SendParams;
const getTask = (id: string): Parameters<Client['getTask']>[0] => ({ tenant: '', id, historyLength: undefined }) as Parameters<Client['getTask']>[0];

/** What a stream brought: its task's ids, the state of each task and status event in order, and the texts of its artifacts. */
async function streamed(client: Client, params: SendParams): Promise<{ taskId: string; contextId: string; states: TaskState[]; artifacts: string[] }> {
  const seen = { taskId: '', contextId: '', states: [] as TaskState[], artifacts: [] as string[] };
  for await (const event of client.sendMessageStream(params)) {
    const payload = event.payload;
    if (payload?.$case === 'task') Object.assign(seen, { taskId: payload.value.id, contextId: payload.value.contextId });
    if (payload?.$case === 'task' || payload?.$case === 'statusUpdate') seen.states.push(payload.value.status?.state ?? TaskState.TASK_STATE_UNSPECIFIED);
    if (payload?.$case === 'artifactUpdate') seen.artifacts.push(payload.value.artifact?.parts.map((part) => (part.content?.$case === 'text' ? part.content.value : '')).join('') ?? '');
  }
  return seen;
}

function artifactText(task: Task): string {
  return task.artifacts.flatMap((artifact) => artifact.parts.map((part) => (part.content?.$case === 'text' ? part.content.value : ''))).join('');
}

t.test('the A2A SDK on both ends: an express agent behind host B, the SDK client at host A', async (t) => {
  const agent = await startExpressAgent(t);
  const a = await startMcpSide(t, [], approveAll('caller'), [CALLER], undefined, { waitMs: WAIT_MS });
  const b = await startMcpSide(t, [], approveAll('owner', 'planner'), [OWNER]);
  const caller = new PluginClient(a.node.apiUrl, CALLER.id, CALLER.secret);
  const { acceptorId: bId } = await pairPlugins(caller, new PluginClient(b.node.apiUrl, OWNER.id, OWNER.secret));
  writePluginFile(b.hostDir, { id: 'planner', secret: 'planner-secret-of-b-0123456789', extensions: { 'p2p-comm': ['receive', 'a2a_set_card'] }, a2a: { url: agent.url } });
  await eventually(
    async () => ((await caller.data('peers'))['peers'] as { peer: string; agent_card: { name?: string } | null }[]).some((peer) => peer.peer === bId && peer.agent_card?.name === PLANNER_NAME),
    "the express agent's card, published by B, at A",
  );
  const factory = sdkFactory(await tokenFor(a, CALLER.id));
  const client = await factory.createFromUrl(`${a.node.apiUrl}/a2a/${bId}/`);

  t.test('the card, resolved through A, is the agent’s', async (t) => {
    const card = await client.getAgentCard();
    t.equal(card.name, PLANNER_NAME);
    t.same(
      card.skills.map((skill) => [skill.id, skill.name]),
      [[PLANNER_SKILL.id, PLANNER_SKILL.name]],
    );
    t.equal(card.supportedInterfaces[0]?.url, `${a.node.apiUrl}/a2a/${bId}/`, "served at A's url, not the agent's localhost one");
  });

  let planned: Task | undefined;
  t.test('blocking: "plan" asks which day (INPUT_REQUIRED); the reply in the same task completes it with the plan', async (t) => {
    const asked = (await client.sendMessage(send(userMessage('plan-1', 'plan our review')))) as Task;
    t.equal(asked.status?.state, TaskState.TASK_STATE_INPUT_REQUIRED);
    t.equal(textOf(asked.status?.message), 'Which day suits you?');
    const replied = (await client.sendMessage(send(userMessage('plan-2', 'Friday', { taskId: asked.id, contextId: asked.contextId })))) as Task;
    t.equal(replied.id, asked.id, 'the same task');
    t.equal(replied.contextId, asked.contextId);
    t.equal(replied.status?.state, TaskState.TASK_STATE_COMPLETED);
    t.equal(artifactText(replied), 'Meet on Friday.');
    planned = replied;
  });

  t.test('streaming: SUBMITTED, WORKING, INPUT_REQUIRED in order; a streamed reply brings the artifact, then COMPLETED', async (t) => {
    const asked = await streamed(client, send(userMessage('stream-1', 'plan a call')));
    t.same(asked.states, [TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING, TaskState.TASK_STATE_INPUT_REQUIRED]);
    t.same(asked.artifacts, [], 'no plan yet');
    const reply = await streamed(client, send(userMessage('stream-2', 'Monday', { taskId: asked.taskId, contextId: asked.contextId })));
    t.equal(reply.taskId, asked.taskId, 'the same task');
    t.same(reply.artifacts, ['Meet on Monday.']);
    t.equal(reply.states.at(-1), TaskState.TASK_STATE_COMPLETED, 'ending COMPLETED');
  });

  t.test('GetTask: the task with its state, artifact and history', async (t) => {
    if (planned === undefined) {
      t.fail('no task from the blocking case');
      return;
    }
    const got = await client.getTask(getTask(planned.id));
    t.equal(got.id, planned.id);
    t.equal(got.status?.state, TaskState.TASK_STATE_COMPLETED);
    t.equal(artifactText(got), 'Meet on Friday.');
    const said = got.history.map((message) => textOf(message));
    t.ok(said.includes('plan our review') && said.includes('Friday'), `both turns of the user in the history: ${JSON.stringify(said)}`);
  });

  t.test('CancelTask on a "slow" task: CANCELED', async (t) => {
    const held = (await client.sendMessage(send(userMessage('slow-cancel', 'slow one'), { returnImmediately: true }))) as Task;
    t.ok(held.id !== '', 'returnImmediately: the task at once');
    await agent.executor.slowTaskHeld();
    const canceled = await client.cancelTask({ tenant: '', id: held.id, metadata: undefined } as Parameters<Client['cancelTask']>[0]);
    t.equal(canceled.status?.state, TaskState.TASK_STATE_CANCELED);
    t.equal((await client.getTask(getTask(held.id))).status?.state, TaskState.TASK_STATE_CANCELED, 'and stays so');
  });

  t.test('the serving node restarts while a "slow" task is open at the agent: the task completes, once', async (t) => {
    const message = userMessage('slow-restart', 'slow one', { contextId: 'ctx-restart' });
    const pending = await rpcErrorOf(client.sendMessage(send(message)));
    t.equal(pending?.envelopeCode, -32060, 'no answer within the wait');
    t.equal(pending?.data?.[0]?.reason, 'ANSWER_PENDING', "the request is with the peer's agent");
    const taskId = pending?.data?.[0]?.metadata?.['task_id'];
    t.ok(taskId !== undefined && taskId !== '', 'the ErrorInfo names the task');
    await agent.executor.slowTaskHeld();

    await b.stop();
    await b.start();
    agent.executor.releaseSlow();
    const done = await eventually(async () => {
      const got = await client.getTask(getTask(taskId ?? '')).catch(() => undefined);
      return got?.status?.state === TaskState.TASK_STATE_COMPLETED ? got : undefined;
    }, 'the task COMPLETED, read through A', 30_000);
    t.equal(artifactText(done), 'Meet on Tuesday.');
    const again = await rpcErrorOf(client.sendMessage(send(message)));
    t.equal(again?.envelopeCode, -32064, 'the same message again: B cannot tell what its agent did with it, and says so rather than run it twice');
    t.equal(again?.data?.[0]?.reason, 'SERVING_INTERRUPTED');
    t.equal((await agent.tasksIn('ctx-restart')).length, 1, 'the agent holds one task');
    t.same(
      agent.executor.executed.filter((id) => id === 'slow-restart'),
      ['slow-restart'],
      'it ran the message once',
    );
  });

  t.test('the serving node offline: -32060 PEER_OFFLINE; once it is back, the same message gets the answer, run once', async (t) => {
    await b.stop();
    const params = send(userMessage('offline-1', 'plan the offsite'));
    const pending = await rpcErrorOf(client.sendMessage(params));
    t.equal(pending?.envelopeCode, -32060);
    t.equal(pending?.data?.[0]?.reason, 'PEER_OFFLINE', 'not delivered');
    t.match(pending?.data?.[0]?.metadata?.['request_id'], /^[0-9a-f]{32}$/, 'the ErrorInfo names the queued request');

    await b.start();
    await eventually(async () => agent.executor.executed.includes('offline-1'), 'the queued request at the agent', 30_000);
    const answered = (await client.sendMessage(params)) as Task;
    t.equal(answered.status?.state, TaskState.TASK_STATE_INPUT_REQUIRED, 'the same message again: the answer of the queued request');
    t.equal(textOf(answered.status?.message), 'Which day suits you?');
    t.same(
      agent.executor.executed.filter((id) => id === 'offline-1'),
      ['offline-1'],
      'the agent ran it once',
    );
  });

  t.test('a peer this node is not paired with: -32062, and nothing reaches the agent', async (t) => {
    const ran = agent.executor.executed.length;
    const card = await client.getAgentCard();
    const strangerUrl = `${a.node.apiUrl}/a2a/${'b'.repeat(51)}q/`;
    const stranger = await factory.createFromAgentCard({ ...card, supportedInterfaces: [{ url: strangerUrl, protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' }] } as AgentCard);
    const refused = await rpcErrorOf(stranger.sendMessage(send(userMessage('stranger-1', 'plan something'))));
    t.equal(refused?.envelopeCode, -32062);
    t.match(refused?.data, [{ reason: 'NOT_PAIRED', domain: 'p2p-comm' }]);
    t.equal(agent.executor.executed.length, ran, 'the agent ran nothing');
  });
});
