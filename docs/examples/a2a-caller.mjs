// An A2A client calling a paired peer's agent through p2p-comm: the calling
// side of docs/examples/a2a-agent.mjs. It plans a meeting with the peer's
// agent: reads the agent's card, asks for a meeting, is asked which day,
// answers, and prints the plan the agent sends back. Built on @a2a-js/sdk
// and the globals of Node 20+ (fetch, crypto) only: nothing here knows of
// p2p-comm but the URL, since the reference host serves each paired peer as
// an ordinary A2A agent (docs/a2a.md "Calling a peer's agent over HTTP").
//
//   P2P_HOST=http://127.0.0.1:PORT PLUGIN_ID=caller PLUGIN_SECRET=... PEER=<peer id> \
//     node docs/examples/a2a-caller.mjs [--day Friday] [--retry-every 30]
//
// The plugin needs the permission ext:p2p-comm:send, and the host asks once
// whether this plugin may talk to PEER (scope approval).
//
// When the peer is offline, the request waits in this node's outbox and the
// host answers -32060 once its wait is over. The caller then sends the same
// message again (same messageId) every --retry-every seconds: that
// re-attaches to the queued request, never sends a second one, and gets its
// answer once the peer is back.

import { Role, TaskState } from '@a2a-js/sdk';
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory } from '@a2a-js/sdk/client';

const { P2P_HOST, PLUGIN_ID, PLUGIN_SECRET, PEER } = process.env;
if (!P2P_HOST || !PLUGIN_ID || !PLUGIN_SECRET || !PEER) {
  console.error('set P2P_HOST, PLUGIN_ID, PLUGIN_SECRET and PEER');
  process.exit(2);
}

/** `--name value` from the command line, or the fallback. */
function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
}
const DAY = option('day', 'Tuesday');
const RETRY_EVERY_SECONDS = Number(option('retry-every', '30'));
if (!(RETRY_EVERY_SECONDS > 0)) {
  console.error('--retry-every takes a number of seconds');
  process.exit(2);
}
/** The code the host answers when the peer has not answered within its wait (docs/a2a.md). */
const STILL_PENDING = -32060;

// 1. A bearer token for this plugin. It lasts 15 minutes: a long-lived
//    client asks for a new one before then.
const tokenResponse = await fetch(`${P2P_HOST}/api/v1/auth/token`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ plugin_id: PLUGIN_ID, secret: PLUGIN_SECRET }),
});
if (!tokenResponse.ok) throw new Error(`token refused: HTTP ${tokenResponse.status}`);
const { access_token: token } = await tokenResponse.json();

// 2. The SDK's client, with the token on every call. The card itself needs no token.
const fetchImpl = (url, init = {}) => fetch(url, { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), authorization: `Bearer ${token}` } });
const factory = new ClientFactory(
  ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
    transports: [new JsonRpcTransportFactory({ fetchImpl })],
  }),
);
// The trailing slash matters: the card is read relative to it.
const client = await factory.createFromUrl(`${P2P_HOST}/a2a/${PEER}/`);

// 3. Who the peer's agent says it is (its own words, signed by the peer's key).
const card = await client.getAgentCard();
console.log(`peer's agent: ${card.name} (skills: ${card.skills.map((skill) => skill.name).join(', ')})`);

const textPart = (value) => ({ content: { $case: 'text', value }, mediaType: 'text/plain' });
const textOf = (parts = []) => parts.map((part) => (part.content?.$case === 'text' ? part.content.value : '')).join('');
const stateName = (state) => TaskState[state]?.replace('TASK_STATE_', '') ?? String(state);

/**
 * The ErrorInfo of a -32060 answer ({reason, metadata: {request_id, peer}}),
 * else undefined. A blocking call throws the SDK's JSON-RPC error; a stream
 * throws an Error whose cause is it.
 */
function pendingInfo(error) {
  const rpc = error?.envelopeCode === undefined ? error?.cause : error;
  return rpc?.envelopeCode === STILL_PENDING ? (rpc.data?.[0] ?? { reason: 'PEER_OFFLINE' }) : undefined;
}

/**
 * Sends one message as a stream and prints each change of the task's state;
 * returns the task as the last event left it. `state` is the task's state
 * before (a follow-up turn's stream starts with the task as it was). On
 * -32060 it waits and sends the very same message again, which re-attaches
 * to the queued request and replays its events from the first.
 */
async function converse(message, state = undefined) {
  for (;;) {
    const task = { id: message.taskId, contextId: message.contextId, state, artifacts: [] };
    try {
      for await (const { payload } of client.sendMessageStream({ message })) {
        if (payload?.$case === 'task') Object.assign(task, { id: payload.value.id, contextId: payload.value.contextId });
        const status = payload?.$case === 'task' || payload?.$case === 'statusUpdate' ? payload.value.status : undefined;
        if (status !== undefined && status.state !== task.state) {
          task.state = status.state;
          const said = textOf(status.message?.parts);
          console.log(`task ${stateName(status.state)}${said === '' ? '' : `: "${said}"`}`);
        }
        if (payload?.$case === 'artifactUpdate') task.artifacts.push(payload.value.artifact);
        if (payload?.$case === 'message') console.log(`agent says: "${textOf(payload.value.parts)}"`);
      }
      return task;
    } catch (error) {
      const pending = pendingInfo(error);
      if (pending === undefined) throw error;
      const where = pending.reason === 'PEER_OFFLINE' ? 'queued here until the peer is reachable' : "with the peer's agent, not answered yet";
      console.log(
        `-32060 ${pending.reason}: request ${pending.metadata?.request_id} is ${where}; ` +
          `sending the same message (${message.messageId}) again in ${RETRY_EVERY_SECONDS} s`,
      );
      await new Promise((resolve) => setTimeout(resolve, RETRY_EVERY_SECONDS * 1000));
    }
  }
}

// 4. Ask for a meeting. The messageId is ours: keep it to re-attach.
const first = await converse({ messageId: crypto.randomUUID(), role: Role.ROLE_USER, parts: [textPart('Plan a meeting about the garden')] });
if (first.state !== TaskState.TASK_STATE_INPUT_REQUIRED) throw new Error(`expected the agent to ask a question, the task is ${stateName(first.state)}`);

// 5. Answer its question in the same task and context.
console.log(`answering: "${DAY}"`);
const answer = { messageId: crypto.randomUUID(), taskId: first.id, contextId: first.contextId, role: Role.ROLE_USER, parts: [textPart(DAY)] };
const done = await converse(answer, first.state);
if (done.state !== TaskState.TASK_STATE_COMPLETED) throw new Error(`expected the task to complete, it is ${stateName(done.state)}`);
for (const artifact of done.artifacts) console.log(`artifact "${artifact.name}": ${textOf(artifact.parts)}`);
