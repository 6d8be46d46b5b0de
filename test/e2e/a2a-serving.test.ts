import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { forwardSignature } from '../../permissions/a2a/forward-signature';
import { startNode as startHost, type RunningNode } from '../../permissions/node/running-node';
import { BINARY, LOOPBACK_ONLY, tempDir } from '../helpers/extension';
import { writePluginFile } from '../helpers/mcp-clients';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';

const EXAMPLE = resolve(__dirname, '..', '..', 'docs', 'examples', 'a2a-agent.mjs');
const SECRET = 'planner-secret-0123456789abcdef';

interface Answer {
  seq: number;
  kind: 'event' | 'result' | 'error' | 'end';
  body: Record<string, any> | null;
}

/** The example agent as its own process, in push mode, keeping its tasks in `taskDir`. */
async function startExample(t: Test, taskDir: string, port = 0): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [EXAMPLE, '--port', String(port), '--tasks', taskDir], { env: { ...process.env, PLUGIN_SECRET: SECRET }, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => ['the example agent exited'])])) as [string];
  const url = /^a2a agent on (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(line)?.[1];
  if (url === undefined) throw new Error(`the example agent said ${JSON.stringify(line)}`);
  return { url, child };
}

/** A reference host; `call` runs an operation as the host itself does (the calling side's HTTP door is tested elsewhere). */
async function host(t: Test, dir: string, scopeAnswer: 'allow' | 'deny' = 'allow'): Promise<{ node: RunningNode; hostDir: string; call: TestNode['call'] }> {
  const hostDir = join(dir, 'host');
  const policyFile = join(dir, 'policy.json');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    policyFile,
    JSON.stringify({
      rules: [
        { plugin: 'planner', operation: '*', prompt: 'permission', answer: 'approve' },
        { plugin: 'planner', operation: '*', prompt: 'scope', answer: scopeAnswer },
      ],
    }),
  );
  const node = await startHost({ hostDir, dataDir: join(dir, 'ext'), binary: BINARY, plugins: [], policyFile, env: LOOPBACK_ONLY, eventPollMs: 100 });
  t.teardown(() => node.stop());
  const call: TestNode['call'] = async (operation, input = {}) => {
    const outcome = await node.supervisor.execute(operation, input);
    if (outcome.error !== undefined) throw Object.assign(new Error(`${operation}: ${outcome.error.message}`), { data: outcome.error.data });
    return (outcome.result as { data: Record<string, unknown> }).data;
  };
  return { node, hostDir, call };
}

/** The planner's plugin file: declaring the agent's url (push), or with the operations a pulling plugin calls. */
function declarePlanner(hostDir: string, url: string | null): void {
  writePluginFile(
    hostDir,
    url === null
      ? { id: 'planner', secret: SECRET, extensions: { 'p2p-comm': ['peers', 'a2a_set_card', 'a2a_serve', 'a2a_respond'] } }
      : { id: 'planner', secret: SECRET, extensions: { 'p2p-comm': ['receive', 'a2a_set_card'] }, a2a: { url } },
  );
}

async function ask(call: TestNode['call'], peer: string, method: string, params: Record<string, unknown>): Promise<Answer[]> {
  const { request_id: requestId } = (await call('a2a_send', { peer, request: { method, params } })) as { request_id: string };
  return eventually(async () => {
    const view = (await call('a2a_task', { peer, request_id: requestId, wait_ms: 200 })) as { ended: boolean; answers: Answer[] };
    return view.ended ? view.answers : false;
  }, `the answers to ${method}`);
}

const message = (messageId: string, text: string, extra: Record<string, unknown> = {}) => ({ message: { messageId, role: 'ROLE_USER', parts: [{ text }], ...extra } });

t.test('a declared agent serves a paired peer through its host: card, INPUT_REQUIRED, a restart of the agent, COMPLETED with the plan', async (t) => {
  const dir = tempDir(t);
  const taskDir = join(dir, 'tasks');
  const first = await startExample(t, taskDir);
  const alice = await host(t, join(dir, 'alice'));
  const bobDir = join(dir, 'bob');
  declarePlanner(join(bobDir, 'host'), first.url);
  const bob = await host(t, bobDir);
  const { bId } = await pairNodes({ call: alice.call } as TestNode, { call: bob.call } as TestNode);

  const card = await eventually(async () => {
    const peers = (await alice.call('peers'))['peers'] as { peer: string; agent_card: Record<string, any> | null }[];
    return peers.find((entry) => entry.peer === bId)?.agent_card ?? false;
  }, "the planner's card at alice");
  t.equal(card['name'], 'Meeting planner', "the plugin's own card, published by bob's host");
  t.match(card['supportedInterfaces'], [{ url: `p2p-comm://${bId}` }], 'with the node as its interface, not the local url');
  t.notMatch(JSON.stringify(card), first.url, 'the local url stays at bob');

  const asked = await ask(alice.call, bId, 'SendMessage', message('m-1', 'plan our review', { contextId: 'ctx-review' }));
  // Forwarded as a stream, since the agent streams: the caller sees the task's progress, then the Task a blocking call returns.
  t.same(asked.map((answer) => answer.kind), ['event', 'event', 'event', 'result']);
  const task = asked.at(-1)?.body?.['task'] as Record<string, any>;
  t.equal(task['status'].state, 'TASK_STATE_INPUT_REQUIRED');
  t.same(task['status'].message.parts, [{ text: 'Which day suits you?', mediaType: 'text/plain' }]);
  t.equal(task['contextId'], 'ctx-review');

  first.child.kill('SIGKILL');
  await once(first.child, 'exit');
  const port = new URL(first.url).port;
  await startExample(t, taskDir, Number(port));
  const got = await ask(alice.call, bId, 'GetTask', { id: task['id'] });
  t.match(got, [{ kind: 'result', body: { id: task['id'], contextId: 'ctx-review', status: { state: 'TASK_STATE_INPUT_REQUIRED' } } }], 'the task survived the restart on disk');

  const replied = await ask(alice.call, bId, 'SendStreamingMessage', message('m-2', 'Friday', { contextId: 'ctx-review', taskId: task['id'] }));
  const events = replied.filter((answer) => answer.kind === 'event').map((answer) => answer.body as Record<string, any>);
  t.equal(replied.at(-1)?.kind, 'end');
  t.same(
    events.map((event) => Object.keys(event)[0]),
    ['task', 'statusUpdate', 'artifactUpdate', 'statusUpdate'],
  );
  t.same(events[2]?.['artifactUpdate'].artifact.parts, [{ text: 'Meeting on Friday.', mediaType: 'text/plain' }]);
  t.equal(events[3]?.['statusUpdate'].status.state, 'TASK_STATE_COMPLETED');
  const done = await ask(alice.call, bId, 'GetTask', { id: task['id'] });
  t.match(done, [{ kind: 'result', body: { status: { state: 'TASK_STATE_COMPLETED' }, artifacts: [{ name: 'plan' }] } }]);
});

t.test('a peer the owner keeps from the agent is answered -32066; a node not paired cannot send at all', async (t) => {
  const dir = tempDir(t);
  const agent = await startExample(t, join(dir, 'tasks'));
  const alice = await host(t, join(dir, 'alice'));
  const bobDir = join(dir, 'bob');
  declarePlanner(join(bobDir, 'host'), agent.url);
  const bob = await host(t, bobDir, 'deny');
  const { bId } = await pairNodes({ call: alice.call } as TestNode, { call: bob.call } as TestNode);
  await eventually(async () => ((await alice.call('peers'))['peers'] as { agent_card: unknown }[])[0]?.agent_card ?? false, "the planner's card at alice");
  const refused = await ask(alice.call, bId, 'SendMessage', message('m-1', 'plan our review'));
  t.match(refused, [{ seq: 0, kind: 'error', body: { code: -32066, data: [{ reason: 'REFUSED_BY_OWNER', domain: 'p2p-comm' }] } }]);

  const stranger = await startNode(t);
  const notPaired = await stranger.attempt('a2a_send', { peer: bId, request: { method: 'SendMessage', params: message('m-1', 'hello') } });
  t.match(notPaired.error, { data: { error: 'not_found' } });
});

t.test('pull mode, as under Nexus: the example takes its requests with a2a_serve through the Host API', async (t) => {
  const dir = tempDir(t);
  const alice = await host(t, join(dir, 'alice'));
  const bobDir = join(dir, 'bob');
  declarePlanner(join(bobDir, 'host'), null);
  const bob = await host(t, bobDir);
  const { bId } = await pairNodes({ call: alice.call } as TestNode, { call: bob.call } as TestNode);
  const child = spawn(process.execPath, [EXAMPLE, '--pull', '--tasks', join(dir, 'tasks')], {
    env: { ...process.env, P2P_HOST: bob.node.apiUrl, PLUGIN_ID: 'planner', PLUGIN_SECRET: SECRET },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const card = await eventually(async () => ((await alice.call('peers'))['peers'] as { agent_card: Record<string, any> | null }[])[0]?.agent_card ?? false, 'the card the plugin set');
  t.equal(card['name'], 'Meeting planner');

  const asked = await ask(alice.call, bId, 'SendMessage', message('m-1', 'plan our review', { contextId: 'ctx-pull' }));
  t.match(asked, [{ seq: 0, kind: 'result', body: { task: { contextId: 'ctx-pull', status: { state: 'TASK_STATE_INPUT_REQUIRED' } } } }], 'a pulling agent answers a blocking call with one result');
  const taskId = (asked[0]?.body?.['task'] as { id: string }).id;
  const replied = await ask(alice.call, bId, 'SendMessage', message('m-2', 'Monday', { contextId: 'ctx-pull', taskId }));
  t.match(replied, [{ seq: 0, kind: 'result', body: { task: { id: taskId, status: { state: 'TASK_STATE_COMPLETED' }, artifacts: [{ parts: [{ text: 'Meeting on Monday.' }] }] } } }]);
});

t.test('the example takes a request only with the host\'s signature of it, once, within 5 minutes', async (t) => {
  const { url } = await startExample(t, tempDir(t));
  const peer = `${'b'.repeat(51)}q`;
  const requestId = 'a'.repeat(32);
  const body = JSON.stringify({ jsonrpc: '2.0', id: requestId, method: 'GetTask', params: { id: 'no-such-task' } });
  const post = (signature: string, sentBody = body) =>
    fetch(url, { method: 'POST', body: sentBody, headers: { 'content-type': 'application/json', 'p2p-comm-peer': peer, 'p2p-comm-request': requestId, 'p2p-comm-signature': signature } }).then((response) => response.status);
  const now = Math.floor(Date.now() / 1000);
  const signed = forwardSignature(SECRET, { peer, requestId, t: now, body });
  t.equal(await post(forwardSignature(SECRET, { peer, requestId, t: now, body: '{}' })), 401, 'signed for another body');
  t.equal(await post(forwardSignature('another-secret-0123456789', { peer, requestId, t: now, body })), 401, 'another secret');
  t.equal(await post(forwardSignature(SECRET, { peer, requestId, t: now - 301, body })), 401, 'too old');
  t.equal(await post(`${signed}!`), 401, 'another spelling');
  t.equal(await post(signed), 200, "the host's");
  t.equal(await post(signed), 401, 'the same again: a replay');
});
