import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { A2aServing } from '../../../permissions/a2a/a2a-serving';
import type { ServedRequest } from '../../../permissions/a2a/a2a-forwarder';
import { tempDir } from '../../helpers/extension';
import { eventually } from '../../helpers/node';

const PEER = `${'b'.repeat(51)}q`;
const DECLARED_URL = 'http://127.0.0.1:41241/';
/** The card names its JSON-RPC endpoint elsewhere than the declared url, as the A2A SDK's samples do. */
const ENDPOINT = 'http://localhost:41241/a2a/jsonrpc';
const CARD = {
  name: 'Planner',
  capabilities: { streaming: false },
  supportedInterfaces: [{ url: ENDPOINT, protocolBinding: 'JSONRPC', protocolVersion: '1.0' }],
};

t.test('a request that arrives while the card is being read waits for it, then goes to the endpoint the card names', async (t) => {
  const hostDir = tempDir(t);
  mkdirSync(join(hostDir, 'plugins'), { recursive: true });
  let releaseCard: () => void = () => undefined;
  const cardHeld = new Promise<void>((resolve) => (releaseCard = resolve));
  let cardAsked: () => void = () => undefined;
  const cardRead = new Promise<void>((resolve) => (cardAsked = resolve));
  const posted: string[] = [];
  const fetchFake: typeof fetch = async (input) => {
    const url = String(input);
    if (url.endsWith('/.well-known/agent-card.json')) {
      cardAsked();
      await cardHeld;
      return Response.json(CARD);
    }
    posted.push(url);
    return Response.json({ jsonrpc: '2.0', id: 1, result: { message: { messageId: 'answer', role: 'ROLE_AGENT', parts: [{ text: 'hi' }] } } });
  };
  const request: ServedRequest = { request_id: 'r'.repeat(32), method: 'SendMessage', params: { message: { messageId: 'm-1', role: 'ROLE_USER', parts: [{ text: 'hi' }] } }, a2a_extensions: null, claimed: false, answered_seq: null };
  const answered: unknown[] = [];
  const serving = new A2aServing(
    {
      hostDir,
      declared: [{ id: 'planner', secret: 'planner-secret-0123456789', extensions: { 'p2p-comm': ['receive', 'a2a_set_card'] }, a2a: { url: DECLARED_URL } }],
      gate: { check: async () => ({ allowed: true }) },
      execute: async (operation, input) => {
        if (operation === 'peers') return { result: { data: { peers: [{ peer: PEER }] } } };
        if (operation === 'a2a_serve') return { result: { data: { requests: answered.length === 0 ? [request] : [] } } };
        if (operation === 'a2a_respond' && (input as { end?: boolean }).end === true) answered.push(input);
        return { result: { data: {} } };
      },
      warn: () => undefined,
      onLoaded: () => undefined,
    },
    { fetch: fetchFake, declarationCheckMs: 60_000 },
  );
  t.teardown(() => serving.stop());
  serving.start();
  await cardRead;
  // As a request queued while this node was down arrives right after it starts.
  serving.event({ id: 'e1', type: 'p2p.a2a.request', data: { peer: PEER, request_id: request.request_id, method: 'SendMessage' } });
  await new Promise((resolve) => setImmediate(resolve));
  t.same(posted, [], 'nothing is forwarded before the card says where');
  releaseCard();
  await eventually(async () => answered.length === 1, 'the request answered');
  t.same(posted, [ENDPOINT], "forwarded to the card's endpoint, not the declared url");
});
