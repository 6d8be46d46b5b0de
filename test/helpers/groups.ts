import { encodeBase64url } from '../../extension/common/base64url';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import type { StaticIdentity } from '../../extension/wire/handshake';
import { type GroupEnvelope, signGroupEnvelope } from '../../extension/wire/group-payload';
import {
  epochStatementHash,
  type EpochChange,
  type EpochStatement,
  groupIdOf,
  type GroupMember,
  signEpochStatement,
  signJoinStatement,
  signLeaveStatement,
} from '../../extension/wire/group-statement';
import { identityFromSeed } from './fixed-identity';

/** A member of the test groups: a fixed identity, its peer id and name. */
export interface GroupPerson {
  identity: StaticIdentity;
  peer: string;
  name: string;
}

export function groupPerson(seedByte: number, name: string): GroupPerson {
  const identity = identityFromSeed(new Uint8Array(32).fill(seedByte));
  return { identity, peer: peerIdFromPublicKey(identity.publicKey), name };
}

export function memberOf(person: GroupPerson, key = person.identity.publicKey): GroupMember {
  return { peer: person.peer, key: encodeBase64url(key), name: person.name };
}

export const GROUP_NONCE = new Uint8Array(16).fill(0xa5);
export const GROUP_TIME = 1_900_000_000_000;

/** Epoch 0 of `creator`'s group "Project X". */
export function createStatement(creator: GroupPerson, nonce = GROUP_NONCE): EpochStatement {
  return signEpochStatement(
    {
      t: 'epoch',
      group: groupIdOf(creator.peer, nonce),
      nonce: Buffer.from(nonce).toString('hex'),
      name: 'Project X',
      creator: creator.peer,
      epoch: 0,
      prev: null,
      members: [memberOf(creator)],
      changes: [],
      at: GROUP_TIME,
    },
    creator.identity,
  );
}

/** The epoch after `previous`, with these members and changes, signed by `creator`. */
export function nextStatement(previous: EpochStatement, creator: GroupPerson, members: GroupMember[], changes: EpochChange[]): EpochStatement {
  return signEpochStatement(
    { ...previous, epoch: previous.epoch + 1, prev: epochStatementHash(previous), members, changes, at: GROUP_TIME + previous.epoch + 1 },
    creator.identity,
  );
}

export type AddChange = Extract<EpochChange, { op: 'add' }>;
export type LeaveChange = Extract<EpochChange, { op: 'leave' }>;

export function addChange(previous: EpochStatement, person: GroupPerson): AddChange {
  const join = signJoinStatement({ t: 'join', group: previous.group, peer: person.peer, epoch_seen: previous.epoch, at: GROUP_TIME }, person.identity);
  return { op: 'add', peer: person.peer, join };
}

export function leaveChange(previous: EpochStatement, person: GroupPerson): LeaveChange {
  return { op: 'leave', peer: person.peer, leave: signLeaveStatement({ t: 'leave', group: previous.group, peer: person.peer, at: GROUP_TIME }, person.identity) };
}

/** Alice creates, Bob and Carol join, Bob leaves: epochs 0 to 3. */
export function groupHistory(): { alice: GroupPerson; bob: GroupPerson; carol: GroupPerson; epochs: EpochStatement[] } {
  const [alice, bob, carol] = [groupPerson(0x21, 'Alice'), groupPerson(0x22, 'Bob'), groupPerson(0x23, 'Carol')];
  const e0 = createStatement(alice);
  const e1 = nextStatement(e0, alice, [memberOf(alice), memberOf(bob)], [addChange(e0, bob)]);
  const e2 = nextStatement(e1, alice, [memberOf(alice), memberOf(bob), memberOf(carol)], [addChange(e1, carol)]);
  const e3 = nextStatement(e2, alice, [memberOf(alice), memberOf(carol)], [leaveChange(e2, bob)]);
  return { alice, bob, carol, epochs: [e0, e1, e2, e3] };
}

export function envelopeBy(author: GroupPerson, statement: EpochStatement, change: Partial<Omit<GroupEnvelope, 'sig'>> = {}): GroupEnvelope {
  return signGroupEnvelope(
    {
      t: 'msg',
      group: statement.group,
      epoch: statement.epoch,
      author: author.peer,
      seq: 1,
      prev_epoch: 0,
      id: 'c0'.repeat(16),
      created_at: GROUP_TIME,
      type: 'text',
      content: 'hello group',
      ...change,
    },
    author.identity,
  );
}

/** An independent RFC 4648 base32 (lower case, no padding), bit by bit, to re-derive group ids. */
export function referenceBase32(bytes: Uint8Array): string {
  const bits = [...bytes].map((byte) => byte.toString(2).padStart(8, '0')).join('');
  const chars = bits.match(/.{1,5}/g) ?? [];
  return chars.map((group) => 'abcdefghijklmnopqrstuvwxyz234567'[parseInt(group.padEnd(5, '0'), 2)]).join('');
}

/** An independent JCS for the test objects (well-formed strings, integers, null): members sorted by code unit, no whitespace. */
export function referenceJcs(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(referenceJcs).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${referenceJcs(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
