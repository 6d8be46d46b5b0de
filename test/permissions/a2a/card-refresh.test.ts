import t from 'tap';
import { CardRefresh } from '../../../permissions/a2a/card-refresh';
import type { GateVerdict } from '../../../permissions/gate/types';

const AGENT = { plugin: 'planner', secret: 'planner-secret-0123456789', url: 'http://127.0.0.1:41241/' };

/** An agent whose card the test changes, and the calls the refresh made of the gate and the extension. */
function setUp(verdict: GateVerdict = { allowed: true }) {
  let card: Record<string, unknown> = { name: 'Planner', capabilities: { streaming: true }, supportedInterfaces: [{ url: 'http://127.0.0.1:41242/rpc', protocolBinding: 'JSONRPC' }] };
  const read: string[] = [];
  const gated: unknown[][] = [];
  const executed: unknown[][] = [];
  const warnings: string[] = [];
  const refresh = new CardRefresh({
    gate: {
      check: async (...args) => {
        gated.push(args);
        return verdict;
      },
    },
    execute: async (...args) => {
      executed.push(args);
      return { result: { data: {} } };
    },
    fetch: async (url) => {
      read.push(String(url));
      return new Response(JSON.stringify(card), { headers: { 'content-type': 'application/json' } });
    },
    warn: (line) => warnings.push(line),
  });
  return { refresh, read, gated, executed, warnings, setCard: (next: Record<string, unknown>) => (card = next) };
}

t.test('the card is published through the gate when it changed, not again when it did not; withdrawn when no agent is declared', async (t) => {
  const { refresh, read, gated, executed, setCard } = setUp();
  t.equal(refresh.endpoint(AGENT), AGENT.url, 'the declared url until the card is read');
  await refresh.refresh(AGENT);
  t.same(read, ['http://127.0.0.1:41241/.well-known/agent-card.json']);
  t.equal(gated.length, 1);
  t.match(gated[0], ['planner', 'a2a_set_card', { card: { name: 'Planner' } }]);
  t.match(executed, [['a2a_set_card', { card: { name: 'Planner' } }]]);
  t.equal(refresh.endpoint(AGENT), 'http://127.0.0.1:41242/rpc', "the card's loopback JSONRPC interface");
  t.equal(refresh.streams(AGENT), true);

  await refresh.refresh(AGENT);
  t.equal(read.length, 2, 'read again');
  t.equal(executed.length, 1, 'the same card is not published again');

  setCard({ name: 'Planner 2', supportedInterfaces: [{ url: 'https://example.org/rpc', protocolBinding: 'JSONRPC' }] });
  await refresh.refresh(AGENT);
  t.equal(executed.length, 2, 'a changed card is');
  t.equal(refresh.endpoint(AGENT), AGENT.url, 'an interface off this machine is never used');
  t.equal(refresh.streams(AGENT), false);

  await refresh.refresh(undefined);
  t.same(executed.at(-1), ['a2a_set_card', { card: null }], 'withdrawn with its declaration');
  t.equal(gated.length, 2, 'the host withdraws without asking');
});

t.test('a plugin the gate refuses publishes nothing; the person is not asked again about the same card, the warning is given once', async (t) => {
  const { refresh, gated, executed, warnings, setCard } = setUp({ allowed: false, status: 403, error: 'Permission denied', details: 'no a2a_set_card' });
  await refresh.refresh(AGENT);
  await refresh.refresh(AGENT);
  t.equal(executed.length, 0);
  t.equal(gated.length, 1, 'the refused card is not asked about at every refresh');
  setCard({ name: 'Planner 2' });
  await refresh.refresh(AGENT);
  t.equal(gated.length, 2, 'a changed card is asked about');
  t.same(warnings, ['a2a: plugin planner may not set the agent card (Permission denied: no a2a_set_card); its agent is not published']);
});
