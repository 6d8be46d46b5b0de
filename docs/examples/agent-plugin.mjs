// A minimal agent plugin for p2p-comm: sends a message to a paired peer and
// prints what that peer sends back. Plain fetch against the Host API (Nexus
// or the reference host from `npm start`), Node 18+. Not from a web page: the
// reference host refuses requests browsers send.
//
//   P2P_HOST=http://127.0.0.1:PORT PLUGIN_ID=agent PLUGIN_SECRET=... PEER=<peer id> node docs/examples/agent-plugin.mjs
//
// The plugin needs the permissions ext:p2p-comm:send, :receive and :ack, and
// the host asks once whether this plugin may talk to PEER (scope approval).

const { P2P_HOST, PLUGIN_ID, PLUGIN_SECRET, PEER } = process.env;
if (!P2P_HOST || !PLUGIN_ID || !PLUGIN_SECRET || !PEER) {
  console.error('set P2P_HOST, PLUGIN_ID, PLUGIN_SECRET and PEER');
  process.exit(2);
}

async function token() {
  const response = await fetch(`${P2P_HOST}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ plugin_id: PLUGIN_ID, secret: PLUGIN_SECRET }),
  });
  if (!response.ok) throw new Error(`token refused: HTTP ${response.status}`);
  return (await response.json()).access_token;
}

const bearer = await token();

async function call(operation, input) {
  const response = await fetch(`${P2P_HOST}/api/v1/extensions/p2p-comm/${operation}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify({ input }),
  });
  const body = await response.json();
  if (!response.ok) {
    const error = new Error(`${operation}: HTTP ${response.status} ${body.error}: ${describe(body.details)}`);
    error.code = errorCode(body.details);
    throw error;
  }
  return body.data;
}

// The reference host sends details as {code, message}; Nexus sends the
// extension's message, which starts with its code: "not_found: ...".
function errorCode(details) {
  return typeof details === 'object' && details !== null ? details.code : /^([a-z_]+):/.exec(String(details ?? ''))?.[1];
}

function describe(details) {
  return typeof details === 'object' && details !== null ? details.message : String(details ?? '');
}

// The error code says what to do, on Nexus and on the reference host alike.
const sent = await call('send', { peer: PEER, type: 'json', content: { question: 'ping' }, correlation_id: 'ping-1' }).catch((error) => {
  if (error.code === 'not_found') console.error(`${PEER} is not a paired peer: pair with it first`);
  else if (error.code === 'limit_reached') console.error('too many messages are waiting for this peer: try again once some are delivered');
  else throw error;
  process.exit(1);
});
console.log(`sent ${sent.message_id} (${sent.state})`);

// Poll with a short wait: receive never holds the host for more than wait_ms.
let cursor = 0;
for (let round = 0; round < 30; round += 1) {
  const { messages, next_cursor } = await call('receive', { peer: PEER, after: cursor, wait_ms: 1000 });
  for (const message of messages) {
    console.log(`from ${PEER}: ${message.type} ${JSON.stringify(message.content)} (re: ${message.correlation_id ?? '-'})`);
  }
  if (messages.length > 0) {
    // Acknowledge only after handling: unacknowledged messages come back after a restart.
    await call('ack', { peer: PEER, through: next_cursor });
    cursor = next_cursor;
  }
}
