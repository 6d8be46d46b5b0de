import t from 'tap';
import { HostNotices } from '../../../permissions/node/host-notices';

const PEER = `${'b'.repeat(51)}a`;

function capture(): { lines: string[]; notices: HostNotices } {
  const lines: string[] = [];
  return { lines, notices: new HostNotices((line) => lines.push(line)) };
}

t.test('one line for each event a person should know about', async (t) => {
  const { lines, notices } = capture();
  const base = { peer: PEER, fingerprint: '01:02', display_name: 'Bob' };
  notices.event({ id: '1', type: 'p2p.peer.request', data: { ...base, request_id: 'r1', address: '192.0.2.1:7' } });
  notices.event({ id: '2', type: 'p2p.peer.paired', data: base });
  notices.event({ id: '3', type: 'p2p.peer.revoked', data: base });
  notices.event({ id: '4', type: 'p2p.peer.revoked_by_peer', data: base });
  notices.event({
    id: '5',
    type: 'p2p.peer.key_mismatch',
    data: { peer: PEER, expected_fingerprint: '01:02', presented_fingerprint: '03:04', address: '192.0.2.9:7' },
  });
  notices.event({ id: '6', type: 'p2p.message.received', data: { peer: PEER } });
  notices.event({ id: '7', type: 'p2p.peer.connected', data: { peer: PEER, path: 'holepunched' } });
  notices.event({ id: '8', type: 'p2p.peer.connected', data: { peer: PEER, path: 'relayed' } });
  notices.exited({ code: null, signal: 'SIGKILL', restartInMs: 200 });
  notices.exited({ code: 0, signal: null, restartInMs: null });
  notices.restarted(4242);
  t.same(lines, [
    'pairing request from "Bob" (name chosen by them) fingerprint 01:02 at 192.0.2.1:7; request id r1: answer it with accept (or reject) after comparing the fingerprint',
    'paired with "Bob" (name chosen by them) fingerprint 01:02: your agents can now exchange messages',
    'you revoked the pairing with "Bob" (name chosen by them) fingerprint 01:02',
    '"Bob" (name chosen by them) fingerprint 01:02 revoked the pairing with you; messages to it are no longer sent',
    `WARNING: the node at 192.0.2.9:7 claimed to be peer ${PEER} (fingerprint 01:02) but proved another key (fingerprint 03:04); refused`,
    `peer ${PEER} is connected only through a relay: both sides are behind NATs that hole punching cannot cross. ` +
      'The relay passes encrypted bytes it cannot read, but sees that you two talk and how much',
    'the p2p-comm extension exited on signal SIGKILL; restarting it in 200 ms',
    'the p2p-comm extension was restarted (pid 4242) and takes calls again',
  ]);
});

t.test('whatever a peer put in an event reaches the terminal escaped', async (t) => {
  const { lines, notices } = capture();
  notices.event({
    id: '1',
    type: 'p2p.peer.request',
    data: { display_name: 'Bob\u200b\u0085\u009b2J\u2028x', fingerprint: '\u001b[31m', request_id: 7, address: '\u202e1.2.3.4' },
  });
  notices.event({ id: '2', type: 'p2p.peer.paired', data: 'not an object' });
  t.equal(lines.length, 2);
  t.equal(lines[0], 'pairing request from "Bob\\u200b\\u0085\\u009b2J\\u2028x" (name chosen by them) fingerprint \\u{1b}[31m at \\u{202e}1.2.3.4; request id unknown: answer it with accept (or reject) after comparing the fingerprint');
  t.equal(lines[1], 'paired with fingerprint unknown: your agents can now exchange messages');
});

t.test('a request repeated with another name or address is announced as a change, escaped', async (t) => {
  const { lines, notices } = capture();
  const request = { peer: PEER, fingerprint: '01:02', display_name: 'Bob', request_id: 'r1', address: '192.0.2.1:7' };
  notices.event({ id: '1', type: 'p2p.peer.request', data: { ...request, changed: null } });
  notices.event({
    id: '2',
    type: 'p2p.peer.request',
    data: { ...request, changed: { display_name: { from: 'Bob', to: 'Bank\u202e' }, address: { from: '192.0.2.1:7', to: null }, changes: 1 } },
  });
  notices.event({ id: '3', type: 'p2p.peer.request', data: { ...request, changed: { changes: 2 } } });
  t.same(lines, [
    'pairing request from "Bob" (name chosen by them) fingerprint 01:02 at 192.0.2.1:7; request id r1: answer it with accept (or reject) after comparing the fingerprint',
    'WARNING: the pairing request from "Bob" (name chosen by them) fingerprint 01:02 at 192.0.2.1:7, request id r1, was repeated with ' +
      'the name "Bank\\u202e" and the address none; accept still pairs under the name it arrived with',
    'WARNING: the pairing request from "Bob" (name chosen by them) fingerprint 01:02 at 192.0.2.1:7, request id r1, was repeated with ' +
      'the name and address it arrived with again; accept still pairs under the name it arrived with',
  ]);
});

t.test('a peer’s key rotation is one line: old and new fingerprint, and the safety number to compare again', async (t) => {
  const { lines, notices } = capture();
  notices.event({ id: '1', type: 'p2p.peer.key_rotated', data: { peer: PEER, old_fingerprint: '01:02', new_fingerprint: '03:04\u001b[2J', seq: 1 } });
  t.same(lines, [
    `key change: peer ${PEER} replaced its key, signed by its previous one: fingerprint 01:02 → 03:04\\u{1b}[2J; ` +
      'its peer id and your grants stay, but the safety number changed: compare it with them again',
  ]);
});
