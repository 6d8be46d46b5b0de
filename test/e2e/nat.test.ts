import t, { type Test } from 'tap';
import { createNatTopology, natTopologyObstacle, startBootstrapNodes, startNodeInNamespace, startRelay, type NatKind, type NatTopology } from '../helpers/nat-topology';
import { dhtListening, eventually, type TestNode } from '../helpers/node';

/**
 * Two built nodes, each on a host behind its own NAT router, pair by link
 * (the link's direct address is inside B's network, which A cannot reach)
 * and exchange messages: hole-punched when at most one NAT is symmetric,
 * through a relay when both are, and told that a relay is needed when there
 * is none. The path each node reports is checked against the routers' and
 * the relay's packet counters, not taken from configuration.
 */

/** A message big next to the DHT's own packets and the punching probes (a few KB; tens of KB when a random-port punch runs its course). */
const MESSAGE_BYTES = 256 * 1024;
/** What a path that did not carry the messages may still have seen: probes and keep-alives. */
const CHATTER_BYTES = MESSAGE_BYTES / 4;

interface Scenario {
  topology: NatTopology;
  bootstrap: string[];
  relayKey: string | undefined;
}

interface Pair {
  a: TestNode;
  b: TestNode;
  aId: string;
  bId: string;
}

/** The topology with its DHT bootstrap nodes (and the relay, when asked) running. */
async function scenario(t: Test, nat: { a: NatKind; b: NatKind; wanFirewall?: boolean }, withRelay: boolean): Promise<Scenario> {
  const topology = await createNatTopology(t, nat);
  const bootstrap = await startBootstrapNodes(topology);
  const relayKey = withRelay ? (await startRelay(t, topology, bootstrap)).publicKey : undefined;
  return { topology, bootstrap, relayKey };
}

/** Node A on host A (with the relay, if any, in P2P_COMM_RELAYS: only the side that asks to pair needs one) and node B on host B, both on the DHT. */
async function startBoth(t: Test, { topology, bootstrap, relayKey }: Scenario): Promise<{ a: TestNode; b: TestNode }> {
  const [a, b] = await Promise.all([
    startNodeInNamespace(t, topology, 'a', { bootstrap, relays: relayKey === undefined ? [] : [relayKey] }),
    startNodeInNamespace(t, topology, 'b', { bootstrap }),
  ]);
  await Promise.all([dhtListening(a), dhtListening(b)]);
  return { a, b };
}

async function pathSeenBy(node: TestNode, peer: string): Promise<string> {
  return eventually(
    async () => {
      const view = ((await node.call('peers'))['peers'] as { peer: string; online: boolean; path: string | null }[]).find((p) => p.peer === peer);
      return view?.online === true ? (view.path ?? undefined) : undefined;
    },
    `a session with ${peer}`,
    30_000,
  );
}

/** A large message each way, stored and read at the other end. */
async function exchange(t: Test, { a, b, aId, bId }: Pair): Promise<void> {
  const content = 'x'.repeat(MESSAGE_BYTES);
  for (const [from, to, toId, fromId] of [
    [a, b, bId, aId],
    [b, a, aId, bId],
  ] as const) {
    const sent = await from.call('send', { peer: toId, type: 'text', content });
    const received = await eventually(
      async () => {
        const messages = (await to.call('receive', { peer: fromId, wait_ms: 500 }))['messages'] as { message_id: string; content: string }[];
        return messages.length > 0 ? messages : undefined;
      },
      'the message',
      30_000,
    );
    t.equal(received[0]?.message_id, sent['message_id'], 'the message arrived');
    t.equal(received[0]?.content, content, 'intact');
  }
}

/**
 * A pairs with B's link and B accepts. B's accept reaches back at once when
 * it can; when only A has a relay, B cannot, and the session opens at A's
 * next attempt, through the relay: both ways end with a session.
 */
async function pairAcross(t: Test, a: TestNode, b: TestNode): Promise<Pair> {
  const aId = (await a.call('identity'))['peer_id'] as string;
  const bId = (await b.call('identity'))['peer_id'] as string;
  const paired = await a.call('pair', { link: (await b.call('identity'))['link'] as string });
  t.equal(paired['state'], 'delivered', 'the pairing request crossed both NATs');
  const incoming = ((await b.call('requests'))['incoming'] as { request_id: string; peer: string }[])[0];
  t.equal(incoming?.peer, aId);
  await b.call('accept', { request_id: incoming?.request_id, peer: aId });
  return { a, b, aId, bId };
}

async function pairAndExchange(t: Test, setup: Scenario): Promise<Pair & { paths: [string, string] }> {
  const { a, b } = await startBoth(t, setup);
  const pair = await pairAcross(t, a, b);
  const { aId, bId } = pair;
  await Promise.all([pathSeenBy(a, bId), pathSeenBy(b, aId)]);
  await exchange(t, pair);
  return { ...pair, paths: [await pathSeenBy(a, bId), await pathSeenBy(b, aId)] };
}

async function assertHolePunched(t: Test, setup: Scenario, paths: [string, string]): Promise<void> {
  t.same(paths, ['holepunched', 'holepunched'], 'both nodes report a hole-punched path');
  const { direct } = await setup.topology.counters();
  t.ok(direct.aToB >= MESSAGE_BYTES && direct.bToA >= MESSAGE_BYTES, `and the messages went router to router, both ways (${JSON.stringify(direct)})`);
}

/** Random-port punching (one side symmetric) took 2-14 s here, and hyperdht gives it up to ~35 s; the rest take seconds. */
const CASE_TIMEOUT_MS = 60_000;
t.setTimeout(6 * CASE_TIMEOUT_MS);

const obstacle = natTopologyObstacle();
if (obstacle !== undefined) {
  // CI runs as root with iptables: a machine that cannot run these is a broken setup, not a reason to pass.
  t.fail(obstacle);
} else {
  t.test('cone / cone: paired by link and hole-punched, the messages going router to router', { timeout: CASE_TIMEOUT_MS }, async (t) => {
    const setup = await scenario(t, { a: 'cone', b: 'cone' }, false);
    const { paths } = await pairAndExchange(t, setup);
    await assertHolePunched(t, setup, paths);
  });

  t.test('cone / symmetric: paired by link and hole-punched, the messages going router to router', { timeout: CASE_TIMEOUT_MS }, async (t) => {
    const setup = await scenario(t, { a: 'cone', b: 'symmetric' }, false);
    const { paths } = await pairAndExchange(t, setup);
    await assertHolePunched(t, setup, paths);
  });

  t.test('symmetric / symmetric with a relay: paired by link, the messages going through the relay', { timeout: CASE_TIMEOUT_MS }, async (t) => {
    const setup = await scenario(t, { a: 'symmetric', b: 'symmetric' }, true);
    const { paths } = await pairAndExchange(t, setup);
    t.same(paths, ['relayed', 'relayed'], 'both nodes report a relayed path');
    const { relay, direct } = await setup.topology.counters();
    t.ok(relay.fromA >= MESSAGE_BYTES && relay.toB >= MESSAGE_BYTES, `A's message went A -> relay -> B (${JSON.stringify(relay)})`);
    t.ok(relay.fromB >= MESSAGE_BYTES && relay.toA >= MESSAGE_BYTES, `B's went B -> relay -> A (${JSON.stringify(relay)})`);
    t.ok(direct.aToB < CHATTER_BYTES && direct.bToA < CHATTER_BYTES, `nothing went router to router (${JSON.stringify(direct)})`);
  });

  t.test('cone / cone behind routers with no WAN firewall: hole punching is spoilt, and the relay carries the session', { timeout: CASE_TIMEOUT_MS }, async (t) => {
    const setup = await scenario(t, { a: 'cone', b: 'cone', wanFirewall: false }, true);
    const { paths } = await pairAndExchange(t, setup);
    t.same(paths, ['relayed', 'relayed'], 'both nodes report a relayed path');
    const { relay } = await setup.topology.counters();
    t.ok(relay.fromA >= MESSAGE_BYTES && relay.toB >= MESSAGE_BYTES && relay.fromB >= MESSAGE_BYTES && relay.toA >= MESSAGE_BYTES, `both messages went through the relay (${JSON.stringify(relay)})`);
  });

  t.test('symmetric / symmetric without a relay: pairing says a relay is needed, and nothing crosses', { timeout: CASE_TIMEOUT_MS }, async (t) => {
    const setup = await scenario(t, { a: 'symmetric', b: 'symmetric' }, false);
    const { a, b } = await startBoth(t, setup);
    const link = (await b.call('identity'))['link'] as string;
    const { result } = await a.attempt('pair', { link });
    const answer = result as { data: Record<string, unknown>; message: string };
    t.equal(answer.data['state'], 'queued', 'not delivered');
    t.match(answer.message, /a relay is needed.*P2P_COMM_RELAYS/, 'it says a relay is needed and how to set one');
    const outgoing = ((await a.call('requests'))['outgoing'] as { last_error: string | null }[])[0];
    t.equal(outgoing?.last_error, 'needs_relay', 'requests says so too');
    t.same((await b.call('requests'))['incoming'], [], 'nothing reached B');
    const { direct } = await setup.topology.counters();
    t.ok(direct.aToB < CHATTER_BYTES && direct.bToA < CHATTER_BYTES, `no payload crossed (${JSON.stringify(direct)})`);
  });
}
