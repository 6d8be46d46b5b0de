import { constants } from 'node:os';
import { createNatTopology, startBootstrapNodes, startNodeInNamespace, startRelay, type NatKind } from '../../test/helpers/nat-topology';
import { dhtListening, eventually, startNode, type TestNode } from '../../test/helpers/node';
import { TeardownList, type Teardown } from '../../test/helpers/teardown';
import { nowMs, percentile } from '../stats';

/**
 * What each path a session can take costs, end to end through two built
 * nodes spoken to over stdio as Nexus does: `direct` (TCP on 127.0.0.1,
 * DHT off), `holepunched` (UDP through two cone NATs) and `relayed`
 * (through a blind relay, both NATs symmetric). The NATs, the DHT
 * bootstrap nodes and the relay are network namespaces on this machine
 * (test/helpers/nat-topology.ts, as test/e2e/nat.test.ts builds them), so
 * the figures show what each path's machinery costs, not what an internet
 * link would add. Root only.
 */
export type ReachPath = 'direct' | 'holepunched' | 'relayed';

export interface ReachRun {
  /** From the `pair` call to both nodes reporting the session online (B's `accept` included). */
  setupMs: number;
  /** `messages` of `messageBytes` sent one after another by A, until B has read them all. */
  megabytesPerSecond: number;
  messagesPerSecond: number;
  /** A sends, B's waiting `receive` returns and B replies at once, A's waiting `receive` returns. */
  roundTripP50Ms: number;
  roundTripP95Ms: number;
}

export interface ReachLoad {
  messages: number;
  messageBytes: number;
  roundTrips: number;
  roundTripBytes: number;
}

/** The NATs of each path through the DHT; a relay is started for symmetric ones. */
const NATS: Record<Exclude<ReachPath, 'direct'>, { a: NatKind; b: NatKind }> = {
  holepunched: { a: 'cone', b: 'cone' },
  relayed: { a: 'symmetric', b: 'symmetric' },
};

/** Longest a `receive` waits for a message, and most messages it returns (the operation's maxima). */
const POLL_WAIT_MS = 2000;
const RECEIVE_LIMIT = 500;
/** Longest any one step may take before the run is declared failed. */
const STEP_TIMEOUT_MS = 30_000;
/** How much of each node's log a failure shows. */
const LOG_LINES = 20;
/** Sent before measuring, so that neither node's first messages (cold JIT, first fsyncs) count. */
const WARM_UP = { messages: 10, roundTrips: 3 };

/**
 * One run of `path`: fresh nodes (and namespaces), paired, measured, torn
 * down. Everything started is stopped and every namespace deleted however
 * the run ends, on SIGINT and SIGTERM too.
 */
export async function reachRun(path: ReachPath, load: ReachLoad): Promise<ReachRun> {
  const cleanup = new TeardownList();
  const stopOnSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`reach: ${signal}, tearing the nodes and namespaces down\n`);
    void cleanup.run().finally(() => process.exit(128 + constants.signals[signal]));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    const nodes = await startPair(cleanup, path);
    return await withTheirLogs(nodes, measure(path, load, nodes));
  } finally {
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    await cleanup.run();
  }
}

async function startPair(cleanup: Teardown, path: ReachPath): Promise<{ a: TestNode; b: TestNode }> {
  if (path === 'direct') {
    const [a, b] = await Promise.all([startNode(cleanup), startNode(cleanup)]);
    return { a, b };
  }
  const topology = await createNatTopology(cleanup, NATS[path]);
  const bootstrap = await startBootstrapNodes(topology);
  // As in nat.test.ts: only the side that asks to pair needs the relay.
  const relays = path === 'relayed' ? [(await startRelay(cleanup, topology, bootstrap)).publicKey] : [];
  const [a, b] = await Promise.all([
    startNodeInNamespace(cleanup, topology, 'a', { bootstrap, relays }),
    startNodeInNamespace(cleanup, topology, 'b', { bootstrap }),
  ]);
  await withTheirLogs({ a, b }, Promise.all([dhtListening(a), dhtListening(b)]));
  return { a, b };
}

/** `step`'s outcome; when it fails, the error carries what each node last logged (a node that cannot join the DHT says why there). */
async function withTheirLogs<T>(nodes: { a: TestNode; b: TestNode }, step: Promise<T>): Promise<T> {
  try {
    return await step;
  } catch (error) {
    const logs = Object.entries(nodes).map(([name, node]) => `--- node ${name.toUpperCase()}, last ${LOG_LINES} lines of stderr\n${node.stderr.slice(-LOG_LINES).join('\n')}`);
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${logs.join('\n')}`);
  }
}

async function measure(path: ReachPath, load: ReachLoad, { a, b }: { a: TestNode; b: TestNode }): Promise<ReachRun> {
  const aId = (await a.call('identity'))['peer_id'] as string;
  const { peer_id: bId, link } = (await b.call('identity')) as { peer_id: string; link: string };

  const setupStart = nowMs();
  const paired = await a.call('pair', { link });
  if (paired['state'] !== 'delivered') throw new Error(`reach ${path}: pair answered ${JSON.stringify(paired)}`);
  const incoming = ((await b.call('requests'))['incoming'] as { request_id: string; peer: string }[]).find((request) => request.peer === aId);
  if (incoming === undefined) throw new Error(`reach ${path}: B holds no pairing request from A`);
  await b.call('accept', { request_id: incoming.request_id, peer: aId });
  const paths = await Promise.all([sessionPath(a, bId), sessionPath(b, aId)]);
  const setupMs = nowMs() - setupStart;
  // The path is what the nodes report, never assumed from the topology.
  if (paths.some((reported) => reported !== path)) throw new Error(`reach ${path}: the nodes report their session as ${paths.join(' and ')}`);

  const atA = new Reader(a, bId);
  const atB = new Reader(b, aId);
  await oneWay(a, bId, atB, WARM_UP.messages, load.messageBytes);
  const seconds = await oneWay(a, bId, atB, load.messages, load.messageBytes);
  await roundTrips({ a, bId, atA }, { b, aId, atB }, WARM_UP.roundTrips, load.roundTripBytes);
  const trips = await roundTrips({ a, bId, atA }, { b, aId, atB }, load.roundTrips, load.roundTripBytes);
  return {
    setupMs,
    megabytesPerSecond: (load.messages * load.messageBytes) / 1e6 / seconds,
    messagesPerSecond: load.messages / seconds,
    roundTripP50Ms: percentile(trips, 50),
    roundTripP95Ms: percentile(trips, 95),
  };
}

/** The path of `node`'s session with `peer`, once it is online. */
async function sessionPath(node: TestNode, peer: string): Promise<string> {
  return eventually(
    async () => {
      const view = ((await node.call('peers'))['peers'] as { peer: string; online: boolean; path: string | null }[]).find((entry) => entry.peer === peer);
      return view?.online === true ? (view.path ?? undefined) : undefined;
    },
    `a session with ${peer}`,
    STEP_TIMEOUT_MS,
  );
}

/** Reads what one node received from one peer, in order, with `receive`'s cursor, as a plugin does. */
class Reader {
  private cursor = 0;

  constructor(
    private readonly node: TestNode,
    private readonly from: string,
  ) {}

  /** Exactly `count` more messages, each checked to carry `bytes` characters; long-polls until they are in. */
  async take(count: number, bytes: number): Promise<void> {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    let taken = 0;
    while (taken < count) {
      if (Date.now() > deadline) throw new Error(`timed out after ${taken} of ${count} messages`);
      const limit = Math.min(count - taken, RECEIVE_LIMIT);
      const { messages, next_cursor: next } = (await this.node.call('receive', { peer: this.from, after: this.cursor, limit, wait_ms: POLL_WAIT_MS })) as {
        messages: { content: unknown }[];
        next_cursor: number;
      };
      const damaged = messages.find((message) => typeof message.content !== 'string' || message.content.length !== bytes);
      if (damaged !== undefined) throw new Error(`a message arrived whose content is not ${bytes} characters of text`);
      taken += messages.length;
      this.cursor = next;
    }
  }
}

/** Seconds from A's first `send` until B has read all `count` messages. */
async function oneWay(a: TestNode, bId: string, atB: Reader, count: number, bytes: number): Promise<number> {
  const content = 'x'.repeat(bytes);
  const start = nowMs();
  const arrived = atB.take(count, bytes);
  const sent = (async () => {
    for (let i = 0; i < count; i += 1) await a.call('send', { peer: bId, type: 'text', content });
  })();
  await Promise.all([sent, arrived]);
  return (nowMs() - start) / 1000;
}

/** Round-trip times (ms): A sends, B answers each message the moment its waiting `receive` returns it. */
async function roundTrips(
  { a, bId, atA }: { a: TestNode; bId: string; atA: Reader },
  { b, aId, atB }: { b: TestNode; aId: string; atB: Reader },
  count: number,
  bytes: number,
): Promise<number[]> {
  const content = 'x'.repeat(bytes);
  const answering = (async () => {
    for (let i = 0; i < count; i += 1) {
      await atB.take(1, bytes);
      await b.call('send', { peer: aId, type: 'text', content });
    }
  })();
  const asking = (async () => {
    const times: number[] = [];
    for (let i = 0; i < count; i += 1) {
      const start = nowMs();
      await a.call('send', { peer: bId, type: 'text', content });
      await atA.take(1, bytes);
      times.push(nowMs() - start);
    }
    return times;
  })();
  const [, times] = await Promise.all([answering, asking]);
  return times;
}
