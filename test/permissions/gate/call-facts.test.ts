import t from 'tap';
import { fingerprintOf, peerIdFromPublicKey } from '../../../extension/common/peer-id';
import { printPairingLink } from '../../../extension/common/pairing-link';
import { ed25519FromSeed } from '../../../extension/wire/primitives';
import { CallFacts, ownCurrentKey, PREVIEW_CHARACTERS, type DiscoveredPeer, type KnownPeer, type KnownRequest, type ListedPeer, type ListedGroupFacts, type OfferedFile, type OwnIdentity, type PeerDirectory } from '../../../permissions/gate/call-facts';

const KEY = ed25519FromSeed(new Uint8Array(32).fill(7)).publicKey;
const PEER = peerIdFromPublicKey(KEY);
const OTHER = peerIdFromPublicKey(ed25519FromSeed(new Uint8Array(32).fill(9)).publicKey);
const SAFETY = '12345 67890';
const REQUEST_SAFETY = '24680 13579';
const HOSTILE_NAME = 'Bob\u200b\u0085 9b:ce:9f:34 \u009b2J\u2028x';

function directory(
  requests: Record<string, KnownRequest> = {},
  peers: Record<string, KnownPeer> = {},
  heard: Record<string, DiscoveredPeer> = {},
  files: Record<string, OfferedFile> = {},
  outgoing: Record<string, number> = {},
): PeerDirectory {
  return {
    safetyNumber: async () => SAFETY,
    incomingRequest: async (id) => requests[id],
    pairedPeer: async (peer) => peers[peer],
    discoveredPeer: async (peer) => heard[peer],
    offeredFile: async (peer, transferId) => files[`${peer} ${transferId}`],
    outgoingFileSize: async (path) => outgoing[path],
  };
}

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

t.test('pair by link: fingerprint, the self-chosen name escaped and marked, address, safety number', async (t) => {
  const link = printPairingLink({ peerId: PEER, addresses: ['192.0.2.7:7070'], displayName: 'Alice', dhtBinding: null, expiresAt: new Date('2030-01-01T00:00:00Z') });
  const facts = await new CallFacts(directory()).describe('pair', { link });
  t.match(facts.join('\n'), `peer        ${PEER}`);
  t.match(facts.join('\n'), `fingerprint ${fingerprintOf(KEY)}`);
  t.match(facts.join('\n'), 'name        "Alice" (chosen by them; anyone can pick any name: compare the fingerprint)');
  t.match(facts.join('\n'), 'address     192.0.2.7:7070');
  t.match(facts.join('\n'), `safety no.  ${SAFETY}`);
  t.match(facts.join('\n'), 'link expires2030-01-01T00:00:00.000Z');
  t.match(facts[0], /^asks/);
});

t.test('pair with a broken link says so instead of failing', async (t) => {
  const facts = await new CallFacts(directory()).describe('pair', { link: 'p2p-comm://nonsense' });
  t.match(facts, [/^link +NOT a valid pairing link \(invalid pairing link: .*\); the extension will refuse it$/]);
});

t.test('pair by peer id: the given address, or what LAN discovery heard, with the name as a claim', async (t) => {
  const facts = await new CallFacts(directory()).describe('pair', { peer: PEER, address: '192.0.2.9:1' });
  t.match(facts.join('\n'), 'name        not known yet');
  t.match(facts.join('\n'), 'address     192.0.2.9:1');
  const heard = new CallFacts(directory({}, {}, { [PEER]: { display_name: 'Carol\u2028', addresses: ['192.0.2.4:7'] } }));
  const discovered = (await heard.describe('pair', { peer: PEER })).join('\n');
  t.match(discovered, 'name        "Carol\\u2028" (chosen by them');
  t.match(discovered, 'address     192.0.2.4:7 (heard on the local network; the handshake proves the key)');
  const unheard = (await new CallFacts(directory()).describe('pair', { peer: PEER })).join('\n');
  t.match(unheard, 'address     none: LAN discovery has not heard this node');
});

t.test('accept shows the request as the extension holds it, and warns when the peer does not match', async (t) => {
  const fromOlderExtension: KnownRequest = { peer: PEER, display_name: HOSTILE_NAME, address: '192.0.2.8:7070', created_at: '2026-01-01T00:00:00.000Z' };
  const request: KnownRequest = { ...fromOlderExtension, safety_number: REQUEST_SAFETY };
  const facts = new CallFacts(directory({ r1: request, old: fromOlderExtension }));
  const shown = (await facts.describe('accept', { request_id: 'r1', peer: PEER })).join('\n');
  t.match(shown, `fingerprint ${fingerprintOf(KEY)}`);
  t.match(shown, 'name        "Bob\\u200b\\u0085 9b:ce:9f:34 \\u009b2J\\u2028x" (chosen by them');
  t.match(shown, 'address     192.0.2.8:7070');
  t.match(shown, `safety no.  ${REQUEST_SAFETY}`, 'the number the extension computed from the key the requester proved');
  t.notMatch(shown, SAFETY, 'not one the host computes for the peer id');
  const older = (await facts.describe('accept', { request_id: 'old', peer: PEER })).join('\n');
  t.match(older, 'safety no.  unknown (the extension did not report the keys it is computed from)', 'never one from the first keys');
  t.notMatch(shown.replaceAll('\n', ' '), UNSAFE, 'nothing that acts on a terminal');
  t.notMatch(shown, 'WARNING');
  const mismatched = await facts.describe('accept', { request_id: 'r1', peer: OTHER });
  t.match(mismatched[0], `WARNING     request r1 comes from another peer than the one this call names (${OTHER}); the extension will refuse it`);
  const unknown = await facts.describe('accept', { request_id: 'nope\u202e', peer: PEER });
  t.match(unknown[0], 'request     nope\\u{202e} is not pending; the extension will refuse this call');
});

t.test('accept and reject spell out a name or address changed since the request arrived', async (t) => {
  const arrived: KnownRequest = { peer: PEER, display_name: 'Alice', address: '192.0.2.8:7070', created_at: '2026-01-01T00:00:00.000Z' };
  const renamed: KnownRequest = {
    ...arrived,
    changed: {
      display_name: { from: 'Alice', to: HOSTILE_NAME },
      address: { from: '192.0.2.8:7070', to: null },
      changes: 2,
      changed_at: '2026-01-01T00:05:00.000Z',
    },
  };
  const backAgain: KnownRequest = { ...arrived, changed: { changes: 2, changed_at: '2026-01-01T00:05:00.000Z' } };
  const facts = new CallFacts(directory({ arrived, renamed, back: backAgain, unchanged: { ...arrived, changed: null } }));

  const accepting = await facts.describe('accept', { request_id: 'renamed', peer: PEER });
  t.match(accepting, [
    /^asks /,
    /^peer /,
    /^fingerprint /,
    'name        "Alice" (chosen by them',
    /^safety no\. /,
    'address     192.0.2.8:7070',
    /^requested /,
    'WARNING     name changed from "Alice" to "Bob\\u200b\\u0085 9b:ce:9f:34 \\u009b2J\\u2028x" since the request arrived; accepting pairs under the name it arrived with, "Alice"',
    'WARNING     address changed from 192.0.2.8:7070 to none since the request arrived',
    'changes     the requester changed its name or address 2 time(s), last at 2026-01-01T00:05:00.000Z',
  ]);
  t.notMatch(accepting.join(' '), UNSAFE, 'the new name is escaped like the old');
  const rejecting = (await facts.describe('reject', { request_id: 'renamed' })).join('\n');
  t.match(rejecting, 'name changed from "Alice" to ');
  t.notMatch(rejecting, 'accepting pairs under');
  t.match(await facts.describe('accept', { request_id: 'back', peer: PEER }), [
    /^asks /, /^peer /, /^fingerprint /, /^name /, /^safety no\. /, /^address /, /^requested /,
    'changes     the requester changed its name or address 2 time(s), last at 2026-01-01T00:05:00.000Z; its latest name and address are again the ones above',
  ]);
  for (const id of ['arrived', 'unchanged']) {
    const shown = (await facts.describe('accept', { request_id: id, peer: PEER })).join('\n');
    t.notMatch(shown, /WARNING|changes/, `${id}: nothing about changes`);
  }
});

t.test('send shows type, size in bytes and a bounded, escaped preview', async (t) => {
  const facts = new CallFacts(directory({}, { [PEER]: { display_name: 'Alice', addresses: ['192.0.2.7:7070'] } }));
  const short = (await facts.describe('send', { peer: PEER, type: 'text', content: 'héllo\u001b[2J' })).join('\n');
  t.match(short, 'name        "Alice" (chosen by them');
  t.match(short, 'content     text, 10 bytes');
  t.match(short, 'preview     "héllo\\u001b[2J"');
  const long = (await facts.describe('send', { peer: PEER, type: 'text', content: '🦊'.repeat(500) })).join('\n');
  t.match(long, 'content     text, 2,000 bytes');
  t.match(long, `… (first ${PREVIEW_CHARACTERS} of 500 characters)`);
  t.ok(long.length < 1000, 'bounded');
  const json = (await facts.describe('send', { peer: PEER, type: 'json', content: { a: [1, '\u2028'] } })).join('\n');
  t.match(json, 'preview     "{\\"a\\":[1,\\"\\u2028\\"]}"');
  const unpaired = (await new CallFacts(directory()).describe('send', { peer: OTHER, type: 'text', content: 'x' })).join('\n');
  t.match(unpaired, 'paired      no: this node has not paired with that peer');
});

t.test('a directory that fails is reported, never thrown', async (t) => {
  const failing: PeerDirectory = { ...directory(), pairedPeer: async () => Promise.reject(new Error('extension down\u001b')) };
  const facts = await new CallFacts(failing).describe('revoke', { peer: PEER });
  t.same(facts, ['note        the host could not gather facts about this call: extension down\\u{1b}']);
});

t.test('a requester’s or peer’s agent card: name, description preview and skills, escaped and marked as theirs', async (t) => {
  const card = {
    name: 'Trip\u202eplanner',
    description: `Plans trips \u001b[2J and ${'more '.repeat(40)}`,
    skills: [{ name: 'Plan\u2028a trip' }, { name: 'Book' }, { id: 'nameless' }, 'not a skill'],
  };
  const request: KnownRequest = { peer: PEER, display_name: 'Alice', address: null, created_at: '2026-01-01T00:00:00.000Z', agent_card: card, agent_card_changes: 0 };
  const facts = new CallFacts(directory({ r1: request }, { [PEER]: { display_name: 'Alice', addresses: [], agent_card: card } }));
  for (const shown of [(await facts.describe('accept', { request_id: 'r1', peer: PEER })).join('\n'), (await facts.describe('send', { peer: PEER, type: 'text', content: 'hi' })).join('\n')]) {
    t.match(shown, 'agent       "Trip\\u202eplanner" (chosen by them, in their agent card)');
    t.match(shown, /about       "Plans trips \\u001b\[2J and (more ){19}more" … \(first 120 of 221 characters\)/);
    t.match(shown, 'skills      "Plan\\u2028a trip", "Book"');
    t.notMatch(shown.replaceAll('\n', ' '), UNSAFE, 'nothing that acts on a terminal');
  }
  const swapped = new CallFacts(directory({ r1: { ...request, agent_card_changes: 3 } }));
  t.match((await swapped.describe('reject', { request_id: 'r1' })).join('\n'), 'WARNING     its agent card changed 3 time(s) since the request arrived; the lines above are the latest');
  const many = { name: 'A', skills: Array.from({ length: 11 }, (_, i) => ({ name: `s${i}` })) };
  const listed = (await new CallFacts(directory({}, { [PEER]: { display_name: 'A', addresses: [], agent_card: many } })).describe('receive', { peer: PEER })).join('\n');
  t.match(listed, 'skills      "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7" and 3 more');
  const without = (await new CallFacts(directory({}, { [PEER]: { display_name: 'A', addresses: [], agent_card: null } })).describe('receive', { peer: PEER })).join('\n');
  t.notMatch(without, /agent|skills/, 'no card (a peer before agent cards): no lines');
});

t.test('a2a_set_card shows what every paired peer will see', async (t) => {
  const facts = new CallFacts(directory());
  const set = (await facts.describe('a2a_set_card', { card: { name: 'Helper\u0007', description: 'Answers.', skills: [{ name: 'Answer' }] } })).join('\n');
  t.match(set, 'asks        to show every paired peer this agent card for your agent, signed with this node’s key');
  t.match(set, 'agent       "Helper\\u0007" (as the plugin wrote it)');
  t.match(set, 'skills      "Answer"');
  t.match(await facts.describe('a2a_set_card', { card: null }), [/^asks +to withdraw this node’s agent card/]);
});

t.test('after a rotation, a peer’s dialogs show the fingerprint of the key the extension reports, not the one its id names', async (t) => {
  const current = fingerprintOf(ed25519FromSeed(new Uint8Array(32).fill(11)).publicKey);
  const paired = new CallFacts(directory({}, { [PEER]: { display_name: 'Alice', addresses: [], fingerprint: current } }));
  const send = (await paired.describe('send', { peer: PEER, type: 'text', content: 'x' })).join('\n');
  t.match(send, `peer        ${PEER}`, 'the peer id stays');
  t.match(send, `fingerprint ${current}`);
  t.notMatch(send, fingerprintOf(KEY));
  const request: KnownRequest = { peer: PEER, display_name: 'Alice', address: null, created_at: '2026-01-01T00:00:00.000Z', fingerprint: current };
  const accept = (await new CallFacts(directory({ r1: request })).describe('accept', { request_id: 'r1', peer: PEER })).join('\n');
  t.match(accept, `fingerprint ${current}`, 'a request shows the key its requester proved');
  t.notMatch(accept, fingerprintOf(KEY));
});

const TRANSFER = 'ab'.repeat(16);
const OFFER: OfferedFile = {
  name: 'report\u202e.pdf',
  size: 268_435_456,
  sha256: '3f2a'.repeat(16),
  media_type: 'application/pdf',
  description: 'Q3 numbers\u001b[2J we discussed',
  correlation_id: 'task-7',
  state: 'offered',
};
const ROTATED_FINGERPRINT = fingerprintOf(ed25519FromSeed(new Uint8Array(32).fill(3)).publicKey);

t.test('accept_file: who offers (current key\'s fingerprint), and the file: name, size, sha256, type, about, context, all escaped', async (t) => {
  const paired: KnownPeer = { display_name: 'Alice', fingerprint: ROTATED_FINGERPRINT, addresses: [] };
  const facts = await new CallFacts(directory({}, { [PEER]: paired }, {}, { [`${PEER} ${TRANSFER}`]: OFFER })).describe('accept_file', { peer: PEER, transfer_id: TRANSFER });
  const shown = facts.join('\n');
  t.equal(facts[0], 'offer       "Alice"\'s agent wants to share a file with you. Allow?');
  t.match(facts[1], /^asks +to receive the file below from this peer; it is saved in files\/incoming/);
  t.match(shown, `fingerprint ${ROTATED_FINGERPRINT}`, 'the fingerprint of the key the peer holds now, as the extension reports it');
  t.notMatch(shown, fingerprintOf(KEY), 'not one computed from the peer id');
  t.match(shown, 'name        "Alice" (chosen by them');
  t.match(shown, `safety no.  ${SAFETY}`);
  t.match(shown, 'file        "report\\u202e.pdf" (chosen by them)');
  t.match(shown, 'size        268,435,456 bytes (256.0 MiB)');
  t.match(shown, `sha256      ${'3f2a'.repeat(16)}`);
  t.match(shown, 'type        application/pdf (as they say)');
  t.match(shown, 'about       "Q3 numbers\\u001b[2J we discussed"');
  t.match(shown, 'context     task-7');
  t.notOk(facts.some((fact) => UNSAFE.test(fact)), 'nothing the peer chose reaches the terminal raw');
});

t.test('accept_file: an unknown transfer or one no longer offered is said to be refused', async (t) => {
  const unknown = (await new CallFacts(directory()).describe('accept_file', { peer: PEER, transfer_id: TRANSFER })).join('\n');
  t.match(unknown, `offer       Peer ${PEER}'s agent wants to share a file with you. Allow?`);
  t.match(unknown, `file        transfer ${TRANSFER} is not a file this peer offered; the extension will refuse this call`);
  t.match(unknown, 'paired      no');
  const ended = { ...OFFER, state: 'declined' };
  const declined = (await new CallFacts(directory({}, {}, {}, { [`${PEER} ${TRANSFER}`]: ended })).describe('accept_file', { peer: PEER, transfer_id: TRANSFER })).join('\n');
  t.match(declined, 'state       declined: only an offered file can be accepted');
});

t.test('send_file: the peer, and the file from files/outgoing with its size, or an upload given by the plugin', async (t) => {
  const fromFolder = (await new CallFacts(directory({}, { [PEER]: { display_name: 'Bob', addresses: [] } }, {}, {}, { 'q3/report.pdf': 1_048_576 })).describe('send_file', {
    peer: PEER,
    source: { folder: 'q3/report.pdf' },
    description: 'as promised',
    correlation_id: 'task-9',
  })).join('\n');
  t.match(fromFolder, /^asks +to offer the file below to this peer; its user is asked before any byte is sent/);
  t.match(fromFolder, `fingerprint ${fingerprintOf(KEY)}`);
  t.match(fromFolder, 'file        "report.pdf"');
  t.match(fromFolder, 'size        1,048,576 bytes (1.0 MiB)');
  t.match(fromFolder, 'from        files/outgoing/q3/report.pdf');
  t.match(fromFolder, 'about       "as promised"');
  t.match(fromFolder, 'context     task-9');
  const missing = (await new CallFacts(directory()).describe('send_file', { peer: PEER, source: { folder: 'gone.txt' } })).join('\n');
  t.match(missing, 'size        no such file in files/outgoing; the extension will refuse this call');
  const uploadFacts = await new CallFacts(directory()).describe('send_file', { peer: PEER, name: 'notes\u2028.txt', source: { upload: { offset: 0, data: 'AAAA', done: true } } });
  const uploaded = uploadFacts.join('\n');
  t.match(uploaded, 'file        "notes\\u2028.txt"');
  t.match(uploaded, 'size        given by the plugin, in parts');
  t.match(uploaded, 'from        bytes the plugin uploads');
  t.notOk(uploadFacts.some((fact) => UNSAFE.test(fact)), 'the name the plugin gives is escaped');
});

t.test('a rotated peer’s dialogs say from which key it changed, when, and that the old key signed the new one', async (t) => {
  const current = fingerprintOf(ed25519FromSeed(new Uint8Array(32).fill(12)).publicKey);
  const rotated: KnownPeer = {
    display_name: 'Alice',
    addresses: [],
    fingerprint: current,
    previous_fingerprints: [fingerprintOf(KEY), 'aa:bb\u001b[2J'],
    key_rotated_at: '2026-03-04T05:06:07.000Z',
  };
  const send = (await new CallFacts(directory({}, { [PEER]: rotated })).describe('send', { peer: PEER, type: 'text', content: 'x' })).join('\n');
  t.match(send, `fingerprint ${current}`);
  t.match(send, 'key changed from aa:bb\\u{1b}[2J on 2026-03-04T05:06:07.000Z, signed by the old key', 'the latest earlier key, escaped');
  for (const fact of send.split('\n')) t.notMatch(fact, UNSAFE);
  const unrotated = (await new CallFacts(directory({}, { [PEER]: { display_name: 'A', addresses: [], previous_fingerprints: [], key_rotated_at: null } })).describe('revoke', { peer: PEER })).join('\n');
  t.notMatch(unrotated, /key changed/, 'a peer that never rotated: no line');
});

t.test('a link carrying a key chain shows the fingerprint of its current key; from a paired peer, another key the extension takes only if its chain continues', async (t) => {
  const currentKey = ed25519FromSeed(new Uint8Array(32).fill(13)).publicKey;
  const link = printPairingLink({
    peerId: PEER,
    addresses: ['192.0.2.7:7070'],
    displayName: 'Alice',
    dhtBinding: null,
    expiresAt: null,
    rotation: { key: currentKey, chain: new Uint8Array(235) },
  });
  const asked: (Uint8Array | undefined)[] = [];
  const numbering: PeerDirectory = {
    ...directory(),
    safetyNumber: async (peer, peerKey) => {
      asked.push(peerKey);
      return peer === PEER && peerKey !== undefined && Buffer.compare(peerKey, currentKey) === 0 ? REQUEST_SAFETY : SAFETY;
    },
  };
  const fresh = (await new CallFacts(numbering).describe('pair', { link })).join('\n');
  t.same(asked, [currentKey], 'the safety number asked for the key the link names');
  t.match(fresh, `safety no.  ${REQUEST_SAFETY}`);
  t.match(fresh, /^asks +to send a pairing request/m);
  t.match(fresh, `fingerprint ${fingerprintOf(currentKey)}`);
  t.notMatch(fresh, fingerprintOf(KEY), 'not the first key’s');
  t.match(fresh, 'key         not its first: the link carries the chain of its keys, each signed by the one before (the extension checks it)');

  const pinnedAtRoot = (await new CallFacts(directory({}, { [PEER]: { display_name: 'Alice\u202e', addresses: [] } })).describe('pair', { link })).join('\n');
  t.match(pinnedAtRoot, /^asks +to take another key for a peer you are already paired with; nothing is sent and no request is made/m);
  const differs = `other key   for "Alice\\u202e", ${fingerprintOf(currentKey)} differs from the key pinned (${fingerprintOf(KEY)}); the extension takes it only if its chain continues from the pinned key`;
  t.match(pinnedAtRoot, differs);
  t.notMatch(pinnedAtRoot, /key change|signed by its previous key/, 'no claim the host cannot check: the link may be older than the key pinned, or a fork');
  for (const fact of pinnedAtRoot.split('\n')) t.notMatch(fact, UNSAFE);

  const alreadyThere = (await new CallFacts(directory({}, { [PEER]: { display_name: 'Alice', addresses: [], fingerprint: fingerprintOf(currentKey) } })).describe('pair', { link })).join('\n');
  t.match(alreadyThere, /^asks +nothing new: you are already paired with the node below/m);
  t.notMatch(alreadyThere, /differs from the key pinned/);
});

t.test('the safety number of a rotated node is the one of its current key: the request’s as the extension computed it, a link’s from its key', async (t) => {
  const currentKey = ed25519FromSeed(new Uint8Array(32).fill(13)).publicKey;
  const asked: { peer: string; peerKey: Uint8Array | undefined }[] = [];
  const recording: PeerDirectory = {
    ...directory({ r1: { peer: PEER, display_name: 'Alice', address: null, created_at: '2026-01-01T00:00:00.000Z', fingerprint: fingerprintOf(currentKey), safety_number: '55555 55555' } }),
    safetyNumber: async (peer, peerKey) => {
      asked.push({ peer, peerKey });
      return SAFETY;
    },
  };
  const facts = new CallFacts(recording);
  t.match((await facts.describe('accept', { request_id: 'r1', peer: PEER })).join('\n'), 'safety no.  55555 55555', 'the request’s own');
  t.same(asked, [], 'nothing recomputed from the peer id');

  const link = printPairingLink({ peerId: PEER, addresses: ['192.0.2.7:7070'], displayName: 'Alice', dhtBinding: null, expiresAt: null, rotation: { key: currentKey, chain: new Uint8Array(235) } });
  t.match((await facts.describe('pair', { link })).join('\n'), `safety no.  ${SAFETY}`);
  t.same(asked, [{ peer: PEER, peerKey: currentKey }], 'asked for the link’s current key');
  asked.length = 0;
  await facts.describe('pair', { link: printPairingLink({ peerId: PEER, addresses: ['192.0.2.7:7070'], displayName: 'Alice', dhtBinding: null, expiresAt: null }) });
  t.same(asked, [{ peer: PEER, peerKey: undefined }], 'an unrotated link: the key its id names');
});

t.test('this node’s current key: the one identity reports, never guessed from its peer id', async (t) => {
  const currentKey = ed25519FromSeed(new Uint8Array(32).fill(13)).publicKey;
  const own = { peer_id: PEER, fingerprint: fingerprintOf(KEY) };
  t.same(ownCurrentKey({ ...own, key: PEER }), KEY, 'never rotated: the key its id names');
  t.same(ownCurrentKey({ ...own, key: peerIdFromPublicKey(currentKey), key_seq: 1 }), currentKey, 'rotated: the new key');
  t.equal(ownCurrentKey(own), null, 'no key reported');
  t.equal(ownCurrentKey({ ...own, key: 'nonsense' }), null, 'a key that does not decode');
});

t.test('rotate_identity: what it asks, the old key, the new one made after approval, and the peers by whether they follow', async (t) => {
  const own: OwnIdentity = { peer_id: PEER, fingerprint: fingerprintOf(KEY), key_seq: 2 };
  const listedPeers: ListedPeer[] = [
    { state: 'trusted', online: true, capabilities: { capabilities: ['text', 'key-rotation-v1'] } },
    { state: 'trusted', online: true, capabilities: { capabilities: ['text'] } },
    { state: 'trusted', online: false, capabilities: null },
    { state: 'trusted', online: false, capabilities: { capabilities: ['key-rotation-v1'] } },
    { state: 'revoked_by_peer', online: false, capabilities: null },
  ];
  const facts = new CallFacts({ ...directory(), ownIdentity: async () => own, listedPeers: async () => listedPeers });
  const shown = (await facts.describe('rotate_identity', { grace_seconds: 7 * 86_400 })).join('\n');
  t.match(shown, /^asks +to replace this node’s key; paired peers follow automatically \(signed by the current key\); peers offline for more than 7 day\(s\) may need a new link$/m);
  t.match(shown, `peer id     ${PEER} (stays: grants and pairings keep working)`);
  t.match(shown, `old key     fingerprint ${fingerprintOf(KEY)}`);
  t.match(shown, 'new key     fingerprint (made after you approve)');
  t.match(shown, /^safety no\. +changes for every pair/m);
  t.match(shown, 'rotation    3 of at most 16 this identity can make');
  t.match(shown, 'peers       4 paired: 1 online (follow within seconds), 2 offline (follow at their next connection), 1 on a p2p-comm without key rotation (must update it, or pair again)');
  const byDefault = (await facts.describe('rotate_identity', {})).join('\n');
  t.match(byDefault, 'more than the grace period (30 days unless P2P_COMM_KEY_GRACE_SECONDS sets another)');
  t.match((await facts.describe('rotate_identity', { grace_seconds: 600 })).join('\n'), 'more than 600 seconds');

  const blind = (await new CallFacts(directory()).describe('rotate_identity', {})).join('\n');
  t.match(blind, 'peer id     unknown (the extension could not be asked)');
  t.match(blind, 'old key     fingerprint unknown');
});

const GROUP = `grp-${'g'.repeat(32)}`;
const MEMBER = peerIdFromPublicKey(ed25519FromSeed(new Uint8Array(32).fill(11)).publicKey);

/** Alice (PEER, the creator, paired) invites; Bob (OTHER) is paired with this node, Carol (MEMBER) is not. */
function invitedTo(state = 'invited', name = 'Project X'): ListedGroupFacts {
  return {
    group: GROUP,
    name,
    creator: PEER,
    state,
    members: [
      { peer: PEER, name: 'Alice', fingerprint: fingerprintOf(KEY), paired: true },
      { peer: OTHER, name: 'Bob', fingerprint: '11:22', paired: true },
      { peer: MEMBER, name: HOSTILE_NAME, fingerprint: '33:44', paired: false },
    ],
  };
}

function groupDirectory(groups: ListedGroupFacts[] | undefined): PeerDirectory {
  const base = directory({}, { [PEER]: { display_name: 'Alice', addresses: ['192.0.2.7:7070'] } });
  return groups === undefined ? base : { ...base, listedGroups: async () => groups };
}

t.test('group_accept: the group, its creator, and every member with its fingerprint and whether its messages come through the creator', async (t) => {
  const facts = await new CallFacts(groupDirectory([invitedTo('invited', 'Project\u202eX')])).describe('group_accept', { group: GROUP });
  const text = facts.join('\n');
  t.match(facts[0], "asks        to join the group below: its members' agents can send messages to yours, and yours to theirs");
  t.match(text, 'group       "Project\\u202eX" (chosen by the creator)');
  t.match(text, `group id    ${GROUP}, 3 member(s)`);
  t.match(text, 'creator     the node below, which invites you');
  t.match(text, `peer        ${PEER}\nfingerprint ${fingerprintOf(KEY)}\nname        "Alice" (chosen by them`);
  t.match(text, `safety no.  ${SAFETY}`);
  t.match(text, 'members     3, the creator included');
  t.match(text, 'member      "Bob" fingerprint 11:22; paired with you: yes');
  t.match(text, 'member      "Bob\\u200b\\u0085 9b:ce:9f:34 \\u009b2J\\u2028x" fingerprint 33:44; paired with you: no — its messages reach you through the creator, signed by it');
  t.equal(facts.filter((fact) => fact.startsWith('member ')).length, 2, 'one line per member besides the creator');
  for (const fact of facts) t.notMatch(fact, UNSAFE, 'escaped');
  t.notMatch(text, /will refuse/);
});

t.test('group_accept: no open invite, an unknown group, or a directory that cannot list groups, each said', async (t) => {
  const member = await new CallFacts(groupDirectory([invitedTo('member')])).describe('group_accept', { group: GROUP });
  t.match(member.join('\n'), 'state       member: only an open invite can be accepted; the extension will refuse this call');
  const unknown = await new CallFacts(groupDirectory([])).describe('group_accept', { group: GROUP });
  t.match(unknown, [/^asks/, `group       ${GROUP} is not a group this node holds or was invited to; the extension will refuse this call`]);
  const cannot = await new CallFacts(groupDirectory(undefined)).describe('group_accept', { group: GROUP });
  t.match(cannot.join('\n'), `group       ${GROUP}: unknown (the extension could not be asked)`);
});

t.test('group_invite: the group, the invitee’s peer lines, and what the invitee will see', async (t) => {
  const facts = await new CallFacts(groupDirectory([invitedTo('member')])).describe('group_invite', { group: GROUP, peer: PEER });
  const text = facts.join('\n');
  t.match(facts[0], /^asks        to invite the peer below to the group/);
  t.match(text, 'group       "Project X" (chosen by the creator)');
  t.match(text, `peer        ${PEER}`);
  t.match(text, 'address     192.0.2.7:7070');
  t.equal(facts.at(-1), "shares      the invitee will see every member's name and fingerprint");
});

t.test('group_send and the other group operations name the group; group_send previews the content', async (t) => {
  const facts = new CallFacts(groupDirectory([invitedTo('member')]));
  const sent = (await facts.describe('group_send', { group: GROUP, type: 'text', content: 'hello all' })).join('\n');
  t.match(sent, 'group       "Project X" (chosen by the creator)');
  t.match(sent, 'content     text, 9 bytes\npreview     "hello all"');
  const removed = (await facts.describe('group_remove', { group: GROUP, peer: PEER })).join('\n');
  t.match(removed, `group id    ${GROUP}, 3 member(s)\npeer        ${PEER}`);
  t.match(await facts.describe('group_leave', { group: GROUP }), [/^group +"Project X"/, /^group id/]);
});
