// An A2A agent served through p2p-comm: it plans a meeting with whoever
// calls it (SUBMITTED -> WORKING -> INPUT_REQUIRED "which day?" -> COMPLETED
// with the plan as an artifact). Built on @a2a-js/sdk and node builtins only.
// Its tasks are kept on disk, one JSON file per task, so a restart loses none.
//
// Push mode, with the reference host (docs/a2a.md "Serving your agent"):
// declare the agent in the plugin's file, "a2a": {"url": "http://127.0.0.1:41241/"},
// and run it with the plugin's secret, which proves that requests come from the host:
//
//   PLUGIN_SECRET=... node docs/examples/a2a-agent.mjs --port 41241 --tasks ./a2a-tasks
//
// Pull mode, for Nexus (which forwards nothing: the plugin fetches the
// requests itself). Needs the permissions ext:p2p-comm:peers, :a2a_set_card,
// :a2a_serve and :a2a_respond:
//
//   P2P_HOST=http://127.0.0.1:PORT PLUGIN_ID=agent PLUGIN_SECRET=... node docs/examples/a2a-agent.mjs --pull --tasks ./a2a-tasks

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AGENT_CARD_PATH, Role, Task, TaskState } from '@a2a-js/sdk';
import { AgentEvent, DefaultRequestHandler, JsonRpcTransportHandler, ServerCallContext } from '@a2a-js/sdk/server';

const { values: options } = parseArgs({
  options: {
    port: { type: 'string', default: '41241' },
    tasks: { type: 'string', default: process.env.A2A_TASK_DIR ?? './a2a-tasks' },
    pull: { type: 'boolean', default: false },
  },
});
const { PLUGIN_SECRET, P2P_HOST, PLUGIN_ID } = process.env;
if (!PLUGIN_SECRET || (options.pull && (!P2P_HOST || !PLUGIN_ID))) {
  console.error(options.pull ? 'set P2P_HOST, PLUGIN_ID and PLUGIN_SECRET' : 'set PLUGIN_SECRET (the secret in the plugin file that declares this agent)');
  process.exit(2);
}

/** Tasks one calling peer may keep here; the oldest finished ones make room for new ones. */
const MAX_TASKS_PER_PEER = 1000;
/** The largest request body taken (the SDK's express server takes 100 KB; p2p-comm carries up to 1 MiB). */
const MAX_BODY_BYTES = 1024 * 1024;
const PEER_ID = /^[a-z2-7]{51}[aq]$/;
const FINISHED = new Set([TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED]);

// ---- Tasks on disk --------------------------------------------------------

/**
 * The SDK's TaskStore, one JSON file per task under <dir>/<owner>/, written to
 * a temporary file and renamed, so a crash leaves the old version or the new
 * one. The owner is the calling peer (the user of the call), so one peer
 * never sees another's tasks.
 */
class DiskTaskStore {
  /** owner -> task id -> {finished, timestamp}: counting and eviction without reading every file. */
  #index = new Map();

  constructor(dir) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const owner of readdirSync(dir)) {
      if (!PEER_ID.test(owner)) continue;
      // A temporary file is a write a stop cut short: the task's previous version is still in place.
      for (const name of readdirSync(join(dir, owner)).filter((entry) => entry.endsWith('.tmp'))) rmSync(join(dir, owner, name), { force: true });
      for (const task of this.#read(owner)) this.#note(owner, task);
    }
  }

  async load(taskId, context) {
    const owner = ownerOf(context);
    if (!this.#index.get(owner)?.has(taskId)) return undefined;
    return Task.fromJSON(JSON.parse(readFileSync(this.#path(owner, taskId), 'utf8')));
  }

  async save(task, context) {
    const owner = ownerOf(context);
    const known = this.#index.get(owner) ?? new Map();
    if (!known.has(task.id) && known.size >= MAX_TASKS_PER_PEER) this.#evictOldestFinished(owner, known);
    mkdirSync(join(this.dir, owner), { recursive: true, mode: 0o700 });
    const path = this.#path(owner, task.id);
    const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(temporary, JSON.stringify(Task.toJSON(task)), { mode: 0o600 });
    renameSync(temporary, path);
    this.#note(owner, task);
  }

  async list(params, context) {
    const owner = ownerOf(context);
    const wanted = this.#read(owner)
      .filter((task) => !params.contextId || task.contextId === params.contextId)
      .filter((task) => !params.status || task.status?.state === params.status)
      .sort((a, b) => (b.status?.timestamp ?? '').localeCompare(a.status?.timestamp ?? '') || b.id.localeCompare(a.id));
    const pageSize = params.pageSize || 50;
    const start = params.pageToken ? Number.parseInt(params.pageToken, 10) || 0 : 0;
    const page = wanted.slice(start, start + pageSize).map((task) => (params.includeArtifacts ? task : { ...task, artifacts: [] }));
    return { tasks: page, nextPageToken: start + pageSize < wanted.length ? String(start + pageSize) : '', pageSize, totalSize: wanted.length };
  }

  /** Whether a new task of this owner would find no room: every kept task is still open. */
  full(owner) {
    const known = this.#index.get(owner);
    return known !== undefined && known.size >= MAX_TASKS_PER_PEER && [...known.values()].every((entry) => !entry.finished);
  }

  /** Every open task with its owner, for the resume at start. */
  open() {
    return [...this.#index.entries()].flatMap(([owner, tasks]) => [...tasks].filter(([, entry]) => !entry.finished).map(([id]) => ({ owner, id })));
  }

  #read(owner) {
    if (!PEER_ID.test(owner)) return [];
    return readdirSync(join(this.dir, owner))
      .filter((name) => name.endsWith('.json'))
      .map((name) => Task.fromJSON(JSON.parse(readFileSync(join(this.dir, owner, name), 'utf8'))));
  }

  #note(owner, task) {
    if (!this.#index.has(owner)) this.#index.set(owner, new Map());
    this.#index.get(owner).set(task.id, { finished: FINISHED.has(task.status?.state), timestamp: task.status?.timestamp ?? '' });
  }

  #evictOldestFinished(owner, known) {
    const oldest = [...known].filter(([, entry]) => entry.finished).sort(([, a], [, b]) => a.timestamp.localeCompare(b.timestamp))[0];
    if (oldest === undefined) throw new Error(`peer ${owner} has ${MAX_TASKS_PER_PEER} open tasks here`);
    rmSync(this.#path(owner, oldest[0]), { force: true });
    known.delete(oldest[0]);
  }

  #path(owner, taskId) {
    // Task ids come from callers (GetTask): only the SDK's own UUID form names a file.
    if (!/^[0-9a-f-]{36}$/.test(taskId)) throw new Error('not a task id of this agent');
    return join(this.dir, owner, `${taskId}.json`);
  }
}

function ownerOf(context) {
  const owner = context?.user?.userName;
  if (typeof owner !== 'string' || !PEER_ID.test(owner)) throw new Error('a call without a calling peer');
  return owner;
}

// ---- The agent ---------------------------------------------------------------

const CARD = {
  name: 'Meeting planner',
  description: 'Finds a day to meet: tell it what the meeting is about, then which day suits you.',
  version: '1.0.0',
  capabilities: { streaming: true },
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [{ id: 'plan', name: 'Plan a meeting', description: 'Asks which day suits you and confirms it.', tags: ['calendar'] }],
};

const text = (value) => ({ content: { $case: 'text', value }, metadata: undefined, filename: '', mediaType: 'text/plain' });
const textOf = (message) => (message?.parts ?? []).map((part) => (part.content?.$case === 'text' ? part.content.value : '')).join('');
const status = (state, message) => ({ state, message, timestamp: new Date().toISOString() });
const agentMessage = (taskId, contextId, said) => ({ messageId: randomBytes(8).toString('hex'), contextId, taskId, role: Role.ROLE_AGENT, parts: [text(said)], metadata: undefined, extensions: [], referenceTaskIds: [] });
const QUESTION = 'Which day suits you?';

/** The plan, once the caller named a day. */
function planArtifact(taskId, day) {
  return { artifactId: `plan-${taskId}`, name: 'plan', description: '', parts: [text(`Meeting on ${day.trim() || 'Tuesday'}.`)], metadata: undefined, extensions: [] };
}

class MeetingExecutor {
  constructor(store) {
    this.store = store;
  }

  execute = async (context, bus) => {
    const { taskId, contextId } = context;
    const owner = ownerOf(context.context);
    if (context.task === undefined && this.store.full(owner)) {
      bus.publish(AgentEvent.message(agentMessage(undefined, contextId, `You have ${MAX_TASKS_PER_PEER} open meetings here: finish or cancel some first.`)));
      bus.finished();
      return;
    }
    if (context.task === undefined) {
      bus.publish(AgentEvent.task({ id: taskId, contextId, status: status(TaskState.TASK_STATE_SUBMITTED), artifacts: [], history: [context.userMessage], metadata: undefined }));
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_WORKING), metadata: undefined }));
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_INPUT_REQUIRED, agentMessage(taskId, contextId, QUESTION)), metadata: undefined }));
      bus.finished();
      return;
    }
    // Every follow-up turn starts with the task, as the SDK requires.
    bus.publish(AgentEvent.task(context.task));
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_WORKING), metadata: undefined }));
    bus.publish(AgentEvent.artifactUpdate({ taskId, contextId, artifact: planArtifact(taskId, textOf(context.userMessage)), append: false, lastChunk: true, metadata: undefined }));
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_COMPLETED), metadata: undefined }));
    bus.finished();
  };

  cancelTask = async (taskId, bus) => {
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId: '', status: status(TaskState.TASK_STATE_CANCELED), metadata: undefined }));
    bus.finished();
  };
}

/**
 * A task left SUBMITTED or WORKING by a stop is carried on as the executor
 * would have: asked its question, or given its plan when the day was said.
 */
async function resumeOpenTasks(store) {
  for (const { owner, id } of store.open()) {
    const context = callContext(owner);
    const task = await store.load(id, context);
    if (task === undefined || task.status?.state === TaskState.TASK_STATE_INPUT_REQUIRED) continue;
    const userTurns = task.history.filter((message) => message.role === Role.ROLE_USER);
    if (userTurns.length <= 1) {
      task.status = status(TaskState.TASK_STATE_INPUT_REQUIRED, agentMessage(task.id, task.contextId, QUESTION));
    } else {
      task.artifacts = [planArtifact(task.id, textOf(userTurns.at(-1)))];
      task.status = status(TaskState.TASK_STATE_COMPLETED);
    }
    await store.save(task, context);
  }
}

function callContext(peer) {
  return new ServerCallContext({ user: { isAuthenticated: true, userName: peer }, requestedVersion: '1.0' });
}

const store = new DiskTaskStore(options.tasks);
await resumeOpenTasks(store);
const executor = new MeetingExecutor(store);
/** The card and the SDK's JSON-RPC handler; in push mode set once the port is known, since the card names it. */
let card = CARD;
let transport = new JsonRpcTransportHandler(new DefaultRequestHandler(card, store, executor));

/** Each answer of one JSON-RPC request, in order: one for most methods, several for a stream. */
async function* answersTo(request, peer) {
  try {
    const answer = await transport.handle(request, callContext(peer));
    if (Symbol.asyncIterator in answer) yield* answer;
    else yield answer;
  } catch (error) {
    yield { jsonrpc: '2.0', id: request.id ?? null, error: { code: -32603, message: error.message } };
  }
}

// ---- Push mode: the host POSTs each request ------------------------------------

/** How far the host's signing time may be from this clock, either way (docs/a2a.md "The forward signature"). */
const SIGNATURE_WINDOW_S = 300;
/** Signatures taken within the window: one seen again is a replay, refused. */
const seenSignatures = new Map();

/**
 * Whether the request is the host's: its P2P-Comm-Signature signs this peer,
 * request id and body, at a time within the window, and was not seen before.
 * The whole header is compared, in constant time, with the one expected.
 */
function fromTheHost(request, peer, body) {
  const header = request.headers['p2p-comm-signature'] ?? '';
  const t = /^v1 t=(\d{1,12}), sig=/.exec(header)?.[1];
  const now = Math.floor(Date.now() / 1000);
  if (t === undefined || Math.abs(now - Number(t)) > SIGNATURE_WINDOW_S) return false;
  const signed = ['p2p-comm a2a forward v1', peer, request.headers['p2p-comm-request'] ?? '', t, createHash('sha256').update(body).digest('hex')].join('\n');
  const expected = Buffer.from(`v1 t=${t}, sig=${createHmac('sha256', PLUGIN_SECRET).update(signed).digest('base64url')}`);
  const given = Buffer.from(header);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
  for (const [seen, at] of seenSignatures) if (now - at > 2 * SIGNATURE_WINDOW_S) seenSignatures.delete(seen);
  if (seenSignatures.has(header)) return false;
  seenSignatures.set(header, now);
  return true;
}

async function readBody(request) {
  const chunks = [];
  let size = 0;
  for await (const chunk of request) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function serveHttp(request, response) {
  if (request.method === 'GET' && request.url === `/${AGENT_CARD_PATH}`) {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(card));
    return;
  }
  if (request.method !== 'POST' || request.url !== '/') {
    response.writeHead(404).end();
    return;
  }
  const peer = request.headers['p2p-comm-peer'];
  const body = await readBody(request);
  if (body === undefined) {
    response.writeHead(413).end();
    return;
  }
  if (typeof peer !== 'string' || !PEER_ID.test(peer) || !fromTheHost(request, peer, body)) {
    response.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'only the p2p-comm host may call this agent' }));
    return;
  }
  let call;
  try {
    call = JSON.parse(body);
  } catch {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }));
    return;
  }
  const streaming = call.method === 'SendStreamingMessage' || call.method === 'SubscribeToTask';
  if (!streaming) {
    for await (const answer of answersTo(call, peer)) response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    return;
  }
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for await (const answer of answersTo(call, peer)) {
    // Written as the host reads (the host reads on once the peer's outbox took the answer): the agent's memory stays bounded.
    if (!response.write(`${answer.error === undefined ? '' : 'event: error\n'}data: ${JSON.stringify(answer)}\n\n`)) await drainedOrClosed(response);
    // The host went away (it stops, or gave up on the stream): nothing more can be written, so the SDK's stream is left.
    if (response.destroyed) return;
  }
  response.end();
}

/** Resolves when the response can take more, or is closed and never will. */
function drainedOrClosed(response) {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.once('drain', done);
    response.once('close', done);
  });
}

// ---- Pull mode: the plugin fetches each request (Nexus) -----------------------------

async function hostCall(bearer, operation, input) {
  const response = await fetch(`${P2P_HOST}/api/v1/extensions/p2p-comm/${operation}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ input }),
  });
  if (response.status === 401) {
    bearer.token = await hostToken();
    return hostCall(bearer, operation, input);
  }
  const body = await response.json();
  if (!response.ok) throw new Error(`${operation}: HTTP ${response.status} ${body.error}: ${typeof body.details === 'object' ? body.details?.message : body.details}`);
  return body.data;
}

async function hostToken() {
  const response = await fetch(`${P2P_HOST}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ plugin_id: PLUGIN_ID, secret: PLUGIN_SECRET }),
  });
  if (!response.ok) throw new Error(`token refused: HTTP ${response.status}`);
  return (await response.json()).access_token;
}

/** The methods that may run twice with the same outcome: the reads, and CancelTask (a cancelled task stays cancelled). */
const SAFE_TO_REPEAT = new Set(['GetTask', 'ListTasks', 'CancelTask', 'SubscribeToTask']);
/** As the host does in push mode: a few requests of one peer at a time, and a bound over all. */
const PER_PEER = 4;
const TOTAL = 16;

/** One request from a2a_serve: claimed, run, every answer recorded before the next is read. */
async function servePulled(bearer, peer, request) {
  let seq = request.answered_seq === null ? 0 : request.answered_seq + 1;
  const respond = async (answer) => {
    await hostCall(bearer, 'a2a_respond', { peer, request_id: request.request_id, seq, ...answer });
    seq += 1;
  };
  // Taken by an earlier run that stopped: what it did is unknown, unless the request only reads.
  if (request.claimed && (!SAFE_TO_REPEAT.has(request.method) || request.answered_seq !== null)) {
    await respond({ error: { code: -32064, message: 'the agent restarted while working on this request; its outcome is unknown (ListTasks with your contextId)' }, end: true });
    return;
  }
  await hostCall(bearer, 'a2a_respond', { peer, request_id: request.request_id, claim: true });
  const streaming = request.method === 'SendStreamingMessage' || request.method === 'SubscribeToTask';
  for await (const answer of answersTo({ jsonrpc: '2.0', id: request.request_id, method: request.method, params: request.params }, peer)) {
    if (answer.error !== undefined) return respond({ error: answer.error, end: true });
    if (!streaming) return respond({ result: answer.result, end: true });
    await respond({ event: answer.result });
  }
  await respond({ end: true });
}

async function pull() {
  const bearer = { token: await hostToken() };
  await hostCall(bearer, 'a2a_set_card', { card: CARD });
  /** Request ids being served, per peer. */
  const inWork = new Map();
  let running = 0;
  for (;;) {
    const { peers } = await hostCall(bearer, 'peers', {});
    let found = 0;
    let waited = false;
    for (const { peer } of peers) {
      const busy = inWork.get(peer) ?? new Set();
      const free = Math.min(PER_PEER - busy.size, TOTAL - running);
      if (free <= 0) continue;
      waited = peers.length === 1;
      const { requests } = await hostCall(bearer, 'a2a_serve', { peer, wait_ms: waited ? 1000 : 0 });
      // The rest stay queued at the node, in order, for a later round.
      for (const request of requests.filter((entry) => !busy.has(entry.request_id)).slice(0, free)) {
        found += 1;
        busy.add(request.request_id);
        inWork.set(peer, busy);
        running += 1;
        servePulled(bearer, peer, request)
          .catch((error) => console.error(`${request.method} ${request.request_id}: ${error.message}`))
          .finally(() => {
            busy.delete(request.request_id);
            if (busy.size === 0) inWork.delete(peer);
            running -= 1;
          });
      }
    }
    if (found === 0 && !waited) await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

if (options.pull) {
  await pull();
} else {
  const server = createServer((request, response) => {
    serveHttp(request, response).catch((error) => {
      console.error(error);
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  server.listen(Number(options.port), '127.0.0.1', () => {
    const url = `http://127.0.0.1:${server.address().port}/`;
    card = { ...CARD, supportedInterfaces: [{ url, protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' }] };
    transport = new JsonRpcTransportHandler(new DefaultRequestHandler(card, store, executor));
    console.log(`a2a agent on ${url}`);
  });
}
