import t from 'tap';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';

/**
 * Crash safety: a stream of sends from Alice to Bob while either process is
 * killed with SIGKILL at seeded random points: while sends are still being
 * written (a message may leave before its outbox record is durable), or
 * after some were answered, and after some deliveries were reported (the
 * `delivered` state is written lazily, so a kill may lose it). Afterwards
 * every message whose `send` returned, and every one reported delivered,
 * reaches Bob's plugin, which dedups by message id as the at-least-once
 * contract asks, exactly once; Bob's inbox never stores a message twice
 * (within one run of Bob, no id comes back under a second cursor); no
 * answered send is ever reported lost (failed, expired or unknown), after
 * any restart; nothing that was never sent appears; and every restart
 * reopened its trust store and logs (a damaged file would fail initialize).
 * `npm run chaos` runs it with 100 kills (P2P_COMM_CHAOS_KILLS).
 */
const KILLS = Number(process.env['P2P_COMM_CHAOS_KILLS'] ?? '20');
const SEED = Number(process.env['P2P_COMM_CHAOS_SEED'] ?? '1122');

/** A small seeded generator (mulberry32), so a failing run can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), state | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface Seen {
  id: string;
  content: string;
  /** Which run of Bob read it. */
  run: number;
}

const PENDING_OR_DELIVERED = new Set(['queued', 'sent', 'delivered']);

t.test(`${KILLS} kills -9 during a stream of sends lose and invent nothing`, async (t) => {
  const next = random(SEED);
  let alice = await startNode(t);
  let bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  const sent = new Map<string, string>();
  const attempted = new Set<string>();
  /** Ids Alice reported delivered, by a `p2p.message.delivered` event or by message_status, before some kill. */
  const reportedDelivered = new Set<string>();
  const seen: Seen[] = [];
  /** Reported delivered, pending again after a restart of Alice (its lazy record lost to the kill): offered again. */
  let revertedDeliveries = 0;
  let bobRun = 0;
  let cursor = 0;
  let counter = 0;

  /** Bob's plugin: take what is there, remember it, ack it. */
  const drainBob = async (node: TestNode): Promise<void> => {
    const data = (await node.call('receive', { peer: aId, after: cursor, limit: 500 })) as unknown as { messages: { message_id: string; content: string }[]; next_cursor: number };
    for (const message of data.messages) seen.push({ id: message.message_id, content: message.content, run: bobRun });
    if (data.messages.length > 0) await node.call('ack', { peer: aId, through: data.next_cursor });
    cursor = data.next_cursor;
  };

  /** Alice's plugin asks after some answered sends; what it hears as delivered counts as reported. */
  const askAlice = async (ids: string[]): Promise<void> => {
    for (const id of ids) {
      const status = await alice.call('message_status', { message_id: id });
      if (status['state'] === 'delivered') reportedDelivered.add(id);
    }
  };

  const collectDeliveryEvents = (node: TestNode): void => {
    for (const event of node.events) if (event.type === 'p2p.message.delivered') reportedDelivered.add(event.data['message_id'] as string);
  };

  /** After a restart of Alice: no answered send is failed, expired or unknown, whatever the kill cut short. */
  const noneLost = async (): Promise<void> => {
    for (const [id, content] of sent) {
      const response = await alice.attempt('message_status', { message_id: id });
      const state = (response.result as { data?: { state?: string } } | undefined)?.data?.state;
      if (state === undefined || !PENDING_OR_DELIVERED.has(state)) t.fail(`${content} (${id}) reported lost after a restart: ${JSON.stringify(response)}`);
      if (state !== 'delivered' && reportedDelivered.has(id)) revertedDeliveries += 1;
    }
  };

  for (let kill = 0; kill < KILLS; kill += 1) {
    const victimIsAlice = next() < 0.5;
    const batch = 1 + Math.floor(next() * 8);
    // -1: the victim dies while the first sends are still being written, before any is answered.
    const killAfter = Math.floor(next() * (batch + 1)) - 1;
    const ask = next() < 0.5;
    // Sends are queued at once; the victim dies after a random number of them answered.
    const sends = Array.from({ length: batch }, () => {
      const content = `m${(counter += 1)}`;
      attempted.add(content);
      return alice
        .call('send', { peer: bId, type: 'text', content })
        .then((data) => sent.set(data['message_id'] as string, content))
        .catch(() => undefined);
    });
    if (killAfter >= 0) await sends[killAfter];
    if (killAfter >= 0 && ask) {
      // Some of those already answered, delivered or not yet: the kill may then cut a lazy delivered record.
      await askAlice([...sent.keys()].slice(-batch)).catch(() => undefined);
    }
    if (!victimIsAlice && killAfter >= 0) await drainBob(bob).catch(() => undefined);
    collectDeliveryEvents(alice);
    const victim = victimIsAlice ? alice : bob;
    victim.extension.kill('SIGKILL');
    await victim.extension.exited;
    await Promise.all(sends);
    // The restart must reopen every file the kill may have cut short.
    if (victimIsAlice) {
      alice = await startNode(t, { dataDir: alice.dataDir });
      await noneLost();
    } else {
      bob = await startNode(t, { dataDir: bob.dataDir });
      bobRun += 1;
      // A fresh plugin session: what was not acked comes back from the start.
      cursor = 0;
    }
  }

  await eventually(async () => {
    await drainBob(bob);
    const distinct = new Set(seen.map((s) => s.id));
    return [...sent.keys(), ...reportedDelivered].every((id) => distinct.has(id));
  }, 'every answered send, and every one reported delivered, at Bob', 60_000);

  const distinct = new Map<string, string>();
  for (const message of seen) distinct.set(message.id, message.content);
  t.ok(sent.size > KILLS, `${sent.size} sends returned`);
  for (const [id, content] of sent) t.equal(distinct.get(id), content, `${content} delivered as sent`);
  for (const id of reportedDelivered) t.ok(distinct.has(id), `${id}, reported delivered, is at Bob`);
  const storedTwice = new Set<string>();
  const perRun = new Set<string>();
  for (const message of seen) {
    const key = `${message.run} ${message.id}`;
    if (perRun.has(key)) storedTwice.add(message.id);
    perRun.add(key);
  }
  t.same([...storedTwice], [], "Bob's inbox stored no message twice: an offer again after a lost delivered state is a duplicate");
  const phantom = [...distinct.keys()].filter((id) => !sent.has(id));
  // A send whose answer was lost to the kill may still have been stored: it may arrive, never as something else.
  const answeredContents = new Set(sent.values());
  for (const id of phantom) {
    const content = distinct.get(id) as string;
    t.ok(attempted.has(content) && !answeredContents.has(content), `${content}: an unanswered send, not an invented message`);
  }
  t.ok(seen.length - distinct.size <= KILLS * 8, 'duplicates only from messages not acked before a kill');
  for (const id of sent.keys()) {
    await eventually(async () => (await alice.call('message_status', { message_id: id }))['state'] === 'delivered', `delivery of ${id}`, 30_000);
  }
  t.pass(`seed ${SEED}: ${KILLS} kills, ${sent.size} sends, ${reportedDelivered.size} reported delivered (${revertedDeliveries} pending again after a restart), ${seen.length - distinct.size} redeliveries`);
});
