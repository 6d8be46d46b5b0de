import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { UNNAMED_PEER } from '../../extension/common/display-name';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import {
  DEFAULT_PENDING_LIMITS,
  type NewPendingRequest,
  PENDING_FILE_NAME,
  type PendingIncoming,
  type PendingLimits,
  PendingRequests,
} from '../../extension/trust/pending-requests';
import { tempDir } from '../helpers/extension';
import { identityFromSeed } from '../helpers/fixed-identity';
import { extendKeyChain } from '../../extension/wire/key-rotation';
import { keyChainToText } from '../../extension/wire/stored-key-chain';

const DAY_MS = 24 * 60 * 60 * 1000;

/** A store on a clock the test moves by hand. */
function openStore(dir: string, limits: Partial<PendingLimits> = {}) {
  const clock = { ms: Date.parse('2025-03-01T10:00:00.000Z') };
  const store = PendingRequests.open(dir, limits, () => new Date(clock.ms));
  const reopen = () => PendingRequests.open(dir, limits, () => new Date(clock.ms));
  return { store, clock, reopen };
}

function request(displayName = 'Alice', publicKey = new Uint8Array(randomBytes(32))): NewPendingRequest {
  return { requestId: randomBytes(16).toString('hex'), publicKey, displayName, address: 'peer.local:7070' };
}

/** Receives a request that must be new, not a repeat. */
function addNew(store: PendingRequests, sent: NewPendingRequest): { request: PendingIncoming; evicted: PendingIncoming | null } {
  const outcome = store.receiveIncoming(sent);
  if (outcome.kind !== 'new') throw new Error(`expected a new request, got a repeat (${outcome.kind})`);
  return outcome;
}

/** Every write replaces the file (a new inode, a new mtime), so an unchanged stat means no write. */
function fileStat(dir: string): Pick<BigIntStats, 'ino' | 'mtimeNs'> {
  const { ino, mtimeNs } = statSync(join(dir, PENDING_FILE_NAME), { bigint: true });
  return { ino, mtimeNs };
}

t.test('the defaults are the documented ones', async (t) => {
  t.same(DEFAULT_PENDING_LIMITS, { maxIncoming: 32, maxOutgoing: 64, requestTtlMs: 7 * DAY_MS, rejectionTtlMs: 30 * DAY_MS, maxRejected: 256 });
});

t.test('an incoming request is stored with its expiry, on disk, owner-only', async (t) => {
  const dir = tempDir(t);
  const { store, clock, reopen } = openStore(dir);
  t.same(store.incoming(), []);
  t.notOk(existsSync(join(dir, PENDING_FILE_NAME)), 'opening writes nothing');
  const sent = request();
  const { request: stored, evicted } = addNew(store, sent);
  t.equal(evicted, null);
  t.same(stored, {
    requestId: sent.requestId,
    peerId: peerIdFromPublicKey(sent.publicKey),
    publicKey: sent.publicKey,
    keyChain: [],
    displayName: 'Alice',
    address: 'peer.local:7070',
    createdAt: new Date(clock.ms),
    expiresAt: new Date(clock.ms + 7 * DAY_MS),
    latestClaim: null,
  });
  t.equal(statSync(join(dir, PENDING_FILE_NAME)).mode & 0o777, 0o600);
  const reopened = reopen();
  t.same(reopened.incoming(), [stored]);
  t.same(reopened.findIncoming(sent.requestId), stored);
  t.same(reopened.findIncomingByPeer(stored.peerId), stored);
  t.equal(reopened.findIncoming(randomBytes(16).toString('hex')), undefined);
});

t.test('when the incoming list is full the oldest request makes room', async (t) => {
  const { store, clock, reopen } = openStore(tempDir(t), { maxIncoming: 3 });
  const ids: string[] = [];
  for (let i = 0; i < 3; i += 1) {
    const sent = request(`peer ${i}`);
    ids.push(sent.requestId);
    t.equal(addNew(store, sent).evicted, null);
    clock.ms += 1000;
  }
  const fourth = request('peer 3');
  const { evicted } = addNew(store, fourth);
  t.equal(evicted?.requestId, ids[0]);
  t.equal(evicted?.displayName, 'peer 0');
  t.same(reopen().incoming().map((r) => r.displayName), ['peer 1', 'peer 2', 'peer 3']);
});

t.test('one incoming request per peer: a repeat keeps the request as it arrived and records a changed claim beside it', async (t) => {
  const dir = tempDir(t);
  const { store, clock, reopen } = openStore(dir, { maxIncoming: 2 });
  const first = request('Alice');
  const other = request('Bob');
  const { request: arrived } = addNew(store, first);
  addNew(store, other);
  clock.ms += 60_000;
  const renamed = { ...request('Alice, again'), publicKey: first.publicKey, address: 'elsewhere.local:7071' };
  const outcome = store.receiveIncoming(renamed);
  t.equal(outcome.kind, 'changed');
  t.same(outcome.request, {
    ...arrived,
    latestClaim: { displayName: 'Alice, again', address: 'elsewhere.local:7071', changes: 1, changedAt: new Date(clock.ms) },
  }, 'id, name, address and expiry are those it arrived with');
  t.equal(store.findIncoming(renamed.requestId), undefined, 'the repeat\'s own id is not taken');
  t.same(reopen().incoming().map((r) => [r.displayName, r.latestClaim?.displayName ?? null]), [['Alice', 'Alice, again'], ['Bob', null]], 'on disk, nobody evicted');

  clock.ms += 60_000;
  const back = store.receiveIncoming({ ...request('Alice'), publicKey: first.publicKey });
  t.equal(back.kind, 'changed', 'changing back is a change too');
  t.same(back.request.latestClaim, { displayName: 'Alice', address: 'peer.local:7070', changes: 2, changedAt: new Date(clock.ms) });
  t.same(reopen().findIncoming(first.requestId)?.latestClaim?.changes, 2);
});

t.test('a repeat claiming what is already recorded writes nothing', async (t) => {
  const dir = tempDir(t);
  const { store, clock } = openStore(dir);
  const first = request('Alice');
  const { request: arrived } = addNew(store, first);
  const untouched = fileStat(dir);
  for (let i = 0; i < 20; i += 1) {
    clock.ms += 1000;
    const outcome = store.receiveIncoming({ ...request('Alice'), publicKey: first.publicKey });
    t.same(outcome, { kind: 'same', request: arrived });
  }
  t.same(fileStat(dir), untouched, 'no write for an identical repeat');

  store.receiveIncoming({ ...request('Mallory'), publicKey: first.publicKey });
  const changed = fileStat(dir);
  t.not(changed.ino, untouched.ino, 'a change is written');
  const repeated = store.receiveIncoming({ ...request('Mallory'), publicKey: first.publicKey });
  t.equal(repeated.kind, 'same', 'compared with the latest claim, not with the request as it arrived');
  t.equal(repeated.request.latestClaim?.changes, 1);
  t.same(fileStat(dir), changed, 'and the latest claim repeated writes nothing either');
});

t.test('a file written before changed claims were recorded loads as it is, and is not rewritten', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, PENDING_FILE_NAME);
  const key = new Uint8Array(randomBytes(32));
  const entry = {
    request_id: '0123456789abcdef0123456789abcdef',
    peer: peerIdFromPublicKey(key),
    public_key: Buffer.from(key).toString('base64'),
    display_name: 'Alice',
    address: 'peer.local:7070',
    created_at: '2025-03-01T09:00:00.000Z',
    expires_at: '2025-03-08T09:00:00.000Z',
  };
  const earlier = `${JSON.stringify({ version: 1, incoming: [entry], outgoing: [{ ...entry, state: 'queued', attempts: 0, last_error: null }], rejected: [] }, null, 2)}\n`;
  writeFileSync(path, earlier);
  const before = fileStat(dir);
  const { store } = openStore(dir);
  t.match(store.incoming(), [{ requestId: entry.request_id, displayName: 'Alice', latestClaim: null }]);
  t.same(store.receiveIncoming({ requestId: entry.request_id, publicKey: key, displayName: 'Alice', address: 'peer.local:7070' }).kind, 'same');
  t.same(fileStat(dir), before);
  t.equal(readFileSync(path, 'utf8'), earlier);
});

t.test('a repeat after its request expired is a new request', async (t) => {
  const { store, clock } = openStore(tempDir(t), { requestTtlMs: 1000 });
  const first = request('Alice');
  addNew(store, first);
  clock.ms += 1000;
  const again = { ...request('Alice, later'), publicKey: first.publicKey };
  const outcome = store.receiveIncoming(again);
  t.equal(outcome.kind, 'new');
  t.match(outcome.request, { requestId: again.requestId, displayName: 'Alice, later', latestClaim: null });
});

t.test('a request id cannot be taken over by another peer, and must be 32 hex characters', async (t) => {
  const { store } = openStore(tempDir(t));
  const first = request('Alice');
  addNew(store, first);
  t.throws(() => store.receiveIncoming({ ...request('Mallory'), requestId: first.requestId }), { name: 'P2pError', errorName: 'CONFLICT' });
  t.throws(() => store.receiveIncoming({ ...request(), requestId: 'ABC' }), {
    errorName: 'INVALID_INPUT',
    message: 'a request id is 32 lower-case hex characters, got "ABC"',
  });
  t.throws(() => store.receiveIncoming(request('bad\u202ename')), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  t.throws(() => store.receiveIncoming({ ...request(), address: 'no port' }), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  t.throws(() => store.receiveIncoming({ ...first, displayName: 'bad\u202ename' }), { name: 'P2pError', errorName: 'INVALID_INPUT' }, 'a repeat is checked too');
  t.same(store.incoming().map((r) => [r.displayName, r.latestClaim]), [['Alice', null]], 'nothing refused was stored');
});

t.test('an incoming request may not take the id of a request this node sent, even from the peer it went to', async (t) => {
  const { store } = openStore(tempDir(t));
  const bobKey = new Uint8Array(randomBytes(32));
  const sent = request('Bob', bobKey);
  store.addOutgoing(sent);
  t.throws(() => store.receiveIncoming({ ...request('Mallory'), requestId: sent.requestId }), {
    errorName: 'CONFLICT',
    message: `request id ${sent.requestId} is the id of a request this node sent`,
  });
  t.throws(() => store.receiveIncoming({ ...request('Bob', bobKey), requestId: sent.requestId }), { name: 'P2pError', errorName: 'CONFLICT' });
  t.same(store.incoming(), [], 'nothing was stored');
  t.equal(addNew(store, request('Bob', bobKey)).request.peerId, peerIdFromPublicKey(bobKey), 'the same peer with an id of its own is a request');
});

t.test('outgoing requests: one per peer, and refused with LIMIT_REACHED when full', async (t) => {
  const { store, reopen } = openStore(tempDir(t), { maxOutgoing: 2 });
  const alice = request('Alice');
  const bob = request('Bob');
  t.same(store.addOutgoing(alice), {
    ...store.findOutgoing(alice.requestId),
    state: 'queued',
    attempts: 0,
    lastError: null,
  });
  store.addOutgoing(bob);
  t.throws(() => store.addOutgoing(request('Carol')), {
    errorName: 'LIMIT_REACHED',
    message: '2 outgoing pairing requests are already waiting for an answer, the most p2p-comm keeps; wait until some are accepted, rejected or expire, then ask again',
  });
  const bobAgain = { ...request('Bob'), publicKey: bob.publicKey };
  store.addOutgoing(bobAgain);
  t.same(reopen().outgoing().map((r) => r.requestId), [alice.requestId, bobAgain.requestId]);
  t.same(store.findOutgoingByPeer(peerIdFromPublicKey(bob.publicKey))?.requestId, bobAgain.requestId);
});

t.test('outgoing updates and removals persist', async (t) => {
  const { store, reopen } = openStore(tempDir(t));
  const alice = request('Alice');
  store.addOutgoing(alice);
  const updated = store.updateOutgoing(alice.requestId, { attempts: 3, lastError: 'connection refused' });
  t.equal(updated.state, 'queued');
  t.equal(updated.attempts, 3);
  t.equal(updated.lastError, 'connection refused');
  store.updateOutgoing(alice.requestId, { state: 'delivered', lastError: null });
  const reloaded = reopen().findOutgoing(alice.requestId);
  t.equal(reloaded?.state, 'delivered');
  t.equal(reloaded?.attempts, 3);
  t.equal(reloaded?.lastError, null);
  t.throws(() => store.updateOutgoing(alice.requestId, { attempts: -1 }), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  t.throws(() => store.updateOutgoing(randomBytes(16).toString('hex'), { attempts: 1 }), { name: 'P2pError', errorName: 'NOT_FOUND' });

  const peerId = peerIdFromPublicKey(alice.publicKey);
  t.equal(store.removeOutgoingForPeer(peerId)?.requestId, alice.requestId);
  t.equal(store.removeOutgoingForPeer(peerId), undefined);
  t.same(reopen().outgoing(), []);
});

t.test('removing an incoming request', async (t) => {
  const { store, reopen } = openStore(tempDir(t));
  const alice = request('Alice');
  addNew(store, alice);
  t.equal(store.removeIncoming(alice.requestId).displayName, 'Alice');
  t.same(reopen().incoming(), []);
  t.throws(() => store.removeIncoming(alice.requestId), {
    errorName: 'NOT_FOUND',
    message: new RegExp(`no pending pairing request has the id ${alice.requestId}; it may have been answered or have expired`),
  });
});

t.test('requests expire after requestTtlMs, in memory and on disk', async (t) => {
  const dir = tempDir(t);
  const { store, clock, reopen } = openStore(dir);
  const incoming = request('Alice');
  const outgoing = request('Bob');
  addNew(store, incoming);
  store.addOutgoing(outgoing);
  clock.ms += 7 * DAY_MS - 1;
  t.equal(store.incoming().length, 1);
  t.equal(store.outgoing().length, 1);
  clock.ms += 1;
  t.same(store.incoming(), []);
  t.same(store.outgoing(), []);
  t.equal(store.findIncoming(incoming.requestId), undefined);
  t.equal(store.findOutgoingByPeer(peerIdFromPublicKey(outgoing.publicKey)), undefined);
  t.throws(() => store.removeIncoming(incoming.requestId), { name: 'P2pError', errorName: 'NOT_FOUND' });
  t.same(reopen().incoming(), [], 'an expired request read back from disk is dropped too');
  store.recordRejection(peerIdFromPublicKey(request().publicKey));
  const file = JSON.parse(readFileSync(join(dir, PENDING_FILE_NAME), 'utf8')) as { incoming: unknown[]; outgoing: unknown[] };
  t.same([file.incoming, file.outgoing], [[], []], 'the next write drops them from the file');
});

t.test('expired requests do not count against the limits', async (t) => {
  const { store, clock } = openStore(tempDir(t), { maxIncoming: 1, maxOutgoing: 1, requestTtlMs: 1000 });
  addNew(store, request('old'));
  store.addOutgoing(request('old'));
  clock.ms += 1000;
  t.equal(addNew(store, request('new')).evicted, null);
  t.doesNotThrow(() => store.addOutgoing(request('new')));
});

t.test('rejections are remembered for rejectionTtlMs, at most maxRejected of them', async (t) => {
  const { store, clock, reopen } = openStore(tempDir(t), { maxRejected: 2 });
  const [a, b, c] = [0, 1, 2].map(() => peerIdFromPublicKey(new Uint8Array(randomBytes(32)))) as [string, string, string];
  t.notOk(store.isRejected(a));
  store.recordRejection(a);
  t.ok(reopen().isRejected(a));
  clock.ms += 30 * DAY_MS - 1;
  t.ok(store.isRejected(a));
  clock.ms += 1;
  t.notOk(store.isRejected(a), 'forgotten after 30 days');

  store.recordRejection(a);
  clock.ms += 1000;
  store.recordRejection(b);
  clock.ms += 1000;
  store.recordRejection(c);
  t.notOk(store.isRejected(a), 'the oldest rejection is dropped beyond maxRejected');
  t.ok(store.isRejected(b));
  t.ok(store.isRejected(c));
  store.clearRejection(b);
  t.notOk(reopen().isRejected(b));
  t.ok(reopen().isRejected(c));
  t.throws(() => store.recordRejection('not-a-peer-id'), { name: 'P2pError', errorName: 'INVALID_INPUT' });
});

t.test('a damaged pending requests file is refused, named, and left untouched', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, PENDING_FILE_NAME);
  const { store } = openStore(dir);
  const alice = request('Alice');
  addNew(store, alice);
  const valid = JSON.parse(readFileSync(path, 'utf8')) as { incoming: Record<string, unknown>[] };
  const entry = valid.incoming[0] ?? {};
  const withIncoming = (...incoming: Record<string, unknown>[]): string => JSON.stringify({ ...valid, incoming });
  const cases: [string, RegExp][] = [
    ['{"version":1', /it is not valid JSON/],
    [JSON.stringify({ ...valid, version: 2 }), /\/version must be 1\./],
    [JSON.stringify({ version: 1, incoming: [], outgoing: [] }), /missing the required field "rejected"/],
    [withIncoming({ ...entry, request_id: 'XYZ' }), /\/incoming\/0\/request_id is not in the expected format/],
    [withIncoming({ ...entry, peer: String(entry['peer']).toUpperCase() }), /\/incoming\/0\/peer is not in the expected format/],
    [withIncoming({ ...entry, public_key: Buffer.from(randomBytes(32)).toString('base64') }), /the public_key of .* is not the key that peer id names/],
    [withIncoming(entry, { ...entry, request_id: randomBytes(16).toString('hex') }), /incoming has two requests for peer/],
    [withIncoming({ ...entry, latest_claim: { display_name: 'B', address: null, changes: 0, changed_at: entry['created_at'] } }), /\/incoming\/0\/latest_claim\/changes/],
    [withIncoming({ ...entry, latest_claim: { display_name: 'B', address: null, changes: 1 } }), /\/incoming\/0\/latest_claim.*changed_at/],
  ];
  for (const [content, reason] of cases) {
    writeFileSync(path, content);
    t.throws(() => openStore(dir), { name: 'P2pError', errorName: 'STATE_FILE_CORRUPT', message: reason }, reason.source);
    t.throws(() => openStore(dir), {
      message: new RegExp(
        `^the pending pairing requests file ${path} is corrupt: .*p2p-comm never resets it silently: fix the file, or move it away to forget every pending pairing request and rejection$`,
      ),
    });
    t.equal(readFileSync(path, 'utf8'), content, 'the file is left untouched');
  }
});

t.test('a name the legacy rule allowed is shown as unnamed peer, said so, and written back; other damage still stops', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, PENDING_FILE_NAME);
  const { store, reopen } = openStore(dir);
  const alice = request('Alice');
  const bob = request('Bob');
  addNew(store, alice);
  store.addOutgoing(bob);
  const file = JSON.parse(readFileSync(path, 'utf8')) as { incoming: Record<string, unknown>[]; outgoing: Record<string, unknown>[] };
  (file.incoming[0] as Record<string, unknown>)['display_name'] = 'Alice\u2060';
  (file.outgoing[0] as Record<string, unknown>)['display_name'] = '\u00adBob';
  writeFileSync(path, JSON.stringify(file));

  const reopened = reopen();
  t.match(reopened.incoming(), [{ requestId: alice.requestId, displayName: UNNAMED_PEER }]);
  t.match(reopened.outgoing(), [{ requestId: bob.requestId, displayName: UNNAMED_PEER, state: 'queued' }]);
  t.equal(reopened.upgradeNotes.length, 1);
  t.match(reopened.upgradeNotes[0], new RegExp(`^the pending pairing requests file ${path}: 2 stored display name\\(s\\)`));
  t.match(reopened.upgradeNotes[0], new RegExp(`peers ${peerIdFromPublicKey(alice.publicKey)}, ${peerIdFromPublicKey(bob.publicKey)}\\)`));
  t.equal((JSON.parse(readFileSync(path, 'utf8')) as typeof file).incoming[0]?.['display_name'], UNNAMED_PEER, 'written back');
  t.same(reopen().upgradeNotes, [], 'said once');

  (file.incoming[0] as Record<string, unknown>)['created_at'] = 'yesterday';
  const damaged = JSON.stringify(file);
  writeFileSync(path, damaged);
  t.throws(() => reopen(), { errorName: 'STATE_FILE_CORRUPT', message: /\/incoming\/0\/created_at is not in the expected format/ });
  t.equal(readFileSync(path, 'utf8'), damaged, 'a damaged file is left untouched, legacy names and all');
});

t.test('a rotated requester is stored under its first key\'s peer id, with its chain; others as before', async (t) => {
  const dir = tempDir(t);
  const { store, reopen } = openStore(dir);
  const root = identityFromSeed(randomBytes(32));
  const current = identityFromSeed(randomBytes(32));
  const chain = extendKeyChain([], root, current, 1_900_000_000_000);
  const rotated = { ...request('Alice', new Uint8Array(current.publicKey)), keyChain: chain };
  const { request: stored } = addNew(store, rotated);
  t.equal(stored.peerId, peerIdFromPublicKey(root.publicKey), 'the root names the request');
  t.same(stored.publicKey, current.publicKey);
  t.equal(stored.keyChain.length, 1);
  const plain = request('Bob');
  addNew(store, plain);
  const file = JSON.parse(readFileSync(join(dir, PENDING_FILE_NAME), 'utf8'));
  t.equal(file.incoming[0].key_chain, keyChainToText(chain));
  t.notOk('key_chain' in file.incoming[1], 'an unrotated requester has no key_chain field');
  t.same(reopen().findIncomingByPeer(stored.peerId), stored, 'reopening keeps the chain');

  const stranger = identityFromSeed(randomBytes(32));
  t.throws(() => addNew(store, { ...request('Eve', new Uint8Array(stranger.publicKey)), keyChain: chain }), {
    errorName: 'INVALID_INPUT',
    message: /public_key of .* is not the last key of its key_chain/,
  });
});
