import { decodeBase64urlExact, encodeBase64url } from '../common/base64url';
import { isValidDisplayName } from '../common/display-name';
import { publicKeyRefusal } from '../common/ed25519-public-key';
import { P2pError } from '../common/errors';
import { encodeBase32, PEER_ID_PATTERN, publicKeyFromPeerId } from '../common/peer-id';
import { canonicalJson } from './jcs';
import { ed25519Verify, KEY_BYTES, sha256, SIGNATURE_BYTES } from './primitives';

/**
 * The identity of a group and the objects its members sign (docs/protocol.md §18).
 *
 *   group id = "grp-" + base32(SHA-256("p2p-comm group id v1" | 0x00 | creator's peer id key [32] | nonce [16])[0..20])
 *   sig      = base64url(Ed25519(signer's key, "p2p-comm group v1" | 0x00 | UTF-8(JCS(object without "sig"))))
 *
 * The id is bound to its creator: nobody can mint a group under an id
 * another creator owns, so a grant for one group id never covers someone
 * else's group. The peer id's key is the creator's root, which a key
 * rotation does not change. The signing label and its 0x00 keep these
 * signatures apart from every other one an identity key makes (the JCS
 * text of an object starts with `{`, the label with `p`).
 *
 * Objects are kept in their wire form (snake_case members), because the
 * signature covers exactly those members: a copy in another shape could
 * drift from what was signed.
 */
export const GROUP_ID_LABEL = 'p2p-comm group id v1';
export const GROUP_SIGNATURE_LABEL = 'p2p-comm group v1';
export const GROUP_ID_PATTERN = /^grp-[a-z2-7]{32}$/;
export const GROUP_NONCE_BYTES = 16;
const GROUP_ID_HASH_BYTES = 20;

/** Members of one epoch at most, the creator included: what every copy of a message fans out to. */
export const MAX_GROUP_MEMBERS = 32;
/** Changes one epoch statement records at most: a creator with more to say issues several epochs. */
export const MAX_EPOCH_CHANGES = MAX_GROUP_MEMBERS;
/** Epochs, sequence numbers: what a u32 counts, as the group message log stores them. */
export const MAX_GROUP_COUNTER = 2 ** 32 - 1;
/** The latest time a JavaScript Date holds, as for a leaf's created_at. */
export const MAX_GROUP_TIME = 8_640_000_000_000_000;

/** A member as an epoch lists it: its peer id, its current key (base64url, 43 characters), its name. */
export interface GroupMember {
  peer: string;
  key: string;
  name: string;
}

export interface JoinStatement {
  t: 'join';
  group: string;
  peer: string;
  /** The epoch of the invite the member accepted. */
  epoch_seen: number;
  at: number;
  sig: string;
}

export interface LeaveStatement {
  t: 'leave';
  group: string;
  peer: string;
  at: number;
  sig: string;
}

export type EpochChange =
  | { op: 'add'; peer: string; join: JoinStatement }
  | { op: 'leave'; peer: string; leave: LeaveStatement }
  | { op: 'remove'; peer: string }
  | { op: 'key'; peer: string }
  | { op: 'dissolve' };

export interface EpochStatement {
  t: 'epoch';
  group: string;
  /** The creation nonce, 32 hex characters, in every epoch: any epoch proves the id. */
  nonce: string;
  name: string;
  creator: string;
  epoch: number;
  /** Hex SHA-256 of the previous statement's JCS, its sig included; null at epoch 0. */
  prev: string | null;
  /** The creator first, unless the group is dissolved (then none). */
  members: GroupMember[];
  changes: EpochChange[];
  at: number;
  sig: string;
}

export interface InviteStatement {
  t: 'invite';
  group: string;
  invitee: string;
  /** The epoch the invite goes with: the statement sent beside it. */
  epoch: number;
  at: number;
  sig: string;
}

/** Why bytes or a value are not a group object; a receiver refuses the message as `bad_payload`. */
export type GroupFormatRefusal = 'too_large' | 'malformed' | 'bad_version' | 'bad_schema';

export class GroupFormatError extends Error {
  override name = 'GroupFormatError';

  constructor(
    readonly reason: GroupFormatRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** A key that signs: the node identity's shape. */
export interface GroupSigner {
  sign(message: Uint8Array): Uint8Array;
}

export function groupIdOf(creatorPeerId: string, nonce: Uint8Array): string {
  if (nonce.length !== GROUP_NONCE_BYTES) throw new P2pError('INVALID_INPUT', `a group nonce is ${GROUP_NONCE_BYTES} bytes, not ${nonce.length}`);
  const digest = sha256(Buffer.from(`${GROUP_ID_LABEL}\0`, 'utf8'), publicKeyFromPeerId(creatorPeerId), nonce);
  return `grp-${encodeBase32(digest.subarray(0, GROUP_ID_HASH_BYTES))}`;
}

/** The bytes a group object's signature covers: the label, 0x00, and the JCS of the object without its `sig`. */
export function groupSigningInput(object: object): Uint8Array {
  const { sig: _sig, ...unsigned } = object as Record<string, unknown>;
  return Buffer.from(`${GROUP_SIGNATURE_LABEL}\0${canonicalJson(unsigned)}`, 'utf8');
}

/** Hex SHA-256 of a statement's JCS with its sig: the next epoch's `prev`. */
export function epochStatementHash(statement: EpochStatement): string {
  return Buffer.from(sha256(Buffer.from(canonicalJson(statement), 'utf8'))).toString('hex');
}

function signed<T extends { t: string; sig: string }>(unsigned: Omit<T, 'sig'>, signer: GroupSigner, read: (value: unknown, where: string) => T): T {
  const object = { ...unsigned, sig: encodeBase64url(signer.sign(groupSigningInput(unsigned))) } as T;
  try {
    return read(JSON.parse(JSON.stringify(object)), `the ${unsigned.t}`);
  } catch (error) {
    if (error instanceof GroupFormatError) throw new P2pError('INVALID_INPUT', error.message);
    throw error;
  }
}

/** Each sign function runs the reader's checks, so that this node never signs what a peer refuses. */
export function signEpochStatement(unsigned: Omit<EpochStatement, 'sig'>, creator: GroupSigner): EpochStatement {
  return signed(unsigned, creator, readEpochStatement);
}

export function signJoinStatement(unsigned: Omit<JoinStatement, 'sig'>, member: GroupSigner): JoinStatement {
  return signed(unsigned, member, readJoinStatement);
}

export function signLeaveStatement(unsigned: Omit<LeaveStatement, 'sig'>, member: GroupSigner): LeaveStatement {
  return signed(unsigned, member, readLeaveStatement);
}

export function signInviteStatement(unsigned: Omit<InviteStatement, 'sig'>, creator: GroupSigner): InviteStatement {
  return signed(unsigned, creator, readInviteStatement);
}

/** Whether `sig` is `key`'s signature over the object; `key` is 32 raw bytes. */
export function isSignedBy(object: { sig: string }, key: Uint8Array): boolean {
  const signature = decodeBase64urlExact(object.sig, SIGNATURE_BYTES);
  return signature !== null && ed25519Verify(key, groupSigningInput(object), signature);
}

// ---- Schemas: closed objects, every member checked; signatures are the verify functions' job.

const HEX32 = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const KEY_TEXT_LENGTH = Math.ceil((KEY_BYTES * 4) / 3);

export function schema(message: string): GroupFormatError {
  return new GroupFormatError('bad_schema', message);
}

/** The value as an object whose members are exactly `required` plus any of `optional`. */
export function closedObject(value: unknown, required: readonly string[], where: string, optional: readonly string[] = []): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw schema(`${where} is not a JSON object`);
  const object = value as Record<string, unknown>;
  const unknown = Object.keys(object).find((key) => !required.includes(key) && !optional.includes(key));
  if (unknown !== undefined) throw schema(`${where} has no member ${JSON.stringify(unknown.slice(0, 64))}`);
  const missing = required.find((key) => !Object.hasOwn(object, key));
  if (missing !== undefined) throw schema(`${where} lacks ${missing}`);
  return object;
}

export function counter(value: unknown, where: string, min = 0, max = MAX_GROUP_COUNTER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw schema(`${where} is not a whole number from ${min} to ${max}`);
  return value;
}

export function peerId(value: unknown, where: string): string {
  if (typeof value !== 'string' || !PEER_ID_PATTERN.test(value)) throw schema(`${where} is not a peer id`);
  return value;
}

export function groupId(value: unknown, where: string): string {
  if (typeof value !== 'string' || !GROUP_ID_PATTERN.test(value)) throw schema(`${where} is not a group id (grp- and 32 characters a-z, 2-7)`);
  return value;
}

export function hex32(value: unknown, where: string): string {
  if (typeof value !== 'string' || !HEX32.test(value)) throw schema(`${where} is not 32 lower-case hex characters`);
  return value;
}

function literal<T extends string>(value: unknown, expected: T, where: string): T {
  if (value !== expected) throw schema(`${where}.t is not "${expected}"`);
  return expected;
}

export function signature(value: unknown, where: string): string {
  if (typeof value !== 'string' || decodeBase64urlExact(value, SIGNATURE_BYTES) === null) throw schema(`${where}.sig is not a base64url Ed25519 signature (86 characters)`);
  return value;
}

function displayName(value: unknown, where: string): string {
  if (typeof value !== 'string' || !isValidDisplayName(value)) {
    throw schema(`${where} is not a display name (1-64 characters, not only whitespace, no control, line-separator, text-direction, zero-width or invisible character)`);
  }
  return value;
}

export function time(value: unknown, where: string): number {
  return counter(value, where, 0, MAX_GROUP_TIME);
}

export function readJoinStatement(value: unknown, where: string): JoinStatement {
  const o = closedObject(value, ['t', 'group', 'peer', 'epoch_seen', 'at', 'sig'], where);
  return {
    t: literal(o['t'], 'join', where),
    group: groupId(o['group'], `${where}.group`),
    peer: peerId(o['peer'], `${where}.peer`),
    epoch_seen: counter(o['epoch_seen'], `${where}.epoch_seen`),
    at: time(o['at'], `${where}.at`),
    sig: signature(o['sig'], where),
  };
}

export function readLeaveStatement(value: unknown, where: string): LeaveStatement {
  const o = closedObject(value, ['t', 'group', 'peer', 'at', 'sig'], where);
  return {
    t: literal(o['t'], 'leave', where),
    group: groupId(o['group'], `${where}.group`),
    peer: peerId(o['peer'], `${where}.peer`),
    at: time(o['at'], `${where}.at`),
    sig: signature(o['sig'], where),
  };
}

export function readInviteStatement(value: unknown, where: string): InviteStatement {
  const o = closedObject(value, ['t', 'group', 'invitee', 'epoch', 'at', 'sig'], where);
  return {
    t: literal(o['t'], 'invite', where),
    group: groupId(o['group'], `${where}.group`),
    invitee: peerId(o['invitee'], `${where}.invitee`),
    epoch: counter(o['epoch'], `${where}.epoch`),
    at: time(o['at'], `${where}.at`),
    sig: signature(o['sig'], where),
  };
}

function readMember(value: unknown, where: string): GroupMember {
  const o = closedObject(value, ['peer', 'key', 'name'], where);
  const key = o['key'];
  if (typeof key !== 'string' || key.length !== KEY_TEXT_LENGTH || decodeBase64urlExact(key, KEY_BYTES) === null) {
    throw schema(`${where}.key is not a base64url Ed25519 public key (43 characters)`);
  }
  return { peer: peerId(o['peer'], `${where}.peer`), key, name: displayName(o['name'], `${where}.name`) };
}

function readChange(value: unknown, where: string): EpochChange {
  const op = (value as Record<string, unknown> | null)?.['op'];
  switch (op) {
    case 'add': {
      const o = closedObject(value, ['op', 'peer', 'join'], where);
      return { op, peer: peerId(o['peer'], `${where}.peer`), join: readJoinStatement(o['join'], `${where}.join`) };
    }
    case 'leave': {
      const o = closedObject(value, ['op', 'peer', 'leave'], where);
      return { op, peer: peerId(o['peer'], `${where}.peer`), leave: readLeaveStatement(o['leave'], `${where}.leave`) };
    }
    case 'remove':
    case 'key': {
      const o = closedObject(value, ['op', 'peer'], where);
      return { op, peer: peerId(o['peer'], `${where}.peer`) };
    }
    case 'dissolve':
      closedObject(value, ['op'], where);
      return { op };
    default:
      throw schema(`${where}.op is none of add, leave, remove, key, dissolve`);
  }
}

export function boundedArray(value: unknown, max: number, where: string, min = 0): unknown[] {
  if (!Array.isArray(value)) throw schema(`${where} is not an array`);
  if (value.length < min || value.length > max) throw schema(`${where} holds ${value.length} items, not ${min} to ${max}`);
  return value;
}

export function readEpochStatement(value: unknown, where: string): EpochStatement {
  const o = closedObject(value, ['t', 'group', 'nonce', 'name', 'creator', 'epoch', 'prev', 'members', 'changes', 'at', 'sig'], where);
  const epoch = counter(o['epoch'], `${where}.epoch`);
  const prev = o['prev'];
  if (epoch === 0 ? prev !== null : typeof prev !== 'string' || !HEX64.test(prev)) {
    throw schema(`${where}.prev is ${epoch === 0 ? 'not null at epoch 0' : 'not 64 lower-case hex characters'}`);
  }
  return {
    t: literal(o['t'], 'epoch', where),
    group: groupId(o['group'], `${where}.group`),
    nonce: hex32(o['nonce'], `${where}.nonce`),
    name: displayName(o['name'], `${where}.name`),
    creator: peerId(o['creator'], `${where}.creator`),
    epoch,
    prev: prev as string | null,
    members: boundedArray(o['members'], MAX_GROUP_MEMBERS, `${where}.members`).map((member, i) => readMember(member, `${where}.members[${i}]`)),
    changes: boundedArray(o['changes'], MAX_EPOCH_CHANGES, `${where}.changes`).map((change, i) => readChange(change, `${where}.changes[${i}]`)),
    at: time(o['at'], `${where}.at`),
    sig: signature(o['sig'], where),
  };
}

// ---- Verification: what a statement says, against the keys the verifier knows.

/**
 * Why an epoch statement is refused, the first that applies, cheap checks
 * before signatures:
 *  - wrong_group_id: `group` is not derived from `creator` and `nonce`;
 *  - other_group: the previous statement is of another group;
 *  - not_next: `epoch` is not the previous one's + 1;
 *  - broken_link: `prev` is not the previous statement's hash;
 *  - renamed: the name differs from the previous one's (no change renames);
 *  - bad_genesis: epoch 0 lists other members than its creator, or changes;
 *  - creator_not_first: the first member is not the creator (or, dissolved, members remain);
 *  - duplicate_member: a peer listed twice;
 *  - bad_change: a change that contradicts the members (an added peer
 *    missing, a removed or leaving one still listed, a key change for a
 *    non-member), touches the creator, names a peer twice, or a dissolve
 *    beside other changes;
 *  - members_mismatch: the members are not the previous ones with the
 *    changes applied, or a key changed without a `key` change (or one
 *    names an unchanged key);
 *  - unusable_key: a member's key stands for no one (ed25519-public-key.ts);
 *  - bad_signature: the creator's key did not sign it;
 *  - bad_join / bad_leave: the evidence of an add or a leave is for another
 *    group or peer, seen a later epoch, or not signed by that member.
 *
 * A leave is signed with the key the previous epoch lists for the leaver:
 * without the previous statement (a member that joins at this epoch) the
 * creator's signature vouches for it, as for the whole member list.
 */
export type EpochRefusal =
  | 'wrong_group_id'
  | 'other_group'
  | 'not_next'
  | 'broken_link'
  | 'renamed'
  | 'bad_genesis'
  | 'creator_not_first'
  | 'duplicate_member'
  | 'bad_change'
  | 'members_mismatch'
  | 'unusable_key'
  | 'bad_signature'
  | 'bad_join'
  | 'bad_leave';

const EPOCH_DESCRIPTIONS: Record<EpochRefusal, string> = {
  wrong_group_id: 'names a group id not derived from its creator and nonce',
  other_group: 'is of another group than the epoch before it',
  not_next: 'does not follow the epoch before it',
  broken_link: 'does not name the hash of the epoch before it',
  renamed: 'renames the group',
  bad_genesis: 'starts the group with other members than its creator, or with changes',
  creator_not_first: 'does not list its creator first',
  duplicate_member: 'lists a member twice',
  bad_change: 'records a change its member list contradicts',
  members_mismatch: 'lists members other than the epoch before it with the changes applied',
  unusable_key: 'lists a member key that stands for no one',
  bad_signature: 'is not signed by the creator',
  bad_join: 'adds a member without a join that member signed for this group',
  bad_leave: 'records a leave the leaver did not sign for this group',
};

export function describeEpochRefusal(refusal: EpochRefusal): string {
  return EPOCH_DESCRIPTIONS[refusal];
}

function keyOf(member: GroupMember): Uint8Array {
  return decodeBase64urlExact(member.key, KEY_BYTES) as Uint8Array;
}

/**
 * null when `statement` is a valid epoch of its group: signed with
 * `creatorKey` (the key this node knows for the creator), and, when the
 * verifier holds it, the valid successor of `previous`.
 */
export function verifyEpochStatement(statement: EpochStatement, creatorKey: Uint8Array, previous: EpochStatement | null = null): EpochRefusal | null {
  if (groupIdOf(statement.creator, Buffer.from(statement.nonce, 'hex')) !== statement.group) return 'wrong_group_id';
  if (previous !== null) {
    if (previous.group !== statement.group) return 'other_group';
    if (statement.epoch !== previous.epoch + 1) return 'not_next';
    if (statement.prev !== epochStatementHash(previous)) return 'broken_link';
    if (statement.name !== previous.name) return 'renamed';
  }
  const members = new Map(statement.members.map((member) => [member.peer, member]));
  if (statement.epoch === 0 && (statement.changes.length > 0 || statement.members.length !== 1)) return 'bad_genesis';
  const dissolved = statement.changes.some((change) => change.op === 'dissolve');
  if (dissolved ? statement.members.length > 0 : statement.members[0]?.peer !== statement.creator) return 'creator_not_first';
  if (members.size !== statement.members.length) return 'duplicate_member';
  if (changeRefusal(statement, members, dissolved)) return 'bad_change';
  if (previous !== null && !followsFrom(previous, statement)) return 'members_mismatch';
  // The one signature before the member keys' point decoding (up to 32 of them): only the creator can make the rest cost anything.
  if (!isSignedBy(statement, creatorKey)) return 'bad_signature';
  if (statement.members.some((member) => publicKeyRefusal(keyOf(member)) !== null)) return 'unusable_key';
  for (const change of statement.changes) {
    if (change.op === 'add') {
      const { join } = change;
      if (join.group !== statement.group || join.peer !== change.peer || join.epoch_seen >= statement.epoch) return 'bad_join';
      if (!isSignedBy(join, keyOf(members.get(change.peer) as GroupMember))) return 'bad_join';
    }
    if (change.op === 'leave') {
      const { leave } = change;
      if (leave.group !== statement.group || leave.peer !== change.peer) return 'bad_leave';
      const leaver = previous?.members.find((member) => member.peer === change.peer);
      if (leaver !== undefined && !isSignedBy(leave, keyOf(leaver))) return 'bad_leave';
    }
  }
  return null;
}

function changeRefusal(statement: EpochStatement, members: Map<string, GroupMember>, dissolved: boolean): boolean {
  if (dissolved) return statement.changes.length !== 1;
  const named = new Set<string>();
  for (const change of statement.changes) {
    if (change.op === 'dissolve') return true;
    if (change.peer === statement.creator || named.has(change.peer)) return true;
    named.add(change.peer);
    const listed = members.has(change.peer);
    if ((change.op === 'add' || change.op === 'key') !== listed) return true;
  }
  return false;
}

/** The previous members, minus those who left or were removed, plus those added; keys changed exactly where a `key` change says. */
function followsFrom(previous: EpochStatement, statement: EpochStatement): boolean {
  if (statement.changes.some((change) => change.op === 'dissolve')) return true;
  const expected = new Map(previous.members.map((member) => [member.peer, member.key]));
  const rekeyed = new Set<string>();
  for (const change of statement.changes) {
    if (change.op === 'dissolve') continue;
    const wasMember = expected.has(change.peer);
    if (change.op === 'add' ? wasMember : !wasMember) return false;
    if (change.op === 'leave' || change.op === 'remove') expected.delete(change.peer);
    if (change.op === 'key') rekeyed.add(change.peer);
    if (change.op === 'add') expected.set(change.peer, (statement.members.find((member) => member.peer === change.peer) as GroupMember).key);
  }
  if (expected.size !== statement.members.length) return false;
  return statement.members.every((member) => {
    const key = expected.get(member.peer);
    if (key === undefined) return false;
    return rekeyed.has(member.peer) ? key !== member.key : key === member.key;
  });
}

/** Why an invite is refused: for another group or epoch than the statement beside it, or not the creator's. */
export type InviteRefusal = 'other_group' | 'other_epoch' | 'bad_signature';

export function verifyInvite(invite: InviteStatement, head: EpochStatement, creatorKey: Uint8Array): InviteRefusal | null {
  if (invite.group !== head.group) return 'other_group';
  if (invite.epoch !== head.epoch) return 'other_epoch';
  return isSignedBy(invite, creatorKey) ? null : 'bad_signature';
}

/** Why a join or a leave the creator receives is refused: for another group, signed for another peer than its sender, or not signed by it. */
export type MemberStatementRefusal = 'other_group' | 'other_peer' | 'bad_signature';

export function verifyMemberStatement(statement: JoinStatement | LeaveStatement, group: string, sender: string, senderKey: Uint8Array): MemberStatementRefusal | null {
  if (statement.group !== group) return 'other_group';
  if (statement.peer !== sender) return 'other_peer';
  return isSignedBy(statement, senderKey) ? null : 'bad_signature';
}

/** The key an epoch lists for `peer`, 32 bytes, or null when it is no member of that epoch. */
export function memberKey(statement: EpochStatement, peer: string): Uint8Array | null {
  const member = statement.members.find((candidate) => candidate.peer === peer);
  return member === undefined ? null : keyOf(member);
}
