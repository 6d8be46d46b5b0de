import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';

interface Received {
  message_id: string;
  from: Record<string, unknown>;
  cursor: number;
  type: string;
  content: unknown;
  correlation_id: string | null;
}

async function receiveOne(node: TestNode, peer: string, after = 0): Promise<{ messages: Received[]; next_cursor: number }> {
  return eventually(async () => {
    const data = (await node.call('receive', { peer, after, wait_ms: 500 })) as unknown as { messages: Received[]; next_cursor: number };
    return data.messages.length > 0 ? data : false;
  }, `a message from ${peer}`);
}

async function delivered(node: TestNode, messageId: string): Promise<void> {
  await eventually(async () => (await node.call('message_status', { message_id: messageId }))['state'] === 'delivered', `delivery of ${messageId}`);
}

const TEXT = 'Grüße 👋\nline two\ttab "quotes" \\ backslash \u2028 and a long tail '.repeat(50);
const JSON_CONTENT = { request: 'schedule', at: '2026-12-01T10:00:00Z', attendees: ['a', 'b'], nested: { n: 1.5, neg: -3, big: 12345678901234, nil: null, t: true } };

t.test('text and json both ways, exactly as sent, with delivery states', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);

  const sent = await alice.call('send', { peer: bId, type: 'text', content: TEXT, correlation_id: 'req-1' });
  t.match(sent, { message_id: /^[0-9a-f]{32}$/, state: /^(queued|sent)$/ });
  const atBob = await receiveOne(bob, aId);
  t.equal(atBob.messages.length, 1);
  t.match(atBob.messages[0], { message_id: sent['message_id'], type: 'text', correlation_id: 'req-1' });
  t.equal(atBob.messages[0]?.content, TEXT, 'text byte for byte');
  const aliceIdentity = await alice.call('identity');
  t.same(
    atBob.messages[0]?.from,
    { peer: aId, fingerprint: aliceIdentity['fingerprint'], self_chosen_name: aliceIdentity['display_name'], signature: 'verified' },
    'each message says who sent it: proven peer id and fingerprint, the name as the sender chose it',
  );
  await delivered(alice, sent['message_id'] as string);

  const reply = await bob.call('send', { peer: aId, type: 'json', content: JSON_CONTENT, correlation_id: 'req-1' });
  const atAlice = await receiveOne(alice, bId);
  t.same(atAlice.messages[0]?.content, JSON_CONTENT, 'json value equal');
  t.equal(atAlice.messages[0]?.correlation_id, 'req-1');
  await delivered(bob, reply['message_id'] as string);

  t.same(await bob.call('ack', { peer: aId, through: atBob.next_cursor }), { acked: 1 });
  t.same((await bob.call('receive', { peer: aId }))['messages'], [], 'acked messages are gone');
  t.ok(alice.events.some((e) => e.type === 'p2p.message.delivered' && e.data['message_id'] === sent['message_id']));
  const received = bob.events.find((e) => e.type === 'p2p.message.received');
  t.same(
    received?.data,
    { peer: aId, message_id: sent['message_id'], type: 'text', size: Buffer.byteLength(TEXT), cursor: atBob.messages[0]?.cursor },
    'the event carries metadata, never content, and the cursor receive returns the message under',
  );

  const peers = (await alice.call('peers'))['peers'] as { capabilities: unknown }[];
  t.match(peers[0]?.capabilities, { protocol_version: 2, capabilities: ['text', 'json'], software: /^p2p-comm\// }, 'hello exchanged');
});

t.test('a message to an offline peer waits and is delivered when it comes online', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  await bob.extension.shutdown();
  await eventually(async () => ((await alice.call('peers'))['peers'] as { online: boolean }[])[0]?.online === false, 'bob offline');
  const sent = await alice.call('send', { peer: bId, type: 'text', content: 'are you there?' });
  t.equal(sent['state'], 'queued');
  const bob2 = await startNode(t, { dataDir: bob.dataDir });
  const got = await receiveOne(bob2, aId);
  t.equal(got.messages[0]?.content, 'are you there?');
  await delivered(alice, sent['message_id'] as string);
});

t.test('kill -9 of the sender after send returned: delivered after restart', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  await bob.extension.shutdown();
  const ids: string[] = [];
  for (let i = 0; i < 20; i += 1) ids.push((await alice.call('send', { peer: bId, type: 'text', content: `durable ${i}` }))['message_id'] as string);
  alice.extension.kill('SIGKILL');
  await alice.extension.exited;
  const bob2 = await startNode(t, { dataDir: bob.dataDir });
  const alice2 = await startNode(t, { dataDir: alice.dataDir });
  const all = await eventually(async () => {
    const data = (await bob2.call('receive', { peer: aId, wait_ms: 200 })) as unknown as { messages: Received[] };
    return data.messages.length === 20 ? data.messages : false;
  }, 'all 20 messages at bob');
  t.same(all.map((m) => m.content), ids.map((_, i) => `durable ${i}`), 'all, in order, once');
  for (const id of ids) await delivered(alice2, id);
});

t.test('kill -9 of the receiver after it acknowledged: the message is still in its inbox', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  const sent = await alice.call('send', { peer: bId, type: 'json', content: { keep: 'me' } });
  await delivered(alice, sent['message_id'] as string);
  bob.extension.kill('SIGKILL');
  await bob.extension.exited;
  const bob2 = await startNode(t, { dataDir: bob.dataDir });
  const got = (await bob2.call('receive', { peer: aId })) as unknown as { messages: Received[] };
  t.same(got.messages.map((m) => [m.message_id, m.content]), [[sent['message_id'], { keep: 'me' }]]);
});

t.test('oversize content is refused with a clear error before anything is queued', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { bId } = await pairNodes(alice, bob);
  const tooBig = await alice.attempt('send', { peer: bId, type: 'text', content: 'é'.repeat(600_000) });
  t.equal(tooBig.error?.code, -32011);
  t.match(tooBig.error?.message, /content is 1200000 bytes once encoded; the limit is 1048576 bytes/);
  const tooLong = await alice.attempt('send', { peer: bId, type: 'text', content: 'x'.repeat(1_048_577) });
  t.match(tooLong.error?.message, /must NOT have more than 1048576 characters/);
  const bigJson = await alice.attempt('send', { peer: bId, type: 'json', content: { blob: 'y'.repeat(1_048_576) } });
  t.match(bigJson.error?.message, /the limit is 1048576 bytes/);
  const surrogate = await alice.attempt('send', { peer: bId, type: 'text', content: 'broken \ud800 text' });
  t.match(surrogate.error?.message, /unpaired UTF-16 surrogate/);
  const stranger = await alice.attempt('send', { peer: 'a'.repeat(51) + 'q', type: 'text', content: 'hi' });
  t.equal(stranger.error?.code, -32013, 'sending to an unpaired peer is refused');
  t.same(((await alice.call('status'))['queues'] as { outbox: Record<string, number> }).outbox['queued'], 0, 'nothing queued');
});

t.test('a message that outlives its ttl while the peer is away expires', async (t) => {
  const alice = await startNode(t, { env: { P2P_COMM_EXPIRY_SWEEP_MS: '20' } });
  const bob = await startNode(t);
  const { bId } = await pairNodes(alice, bob);
  await bob.extension.shutdown();
  const sent = await alice.call('send', { peer: bId, type: 'text', content: 'too late', ttl_seconds: 1 });
  await eventually(async () => (await alice.call('message_status', { message_id: sent['message_id'] }))['state'] === 'expired', 'expiry');
  t.ok(alice.events.some((e) => e.type === 'p2p.message.expired' && e.data['message_id'] === sent['message_id']));
  const unknown = await alice.attempt('message_status', { message_id: 'f'.repeat(32) });
  t.equal(unknown.error?.code, -32013);
});

t.test('a full inbox defers the sender, which delivers the rest once the plugin acks', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t, { env: { P2P_COMM_INBOX_MAX_MESSAGES: '3' } });
  const { aId, bId } = await pairNodes(alice, bob);
  const ids: string[] = [];
  for (let i = 0; i < 5; i += 1) ids.push((await alice.call('send', { peer: bId, type: 'text', content: `m${i}` }))['message_id'] as string);
  const first = await eventually(async () => {
    const data = (await bob.call('receive', { peer: aId, wait_ms: 200 })) as unknown as { messages: Received[]; next_cursor: number };
    return data.messages.length === 3 ? data : false;
  }, 'three messages');
  t.same(first.messages.map((m) => m.content), ['m0', 'm1', 'm2']);
  await eventually(async () => {
    const status = await alice.call('message_status', { message_id: ids[3] as string });
    return status['reason'] === 'inbox_full';
  }, 'the sender to see the deferral');
  const refusals = ((await bob.call('status'))['refusals'] as { network: Record<string, number> }).network;
  t.ok((refusals['message_inbox_full'] ?? 0) >= 1, 'counted');
  await bob.call('ack', { peer: aId, through: first.next_cursor });
  const rest = await eventually(async () => {
    const data = (await bob.call('receive', { peer: aId, after: first.next_cursor, wait_ms: 200 })) as unknown as { messages: Received[] };
    return data.messages.length === 2 ? data.messages : false;
  }, 'the other two');
  // A deferred message is offered again after ones that found room, so the two may come in either order.
  t.same(rest.map((m) => m.content).sort(), ['m3', 'm4'], 'none lost, each once');
  for (const id of ids) await delivered(alice, id);
});

t.test('large messages come back from the inbox file byte for byte, at most P2P_COMM_RECEIVE_MAX_BYTES per receive', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t, { env: { P2P_COMM_RECEIVE_MAX_BYTES: String(1024 * 1024) } });
  const { aId, bId } = await pairNodes(alice, bob);
  const texts = ['a', 'b', 'c'].map((letter, i) => `${letter}${'é'.repeat(300_000)}${i}`);
  for (const content of texts) await delivered(alice, (await alice.call('send', { peer: bId, type: 'text', content }))['message_id'] as string);
  let after = 0;
  for (const expected of texts) {
    const data = (await bob.call('receive', { peer: aId, after })) as unknown as { messages: Received[]; next_cursor: number };
    t.equal(data.messages.length, 1, 'two together would pass 1 MiB');
    t.ok(data.messages[0]?.content === expected, `${expected.slice(0, 1)}: ${Buffer.byteLength(expected)} bytes, exactly as sent`);
    after = data.next_cursor;
  }
});

t.test('a message the inbox file no longer holds intact fails receive, named and counted; nothing else is lost', async (t) => {
  const alice = await startNode(t);
  // Nothing kept in memory: every receive reads the file.
  const bob = await startNode(t, { env: { P2P_COMM_INBOX_RECENT_BYTES: '0' } });
  const { aId, bId } = await pairNodes(alice, bob);
  for (const content of ['intact before', 'damaged on disk', 'intact after']) {
    await delivered(alice, (await alice.call('send', { peer: bId, type: 'text', content }))['message_id'] as string);
  }
  const inbox = join(bob.dataDir, 'inbox.log');
  const at = readFileSync(inbox).indexOf('damaged on disk');
  t.ok(at > 0, 'the content is in the inbox file');
  const fd = openSync(inbox, 'r+');
  writeSync(fd, 'D', at);
  closeSync(fd);

  const first = (await bob.call('receive', { peer: aId })) as unknown as { messages: Received[]; next_cursor: number };
  t.same(first.messages.map((m) => m.content), ['intact before'], 'what comes before it');
  const failed = await bob.attempt('receive', { peer: aId, after: first.next_cursor });
  t.equal(failed.error?.code, -32007);
  t.match(failed.error?.message, new RegExp(`cursor ${first.next_cursor + 1}\\) from ${aId} cannot be read back from the inbox .*fails its checksum.*ack through cursor ${first.next_cursor + 1}`));
  t.match((await bob.call('status'))['queues'], { inbox: { messages: 3, read_failures: 1 } });
  await bob.call('ack', { peer: aId, through: first.next_cursor + 1 });
  const rest = (await bob.call('receive', { peer: aId })) as unknown as { messages: Received[] };
  t.same(rest.messages.map((m) => m.content), ['intact after']);
});
