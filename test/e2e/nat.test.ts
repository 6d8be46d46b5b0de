import t, { type Test } from 'tap';
import { waitForEvent } from '../helpers/line-process';
import {
  createNatTopology,
  DHT_PORT,
  NAT_ADDRESSES,
  natTestObstacle,
  startBootstrapNodes,
  startDhtPeer,
  startNodeInNamespace,
  startRelay,
  type NatKind,
  type NatTopology,
  type UdpCounters,
} from '../helpers/nat-topology';

/**
 * Two hosts behind NAT routers reach each other over the DHT: hole-punched
 * when at most one NAT is symmetric, through a relay when both are. The
 * path is read from the routers' packet counters, not from what the peers
 * believe: the payload must cross router to router, or through the relay's
 * address, both ways.
 */

/** Large next to the DHT's own packets and the punching probes (a few KB; tens of KB when a random-port punch runs its course), so the counters tell the paths apart. */
const PAYLOAD_BYTES = 256 * 1024;
/** What a path that did not carry the payload may still have seen: probes and keep-alives. */
const CHATTER_BYTES = PAYLOAD_BYTES / 4;

interface Scenario {
  topology: NatTopology;
  bootstrap: string[];
  relayKey: string | undefined;
}

/** The topology with its DHT bootstrap nodes (and the relay, when asked) running. */
async function scenario(t: Test, nat: { a: NatKind; b: NatKind }, withRelay: boolean): Promise<Scenario> {
  const topology = await createNatTopology(t, nat);
  const bootstrap = await startBootstrapNodes(topology);
  const relayKey = withRelay ? (await startRelay(t, topology, bootstrap)).publicKey : undefined;
  return { topology, bootstrap, relayKey };
}

/** A server on host B, and a client on host A that sends the payload and waits for its echo (or for its connection to fail). */
async function connectAcross({ topology, bootstrap, relayKey }: Scenario): Promise<Record<string, unknown>> {
  const bootstrapList = bootstrap.join(',');
  const server = startDhtPeer(topology, 'b', 'server', ['--bootstrap', bootstrapList]);
  const { public_key: serverKey } = await waitForEvent(server, 'listening');
  const client = startDhtPeer(topology, 'a', 'client', [
    '--bootstrap',
    bootstrapList,
    '--server',
    String(serverKey),
    '--bytes',
    String(PAYLOAD_BYTES),
    ...(relayKey === undefined ? [] : ['--relay', relayKey]),
  ]);
  return waitForEvent(client, ['echoed', 'error'], 45_000);
}

function assertHolePunched(t: Test, outcome: Record<string, unknown>, counters: UdpCounters): void {
  t.match(outcome, { event: 'echoed', bytes: PAYLOAD_BYTES, intact: true, remote_host: NAT_ADDRESSES.b.routerWan }, 'the payload came back intact, from router B itself');
  t.ok(counters.direct.aToB >= PAYLOAD_BYTES, `router A forwarded the payload to router B (${counters.direct.aToB} bytes)`);
  t.ok(counters.direct.bToA >= PAYLOAD_BYTES, `router B forwarded the echo to router A (${counters.direct.bToA} bytes)`);
}

/** Random-port punching (one side symmetric) took 2-14 s here, and hyperdht gives it up to ~35 s; the rest take about a second each. */
const CASE_TIMEOUT_MS = 60_000;
t.setTimeout(6 * CASE_TIMEOUT_MS);

const obstacle = natTestObstacle();
if (obstacle !== undefined) {
  // CI runs as root with iptables: a machine that cannot run these is a broken setup, not a reason to pass.
  t.fail(obstacle);
} else {
  t.test('cone / cone: the hole is punched and the bytes go router to router', { timeout: CASE_TIMEOUT_MS }, async (t) => {
    const setup = await scenario(t, { a: 'cone', b: 'cone' }, false);
    const outcome = await connectAcross(setup);
    assertHolePunched(t, outcome, await setup.topology.counters());
  });

  t.test('cone / symmetric: the hole is punched and the bytes go router to router', { timeout: CASE_TIMEOUT_MS }, async (t) => {
    const setup = await scenario(t, { a: 'cone', b: 'symmetric' }, false);
    const outcome = await connectAcross(setup);
    assertHolePunched(t, outcome, await setup.topology.counters());
  });

  t.test('symmetric / cone (the dialling side symmetric): the hole is punched and the bytes go router to router', { timeout: CASE_TIMEOUT_MS }, async (t) => {
    const setup = await scenario(t, { a: 'symmetric', b: 'cone' }, false);
    const outcome = await connectAcross(setup);
    assertHolePunched(t, outcome, await setup.topology.counters());
  });

  t.test('symmetric / symmetric without a relay: the hole punch is aborted', { timeout: CASE_TIMEOUT_MS }, async (t) => {
    const setup = await scenario(t, { a: 'symmetric', b: 'symmetric' }, false);
    const outcome = await connectAcross(setup);
    t.match(outcome, { event: 'error', code: 'HOLEPUNCH_ABORTED' });
    const counters = await setup.topology.counters();
    t.ok(counters.direct.aToB < CHATTER_BYTES && counters.direct.bToA < CHATTER_BYTES, `no payload crossed (${JSON.stringify(counters.direct)})`);
  });

  t.test('symmetric / symmetric with a relay: the bytes go through the relay', { timeout: CASE_TIMEOUT_MS }, async (t) => {
    const setup = await scenario(t, { a: 'symmetric', b: 'symmetric' }, true);
    const outcome = await connectAcross(setup);
    t.match(outcome, { event: 'echoed', bytes: PAYLOAD_BYTES, intact: true, remote_host: NAT_ADDRESSES.relayHost, remote_port: DHT_PORT }, 'the payload came back intact, from the relay');
    const { relay, direct } = await setup.topology.counters();
    t.ok(relay.fromA >= PAYLOAD_BYTES && relay.toB >= PAYLOAD_BYTES, `the payload went A -> relay -> B (${relay.fromA}, ${relay.toB} bytes)`);
    t.ok(relay.fromB >= PAYLOAD_BYTES && relay.toA >= PAYLOAD_BYTES, `the echo went B -> relay -> A (${relay.fromB}, ${relay.toA} bytes)`);
    t.ok(direct.aToB < CHATTER_BYTES && direct.bToA < CHATTER_BYTES, `nothing went router to router (${JSON.stringify(direct)})`);
  });

  t.test('a p2p-comm node runs inside a host namespace, behind its NAT', { timeout: CASE_TIMEOUT_MS }, async (t) => {
    const setup = await scenario(t, { a: 'cone', b: 'cone' }, false);
    const node = await startNodeInNamespace(t, setup.topology, 'a', { bootstrap: setup.bootstrap });
    const identity = await node.call('identity');
    t.match(identity, { peer_id: /^[a-z2-7]{52}$/, link: /^p2p-comm:/ });
  });
}
