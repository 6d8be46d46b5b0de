import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { fingerprintOf, peerIdFromPublicKey } from '../../extension/common/peer-id';
import { EventOutbox } from '../../extension/events/outbox';
import { RefusalCounters } from '../../extension/metrics/refusals';
import { Consent } from '../../extension/pairing/consent';
import { PENDING_FILE_NAME, PendingRequests } from '../../extension/trust/pending-requests';
import { TrustStore } from '../../extension/trust/trust-store';
import { DecisionResult, RefusalReason } from '../../extension/wire/decision';
import { Intent } from '../../extension/wire/handshake-payload';
import { tempDir } from '../helpers/extension';

const ADDRESS = '192.0.2.7:7070';
const STORED = { result: DecisionResult.REQUEST_STORED, reason: RefusalReason.NONE };
const BUSY = { result: DecisionResult.REFUSED, reason: RefusalReason.BUSY };

/** Consent over real stores in a temp directory, on a clock the test moves by hand. */
function setup(t: Test, options = { consentBurst: 3, consentPerMinute: 1 }) {
  const dir = tempDir(t);
  const clock = { ms: Date.parse('2025-03-01T10:00:00.000Z') };
  const pending = PendingRequests.open(dir, {}, () => new Date(clock.ms));
  const outbox = new EventOutbox({ maxQueued: 1000, maxQueuedSecurity: 1000, tallyIntervalMs: 1000 });
  const refusals = new RefusalCounters();
  const consent = new Consent(TrustStore.open(dir), pending, outbox, refusals, options, () => clock.ms);
  const requestEvents = () => outbox.takeBatch(1000).filter((event) => event.type === 'p2p.peer.request');
  const fileStat = () => {
    const { ino, mtimeNs } = statSync(join(dir, PENDING_FILE_NAME), { bigint: true });
    return { ino, mtimeNs };
  };
  return { consent, pending, refusals, clock, requestEvents, fileStat };
}

/** A stranger's key that asks to pair, each time with a fresh request id as a re-run `pair` would. */
function stranger() {
  const publicKey = new Uint8Array(randomBytes(32));
  return {
    publicKey,
    peerId: peerIdFromPublicKey(publicKey),
    ask: (displayName: string) => ({
      publicKey,
      payload: { intent: Intent.PAIR_REQUEST, requestId: new Uint8Array(randomBytes(16)), listenPort: 7070, displayName },
    }),
  };
}

t.test('repeats from a key with a request pending take from the stranger budget, and are refused as busy beyond it', async (t) => {
  const { consent, refusals, clock } = setup(t);
  const mallory = stranger();
  const decisions = Array.from({ length: 10 }, () => consent.decide(mallory.ask('Mallory'), ADDRESS));
  t.same(decisions.slice(0, 3), Array(3).fill(STORED), 'the request and two repeats fill the burst of 3');
  t.same(decisions.slice(3), Array(7).fill(BUSY), 'the other repeats are refused');
  t.equal(refusals.get('network', 'consent_request_rate_limited'), 7, 'each refusal counted');
  t.same(consent.decide(stranger().ask('Carol'), ADDRESS), BUSY, 'the budget is the one new keys take from');
  clock.ms += 60_000;
  t.same(consent.decide(mallory.ask('Mallory'), ADDRESS), STORED, 'a minute later the rate (1/min) allows one more');
  t.same(consent.decide(mallory.ask('Mallory'), ADDRESS), BUSY);
  t.equal(refusals.get('network', 'consent_request_rate_limited'), 9);
});

t.test('a repeat with the same name and address writes nothing and is not news', async (t) => {
  const { consent, pending, clock, requestEvents, fileStat } = setup(t, { consentBurst: 50, consentPerMinute: 10 });
  const alice = stranger();
  consent.decide(alice.ask('Alice'), ADDRESS);
  const arrived = pending.findIncomingByPeer(alice.peerId);
  t.equal(requestEvents().length, 1);
  const written = fileStat();
  for (let i = 0; i < 30; i += 1) {
    clock.ms += 100;
    t.same(consent.decide(alice.ask('Alice'), ADDRESS), STORED);
  }
  t.same(fileStat(), written, 'the file was not replaced: same inode, same mtime');
  t.same(pending.findIncomingByPeer(alice.peerId), arrived, 'the request is the one that arrived, id included');
  t.same(requestEvents(), [], 'no event for a repeat that changes nothing');
});

t.test('a changed name or address is recorded beside the request as it arrived, and evented as a change', async (t) => {
  const { consent, pending, clock, requestEvents, fileStat } = setup(t, { consentBurst: 50, consentPerMinute: 10 });
  const alice = stranger();
  consent.decide(alice.ask('Alice'), ADDRESS);
  const [first] = requestEvents();
  const requestId = first?.data['request_id'];
  t.same(first?.data, {
    request_id: requestId,
    peer: alice.peerId,
    fingerprint: fingerprintOf(alice.publicKey),
    display_name: 'Alice',
    address: ADDRESS,
    changed: null,
  });
  const beforeChange = fileStat();

  clock.ms += 5000;
  t.same(consent.decide(alice.ask('Alice (bank)'), ADDRESS), STORED);
  t.not(fileStat().ino, beforeChange.ino, 'the change is written');
  t.match(pending.findIncomingByPeer(alice.peerId), {
    requestId,
    displayName: 'Alice',
    address: ADDRESS,
    latestClaim: { displayName: 'Alice (bank)', address: ADDRESS, changes: 1, changedAt: new Date(clock.ms) },
  });
  const [renamed, ...more] = requestEvents();
  t.same(more, [], 'one event per change');
  t.same(renamed?.data, {
    request_id: requestId,
    peer: alice.peerId,
    fingerprint: fingerprintOf(alice.publicKey),
    display_name: 'Alice',
    address: ADDRESS,
    changed: { display_name: { from: 'Alice', to: 'Alice (bank)' }, changes: 1, changed_at: new Date(clock.ms).toISOString() },
  });

  clock.ms += 5000;
  consent.decide(alice.ask('Alice (bank)'), '192.0.2.99:7070');
  t.match(requestEvents()[0]?.data['changed'], {
    display_name: { from: 'Alice', to: 'Alice (bank)' },
    address: { from: ADDRESS, to: '192.0.2.99:7070' },
    changes: 2,
  });

  consent.decide(alice.ask('Alice\u202Eknab'), '192.0.2.99:7070');
  t.match(requestEvents()[0]?.data['changed'], { display_name: { from: 'Alice', to: 'unnamed peer' }, changes: 3 }, 'an unfit name is replaced before it is compared');
});

