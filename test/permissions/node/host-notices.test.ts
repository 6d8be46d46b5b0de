import t from 'tap';
import type { ListedGroupFacts } from '../../../permissions/gate/call-facts';
import { HostNotices } from '../../../permissions/node/host-notices';
import { eventually } from '../../helpers/node';

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

const TRANSFER = 'cd'.repeat(16);
const MIB = 1024 * 1024;
const progress = (bytes: number, extra: Record<string, unknown> = {}) => ({
  id: `p${bytes}`,
  type: 'p2p.file.progress',
  data: { peer: PEER, transfer_id: TRANSFER, direction: 'incoming', name: 'report\u202e.pdf', phase: 'receiving', bytes_done: bytes, size: 100 * MIB, ...extra },
});

t.test('a file offered: who offers it (as a claim, with the fingerprint), its escaped name, size and hash, and what happens next', async (t) => {
  const { lines, notices } = capture();
  notices.event({
    id: '1',
    type: 'p2p.file.offered',
    data: { peer: PEER, transfer_id: TRANSFER, name: 'report\u202e.pdf', size: 256 * MIB, sha256: '3f2a'.repeat(16), display_name: 'Alice', fingerprint: '01:02' },
  });
  t.same(lines, [
    '"Alice" (name chosen by them) fingerprint 01:02 offers the file "report\\u202e.pdf" (256.0 MiB, sha256 3f2a3f2a3f2a3f2a…); a plugin with accept_file can take it, you will be asked',
  ]);
});

t.test('progress on a log: a line at each tenth, the rate since the phase began; received ends it', async (t) => {
  const clock = { ms: 0 };
  const lines: string[] = [];
  const notices = new HostNotices((line) => lines.push(line), { now: () => clock.ms });
  notices.event({ id: 'o', type: 'p2p.file.offered', data: { peer: PEER, transfer_id: TRANSFER, name: 'r', size: 1, sha256: 'ab', display_name: 'Alice', fingerprint: '01:02' } });
  lines.length = 0;
  notices.event(progress(0));
  clock.ms = 1000;
  notices.event(progress(5 * MIB));
  notices.event(progress(12 * MIB));
  clock.ms = 2000;
  notices.event(progress(19 * MIB));
  notices.event(progress(37 * MIB));
  notices.event({ id: 'r', type: 'p2p.file.received', data: { peer: PEER, transfer_id: TRANSFER, direction: 'incoming', name: 'report\u202e.pdf', path: 'incoming/report.pdf' } });
  t.same(lines, [
    'file "report\\u202e.pdf" from "Alice": 0 % (0.0 of 100.0 MiB)',
    'file "report\\u202e.pdf" from "Alice": 12 % (12.0 of 100.0 MiB), 13 MB/s',
    'file "report\\u202e.pdf" from "Alice": 37 % (37.0 of 100.0 MiB), 19 MB/s',
    'file "report\\u202e.pdf" from "Alice": received, SHA-256 checked; saved as incoming/report.pdf',
  ], 'no line within a tenth already printed; the received line closes the transfer');
});

t.test('progress on a terminal: one line rewritten, ended before any other notice and by failed', async (t) => {
  const written: string[] = [];
  const notices = new HostNotices((line) => written.push(`line ${line}`), {
    rewrite: (line) => written.push(`rewrite ${line}`),
    endLine: () => written.push('newline'),
    now: () => 0,
  });
  notices.event(progress(1 * MIB, { direction: 'outgoing', phase: 'hashing' }));
  notices.event(progress(2 * MIB, { direction: 'outgoing', phase: 'sending' }));
  notices.event({ id: '2', type: 'p2p.peer.paired', data: { peer: PEER, fingerprint: '01:02', display_name: 'Bob' } });
  notices.event(progress(3 * MIB, { direction: 'outgoing', phase: 'sending' }));
  notices.event({ id: 'f', type: 'p2p.file.failed', data: { peer: PEER, transfer_id: TRANSFER, direction: 'outgoing', reason: 'declined' } });
  t.same(written, [
    `rewrite file "report\\u202e.pdf" to peer ${PEER}: hashing 1 % (1.0 of 100.0 MiB)`,
    `rewrite file "report\\u202e.pdf" to peer ${PEER}: 2 % (2.0 of 100.0 MiB)`,
    'newline',
    'line paired with "Bob" (name chosen by them) fingerprint 01:02: your agents can now exchange messages',
    'rewrite file "report\\u202e.pdf" to "Bob": 3 % (3.0 of 100.0 MiB)',
    'newline',
    'line file "report\\u202e.pdf" to "Bob": failed (declined)',
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

const GROUP = `grp-${'g'.repeat(32)}`;
const CAROL = `${'c'.repeat(51)}q`;

/** Notices whose group lookups answer from `listed`, the test changing it between events as the extension's groups would change. */
function withGroups(listed: { current: ListedGroupFacts[] }) {
  const lines: string[] = [];
  const notices = new HostNotices((line) => lines.push(line), {}, { groups: async () => listed.current });
  return { lines, notices };
}

function projectX(members: ListedGroupFacts['members']): ListedGroupFacts {
  return { group: GROUP, name: 'Project\u202eX', creator: PEER, state: 'invited', members };
}

t.test('a group invitation names the creator, the group and its size; membership changes name who changed, escaped', async (t) => {
  const alice = { peer: PEER, name: 'Alice\u2028', fingerprint: '01:02', paired: true };
  const carol = { peer: CAROL, name: 'Carol', fingerprint: '05:06', paired: false };
  const listed = { current: [projectX([alice, { peer: `${'d'.repeat(51)}q`, name: 'Dan', fingerprint: '03:04', paired: true }, carol])] };
  const { lines, notices } = withGroups(listed);
  notices.event({ id: '1', type: 'p2p.group.invited', data: { group: GROUP, name: 'Project\u202eX', creator: PEER } });
  await eventually(async () => lines.length === 1, 'the invitation line');
  t.equal(
    lines[0],
    `"Alice\\u2028" (name chosen by them) fingerprint 01:02 invites you to the group "Project\\u202eX" (name chosen by the creator) with 3 member(s); ` +
      'a plugin with group_accept can join, you will be asked',
  );

  // Carol is no longer listed once removed: the line names her as she was listed before.
  listed.current = [projectX([alice])];
  notices.event({ id: '2', type: 'p2p.group.changed', data: { group: GROUP, epoch: 4, changes: [{ op: 'remove', peer: CAROL }] } });
  notices.event({ id: '3', type: 'p2p.group.changed', data: { group: GROUP, epoch: 5, changes: [{ op: 'add', peer: `${'e'.repeat(51)}q` }] } });
  notices.event({ id: '4', type: 'p2p.group.changed', data: { group: GROUP, epoch: 6, changes: [{ op: 'dissolve' }] } });
  notices.event({ id: '5', type: 'p2p.group.left', data: { group: GROUP, reason: 'dissolved' } });
  notices.event({ id: '6', type: 'p2p.group.left', data: { group: GROUP, reason: 'odd\u0007' } });
  await eventually(async () => lines.length === 6, 'a line for each group event, in order');
  t.same(lines.slice(1), [
    `the group "Project\\u202eX" (${GROUP}), epoch 4: "Carol" (peer ${CAROL}) was removed by the creator`,
    `the group "Project\\u202eX" (${GROUP}), epoch 5: peer ${'e'.repeat(51)}q joined`,
    `the group "Project\\u202eX" (${GROUP}), epoch 6: the creator dissolved the group`,
    `you are no longer in the group "Project\\u202eX" (${GROUP}): the creator dissolved it`,
    `you are no longer in the group "Project\\u202eX" (${GROUP}): odd\\u{7}`,
  ]);
});

t.test('without the extension’s group list the lines still say what happened', async (t) => {
  const lines: string[] = [];
  const notices = new HostNotices((line) => lines.push(line), {}, { groups: async () => Promise.reject(new Error('extension restarting')) });
  notices.event({ id: '1', type: 'p2p.group.invited', data: { group: GROUP, name: 'Lunch', creator: PEER } });
  notices.event({ id: '2', type: 'p2p.group.left', data: { group: GROUP, reason: 'creator_revoked' } });
  await eventually(async () => lines.length === 2, 'both lines');
  t.same(lines, [
    `peer ${PEER} invites you to the group "Lunch" (name chosen by the creator); a plugin with group_accept can join, you will be asked`,
    `you are no longer in the group ${GROUP}: its creator is no longer paired with you`,
  ]);
});
