import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { ServedRequest } from '../../../permissions/a2a/a2a-forwarder';
import { A2aServing } from '../../../permissions/a2a/a2a-serving';
import type { GateVerdict, PluginDeclaration } from '../../../permissions/gate/types';
import { tempDir } from '../../helpers/extension';
import { eventually } from '../../helpers/node';

const PLANNER: PluginDeclaration = { id: 'planner', secret: 'planner-secret-0123456789', extensions: { 'p2p-comm': ['receive', 'a2a_set_card'] }, a2a: { url: 'http://127.0.0.1:41241/' } };

function serving(hostDir: string, declared: PluginDeclaration[], gate: (signal: AbortSignal | undefined) => Promise<GateVerdict>) {
  mkdirSync(join(hostDir, 'plugins'), { recursive: true });
  const executed: [string, unknown][] = [];
  const gated: (AbortSignal | undefined)[] = [];
  const instance = new A2aServing(
    {
      hostDir,
      declared,
      gate: {
        check: async (_plugin, _operation, _input, signal) => {
          gated.push(signal);
          return gate(signal);
        },
      },
      execute: async (operation, input) => {
        executed.push([operation, input]);
        return { result: { data: { peers: [] } } };
      },
      warn: () => undefined,
      onLoaded: () => undefined,
    },
    { declarationCheckMs: 5, fetch: async () => new Response(JSON.stringify({ name: 'Planner' }), { headers: { 'content-type': 'application/json' } }) },
  );
  return { instance, executed, gated };
}

t.test('stopping during the card dialog takes the dialog down instead of waiting for the person', async (t) => {
  // As the gate does: a dialog ends when its signal aborts, never otherwise.
  const { instance, gated } = serving(tempDir(t), [PLANNER], (signal) =>
    new Promise((resolve) => signal?.addEventListener('abort', () => resolve({ allowed: false, status: 403, error: 'Approval abandoned', details: null }))),
  );
  instance.start();
  await eventually(async () => gated.length === 1, 'the card dialog open');
  t.type(gated[0], AbortSignal, 'the dialog is given the stop signal');
  await instance.stop();
  t.equal(gated[0]?.aborted, true);
});

t.test('with no agent declared, a card an earlier run published is withdrawn at start', async (t) => {
  const { instance, executed } = serving(tempDir(t), [], async () => ({ allowed: true }));
  instance.start();
  await eventually(async () => executed.length === 1, 'the withdrawal');
  await instance.stop();
  t.same(executed, [['a2a_set_card', { card: null }]], 'sent without the gate: the host takes back what it published');
});

const PEER = `${'b'.repeat(51)}q`;
/** The card names its JSON-RPC endpoint elsewhere than the declared url, as the A2A SDK's samples do. */
const ENDPOINT = 'http://localhost:41241/a2a/jsonrpc';
/** Where the host connects for it: localhost taken as 127.0.0.1, never resolved. */
const ENDPOINT_ADDRESS = 'http://127.0.0.1:41241/a2a/jsonrpc';
const CARD = {
  name: 'Planner',
  capabilities: { streaming: false },
  supportedInterfaces: [{ url: ENDPOINT, protocolBinding: 'JSONRPC', protocolVersion: '1.0' }],
};

/**
 * A host serving PLANNER whose agent is `card` (read through it) and whose
 * JSON-RPC endpoint answers every POST; one request from PEER waits at the
 * node until it is answered. Returns what was POSTed, answered and warned.
 */
function servingOne(t: Test, card: () => Promise<Response>, requestId: string, declarationCheckMs: number) {
  const hostDir = tempDir(t);
  mkdirSync(join(hostDir, 'plugins'), { recursive: true });
  const posted: string[] = [];
  const answered: unknown[] = [];
  const warnings: string[] = [];
  const fetchFake: typeof fetch = async (input) => {
    const url = String(input);
    if (url.endsWith('/.well-known/agent-card.json')) return card();
    posted.push(url);
    return Response.json({ jsonrpc: '2.0', id: 1, result: { message: { messageId: 'answer', role: 'ROLE_AGENT', parts: [{ text: 'hi' }] } } });
  };
  const request: ServedRequest = { request_id: requestId, method: 'SendMessage', params: { message: { messageId: 'm-1', role: 'ROLE_USER', parts: [{ text: 'hi' }] } }, a2a_extensions: null, claimed: false, answered_seq: null };
  const serving = new A2aServing(
    {
      hostDir,
      declared: [PLANNER],
      gate: { check: async () => ({ allowed: true }) },
      execute: async (operation, input) => {
        if (operation === 'peers') return { result: { data: { peers: [{ peer: PEER }] } } };
        if (operation === 'a2a_serve') return { result: { data: { requests: answered.length === 0 ? [request] : [] } } };
        if (operation === 'a2a_respond' && (input as { end?: boolean }).end === true) answered.push(input);
        return { result: { data: {} } };
      },
      warn: (line) => warnings.push(line),
      onLoaded: () => undefined,
    },
    { fetch: fetchFake, declarationCheckMs },
  );
  t.teardown(() => serving.stop());
  // As a request queued while this node was down arrives right after it starts.
  const arrives = () => serving.event({ id: `e-${requestId}`, type: 'p2p.a2a.request', data: { peer: PEER, request_id: requestId, method: 'SendMessage' } });
  return { serving, posted, answered, warnings, arrives };
}

t.test('a request that arrives while the card is being read waits for it, then goes to the endpoint the card names', async (t) => {
  let releaseCard: () => void = () => undefined;
  const cardHeld = new Promise<void>((resolve) => (releaseCard = resolve));
  let cardAsked: () => void = () => undefined;
  const cardRead = new Promise<void>((resolve) => (cardAsked = resolve));
  const card = async (): Promise<Response> => {
    cardAsked();
    await cardHeld;
    return Response.json(CARD);
  };
  const { serving, posted, answered, arrives } = servingOne(t, card, 'r'.repeat(32), 60_000);
  serving.start();
  await cardRead;
  arrives();
  await new Promise((resolve) => setImmediate(resolve));
  t.same(posted, [], 'nothing is forwarded before the card says where');
  releaseCard();
  await eventually(async () => answered.length === 1, 'the request answered');
  t.same(posted, [ENDPOINT_ADDRESS], "forwarded to the card's endpoint, not the declared url");
});

t.test('an agent not up when the host starts becomes a target once its card can be read; what waited then goes to its endpoint', async (t) => {
  let up = false;
  let cardReads = 0;
  const card = async (): Promise<Response> => {
    cardReads += 1;
    if (!up) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:41241'), { code: 'ECONNREFUSED' }) });
    return Response.json(CARD);
  };
  const { serving, posted, answered, warnings, arrives } = servingOne(t, card, 's'.repeat(32), 5);
  serving.start();
  await eventually(async () => cardReads >= 2, 'the card read again while the agent is down');
  arrives();
  await eventually(async () => cardReads >= 4, 'more checks while the agent is down');
  t.same(posted, [], 'nothing is sent to the declared url while the card is unknown');
  t.equal(warnings.filter((line) => line.includes('could not be read')).length, 1, 'the unreadable card is warned about once');
  up = true;
  await eventually(async () => answered.length === 1, 'the request answered once the agent is up');
  t.same(posted, [ENDPOINT_ADDRESS], "sent to the card's endpoint");
});
