import t, { type Test } from 'tap';
import { publicKeyFromPeerId } from '../../extension/common/peer-id';
import { AckReason, AckStatus } from '../../extension/wire/delivery-codes';
import { MSG_BATCH, MSG_RECEIPT } from '../../extension/wire/session-messages';
import { MEETING_CARD, PullAgent } from '../helpers/a2a-pull-agent';
import { batchOf, exceptionsOf, readReceipt, textLeaf } from '../helpers/batches';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';
import { pairedRawPeer } from '../helpers/raw-peer';

interface Answer {
  seq: number;
  kind: 'event' | 'result' | 'error' | 'end';
  body: Record<string, any> | null;
}

interface TaskView {
  request_id: string;
  state: string;
  task: { id: string; context_id: string | null; state: string | null } | null;
  answers: Answer[];
  ended: boolean;
}

function userMessage(messageId: string, text: string, extra: Record<string, unknown> = {}) {
  return { messageId, role: 'ROLE_USER', parts: [{ text }], ...extra };
}

async function send(node: TestNode, peer: string, method: string, params: Record<string, unknown>): Promise<{ request_id: string; reattached: boolean }> {
  return (await node.call('a2a_send', { peer, request: { method, params } })) as unknown as { request_id: string; reattached: boolean };
}

/** The answers to a request once they have all arrived. */
async function answered(node: TestNode, peer: string, requestId: string): Promise<TaskView> {
  return eventually(async () => {
    const view = (await node.call('a2a_task', { peer, request_id: requestId, wait_ms: 200 })) as unknown as TaskView;
    return view.ended ? view : false;
  }, `the answers to ${requestId}`);
}

/** Two paired nodes; bob serves an SDK agent in pull mode. */
async function setUp(t: Test) {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  await bob.call('a2a_set_card', { card: MEETING_CARD });
  const agent = new PullAgent(bob, aId);
  agent.start();
  t.teardown(() => agent.stop());
  return { alice, bob, aId, bId, agent };
}

t.test('SendMessage: a task SUBMITTED, WORKING, COMPLETED with its artifact; GetTask; the nodes say which capability they have', async (t) => {
  const { alice, bob, aId, bId, agent } = await setUp(t);
  const peers = (await alice.call('peers'))['peers'] as { capabilities: { capabilities: string[] } }[];
  t.ok(peers[0]?.capabilities.capabilities.includes('a2a-binding-v1'), 'the binding has its own capability');

  const sent = await send(alice, bId, 'SendStreamingMessage', { message: userMessage('m-1', 'plan a meeting', { contextId: 'ctx-1' }) });
  t.equal(sent.reattached, false);
  t.match(sent.request_id, /^[0-9a-f]{32}$/);
  const view = await answered(alice, bId, sent.request_id);
  t.same(view.answers.map((answer) => answer.seq), view.answers.map((_, index) => index), 'answers in order, without gaps');
  t.equal(view.answers.at(-1)?.kind, 'end', 'the stream ends with its end marker');
  const events = view.answers.slice(0, -1).map((answer) => answer.body as Record<string, any>);
  t.same(
    events.map((event) => Object.keys(event)[0]),
    ['task', 'statusUpdate', 'artifactUpdate', 'statusUpdate'],
    'the task, then its updates',
  );
  t.equal(events[0]?.['task'].status.state, 'TASK_STATE_SUBMITTED');
  t.equal(events[1]?.['statusUpdate'].status.state, 'TASK_STATE_WORKING');
  t.same(events[2]?.['artifactUpdate'].artifact.parts, [{ text: 'Meet on Tuesday.', mediaType: 'text/plain' }]);
  t.equal(events[3]?.['statusUpdate'].status.state, 'TASK_STATE_COMPLETED');
  t.equal(events[0]?.['task'].contextId, 'ctx-1', 'the contextId is the conversation, kept verbatim');
  t.match(view.task, { state: 'TASK_STATE_COMPLETED', context_id: 'ctx-1' });
  t.equal(view.state, 'answered');
  const taskId = events[0]?.['task'].id as string;
  t.ok(bob.events.some((event) => event.type === 'p2p.a2a.request' && event.data['request_id'] === sent.request_id), 'bob announced the request');
  t.ok(alice.events.some((event) => event.type === 'p2p.a2a.answer' && event.data['end'] === true), 'alice announced the end');

  const blocking = await send(alice, bId, 'SendMessage', { message: userMessage('m-2', 'plan another meeting on Friday') });
  const result = (await answered(alice, bId, blocking.request_id)).answers;
  t.equal(result.length, 1, 'a blocking call: one result');
  t.match(result[0], { kind: 'result', body: { task: { status: { state: 'TASK_STATE_COMPLETED' }, artifacts: [{ parts: [{ text: 'Meet on Friday.' }] }] } } });

  const got = await send(alice, bId, 'GetTask', { id: taskId });
  t.match((await answered(alice, bId, got.request_id)).answers[0], { kind: 'result', body: { id: taskId, status: { state: 'TASK_STATE_COMPLETED' } } });
  const byTask = (await alice.call('a2a_task', { peer: bId, task_id: taskId })) as unknown as TaskView;
  t.equal(byTask.request_id, got.request_id, 'a2a_task finds the newest request about a task');
  const missing = await send(alice, bId, 'GetTask', { id: 'no-such-task' });
  t.match((await answered(alice, bId, missing.request_id)).answers[0], { kind: 'error', body: { code: -32001 } }, 'A2A errors travel as they are');

  const plain = await bob.call('receive', { peer: aId });
  t.same(plain['messages'], [], 'receive never returns A2A envelopes');
  await alice.call('send', { peer: bId, type: 'text', content: 'plain hello' });
  const received = await eventually(async () => {
    const messages = (await bob.call('receive', { peer: aId, wait_ms: 200 }))['messages'] as { content: unknown }[];
    return messages.length > 0 ? messages : false;
  }, 'the plain message');
  t.same(received.map((message) => message.content), ['plain hello'], 'and A2A does not eat plain messages');
  t.same(agent.failures, [], 'the agent served every request it took');
});

t.test('CancelTask, INPUT_REQUIRED round trip', async (t) => {
  const { alice, bId, agent } = await setUp(t);
  const asked = await send(alice, bId, 'SendMessage', { message: userMessage('m-q', 'which day works?', { contextId: 'ctx-q' }) });
  const question = (await answered(alice, bId, asked.request_id)).answers[0];
  t.match(question, { kind: 'result', body: { task: { status: { state: 'TASK_STATE_INPUT_REQUIRED', message: { parts: [{ text: 'Which day suits you?' }] } } } } });
  const taskId = question?.body?.['task'].id as string;
  const reply = await send(alice, bId, 'SendMessage', { message: userMessage('m-r', 'Friday', { contextId: 'ctx-q', taskId }) });
  t.match((await answered(alice, bId, reply.request_id)).answers[0], { kind: 'result', body: { task: { id: taskId, status: { state: 'TASK_STATE_COMPLETED' }, artifacts: [{ parts: [{ text: 'Meet on Friday.' }] }] } } }, 'the same task completes');

  const held = await send(alice, bId, 'SendMessage', { message: userMessage('m-h', 'hold this one'), configuration: { returnImmediately: true } });
  const working = (await answered(alice, bId, held.request_id)).answers[0]?.body?.['task'];
  t.ok(working !== undefined, 'returnImmediately gives the task at once');
  const cancel = await send(alice, bId, 'CancelTask', { id: working.id });
  t.match((await answered(alice, bId, cancel.request_id)).answers[0], { kind: 'result', body: { id: working.id, status: { state: 'TASK_STATE_CANCELED' } } });
  agent.executor.release();
  t.same(agent.failures, [], 'the agent served every request it took');
});

t.test('colliding client messageIds are two requests; the same message sent again re-attaches', async (t) => {
  const { alice, bId, agent } = await setUp(t);
  const first = await send(alice, bId, 'SendMessage', { message: userMessage('same-id', 'plan a meeting') });
  const second = await send(alice, bId, 'SendMessage', { message: userMessage('same-id', 'plan a meeting on Friday') });
  t.not(first.request_id, second.request_id, 'other params: another request');
  const [one, two] = [await answered(alice, bId, first.request_id), await answered(alice, bId, second.request_id)];
  t.match(one.answers[0]?.body, { task: { artifacts: [{ parts: [{ text: 'Meet on Tuesday.' }] }] } });
  t.match(two.answers[0]?.body, { task: { artifacts: [{ parts: [{ text: 'Meet on Friday.' }] }] } }, 'both delivered, neither taken as the other’s duplicate');
  t.not(one.task?.id, two.task?.id, 'two tasks');
  const again = await send(alice, bId, 'SendMessage', { message: userMessage('same-id', 'plan a meeting') });
  t.same(again, { ...again, request_id: first.request_id, reattached: true }, 'same messageId and params: re-attached, nothing sent');
  t.equal(agent.executor.executed, 2, 'the agent ran twice, not three times');
  t.same(agent.failures, [], 'the agent served every request it took');
});

t.test('the serving node restarts with a request in flight: the request survives and the answer arrives after', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  await bob.call('a2a_set_card', { card: MEETING_CARD });
  const sent = await send(alice, bId, 'SendMessage', { message: userMessage('m-r', 'plan a meeting') });
  await eventually(async () => (((await bob.call('a2a_serve', { peer: aId }))['requests'] as unknown[]).length === 1), 'the request stored at bob');
  t.equal((await alice.call('a2a_task', { peer: bId, request_id: sent.request_id }))['state'], 'delivered', 'delivered, not answered yet');
  bob.extension.kill('SIGKILL');
  await bob.extension.exited;

  const bob2 = await startNode(t, { dataDir: bob.dataDir });
  const agent = new PullAgent(bob2, aId);
  agent.start();
  t.teardown(() => agent.stop());
  const view = await answered(alice, bId, sent.request_id);
  t.match(view.answers[0], { kind: 'result', body: { task: { status: { state: 'TASK_STATE_COMPLETED' } } } }, 'answered by the restarted node');

  // Mid-task: the agent has claimed the request and works on it when the serving node stops.
  const held = await send(alice, bId, 'SendMessage', { message: userMessage('m-h', 'hold this one') });
  await agent.holdingOne();
  bob2.extension.kill('SIGKILL');
  await bob2.extension.exited;
  await agent.stop();
  const bob3 = await startNode(t, { dataDir: bob.dataDir });
  const listed = (await bob3.call('a2a_serve', { peer: aId }))['requests'] as { request_id: string; claimed: boolean }[];
  t.same(listed.map((request) => [request.request_id, request.claimed]), [[held.request_id, true]], 'after the restart the request is offered again, marked as taken before');
  const resumed = new PullAgent(bob3, aId, agent.taskStore);
  resumed.start();
  t.teardown(() => resumed.stop());
  await resumed.holdingOne();
  resumed.executor.release();
  t.match((await answered(alice, bId, held.request_id)).answers[0], { kind: 'result', body: { task: { status: { state: 'TASK_STATE_COMPLETED' } } } }, 'and its answer reaches the caller');

  // The caller down while the answer travels: it is waiting in bob's outbox, then in alice's exchange store.
  const later = await send(alice, bId, 'SendMessage', { message: userMessage('m-l', 'plan a meeting') });
  await eventually(async () => resumed.answered.get(later.request_id) === 1, 'bob answered');
  alice.extension.kill('SIGKILL');
  await alice.extension.exited;
  const alice2 = await startNode(t, { dataDir: alice.dataDir });
  t.match((await answered(alice2, bId, later.request_id)).answers[0], { kind: 'result' }, 'the answer is there after the caller restarts');
});

t.test('a peer that is not paired is refused; a node with no agent answers NO_A2A_AGENT', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const carol = await startNode(t);
  const { bId } = await pairNodes(alice, bob);
  const carolId = (await carol.call('identity'))['peer_id'] as string;
  const stranger = await alice.attempt('a2a_send', { peer: carolId, request: { method: 'GetTask', params: { id: 'x' } } });
  t.equal(stranger.error?.code, -32013, 'not paired: refused, nothing queued');
  const noAgent = await send(alice, bId, 'GetTask', { id: 'x' });
  t.match((await answered(alice, bId, noAgent.request_id)).answers[0], { kind: 'error', body: { code: -32063, data: [{ reason: 'NO_A2A_AGENT', domain: 'p2p-comm' }] } });
  const bad = await alice.attempt('a2a_send', { peer: bId, request: { method: 'SendMessage', params: { message: {} } } });
  t.match(bad.error?.message, /messageId/, 'a request the peer would refuse is refused here');

  await bob.call('a2a_set_card', { card: MEETING_CARD });
  const unanswered = await send(alice, bId, 'SendMessage', { message: userMessage('m-u', 'plan a meeting') });
  await eventually(async () => (await alice.call('a2a_task', { peer: bId, request_id: unanswered.request_id }))['state'] === 'delivered', 'the request delivered');
  await alice.call('revoke', { peer: bId });
  t.match(await alice.call('a2a_task', { peer: bId, request_id: unanswered.request_id }), { state: 'failed', reason: 'revoked', ended: true }, 'revoked: the exchange fails, no answer will come');
});

t.test('a peer’s malformed A2A payload is refused; an answer to no request is dropped and counted', async (t) => {
  const bob = await startNode(t);
  const bId = (await bob.call('identity'))['peer_id'] as string;
  const address = ((await bob.call('status'))['listening'] as { addresses: string[] }).addresses[0] as string;
  const mallory = await pairedRawPeer(bob, address, bId, 'mallory');
  const bobKey = publicKeyFromPeerId(bId);
  const send = async (leaves: Uint8Array[], position: number) => {
    mallory.channel.send(MSG_BATCH, batchOf(mallory.identity, bobKey, leaves));
    for (;;) {
      const [type, body] = await mallory.next();
      if (type !== MSG_RECEIPT) continue;
      const receipt = readReceipt(body, bobKey, mallory.identity.publicKey, mallory.channel.sessionId);
      if (receipt.lastBatch === position) return exceptionsOf(receipt);
    }
  };
  const badRequest = textLeaf('{"v":1,"method":"SendMessage","params":{"message":{}},"service":{},"expires_at":1}', { type: 'a2a_request' });
  const stray = textLeaf('{"v":1,"seq":0,"end":true}', { type: 'a2a_response', correlationId: 'f'.repeat(32) });
  t.same(await send([badRequest, stray], 0), [{ id: Buffer.from(badRequest.subarray(0, 16)).toString('hex'), status: AckStatus.REFUSED, reason: AckReason.BAD_PAYLOAD }], 'the bad request refused; the stray answer stored');
  const counted = await eventually(async () => {
    const network = ((await bob.call('status'))['refusals'] as { network: Record<string, number> }).network;
    return network['a2a_unknown_request'] === 1 ? network : false;
  }, 'the stray answer counted');
  t.equal(counted['message_bad_payload'], 1);
  t.same((await bob.call('receive', { peer: mallory.peerId }))['messages'], [], 'receive shows neither');
  t.same((await bob.call('a2a_serve', { peer: mallory.peerId }))['requests'], [], 'nor a2a_serve');

  await bob.call('a2a_set_card', { card: MEETING_CARD });
  const huge = textLeaf(`{"v":1,"method":"GetTask","params":{"id":"t","n":1e400},"service":{},"expires_at":${Date.now() + 60_000}}`, { type: 'a2a_request' });
  const plain = textLeaf(`{"v":1,"method":"GetTask","params":{"id":"t"},"service":{},"expires_at":${Date.now() + 60_000}}`, { type: 'a2a_request' });
  t.same(
    await send([huge, plain], 1),
    [{ id: Buffer.from(huge.subarray(0, 16)).toString('hex'), status: AckStatus.REFUSED, reason: AckReason.BAD_PAYLOAD }],
    'a number JSON.parse reads as Infinity is refused: it would reach the agent as null',
  );
  const listed = await eventually(async () => {
    const requests = (await bob.call('a2a_serve', { peer: mallory.peerId }))['requests'] as { request_id: string }[];
    return requests.length === 1 ? requests : false;
  }, 'the request listed');
  t.equal(listed[0]?.request_id, Buffer.from(plain.subarray(0, 16)).toString('hex'), 'the request beside it recorded: the refusal does not stall the peer’s A2A messages');
});
