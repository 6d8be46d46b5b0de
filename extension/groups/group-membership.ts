import { randomBytes } from 'node:crypto';
import { encodeBase64url } from '../common/base64url';
import {
  epochStatementHash,
  type EpochChange,
  type EpochStatement,
  GROUP_NONCE_BYTES,
  groupIdOf,
  type GroupMember,
  type GroupSigner,
  type JoinStatement,
  type LeaveStatement,
  signEpochStatement,
  verifyMemberStatement,
} from '../wire/group-statement';
import type { StoredGroup } from './group-store';

/**
 * What the creator signs for each change of membership (design §4.4), and
 * what it checks before: one change per epoch, so that each statement is
 * the evidence of one decision. Pure: the service stores and sends.
 */

/** Epoch 0: the creator alone, under a fresh nonce (so a fresh id). */
export function createEpoch(creator: GroupMember, name: string, signer: GroupSigner, at: number, nonce: Uint8Array = randomBytes(GROUP_NONCE_BYTES)): EpochStatement {
  return signEpochStatement(
    {
      t: 'epoch',
      group: groupIdOf(creator.peer, nonce),
      nonce: Buffer.from(nonce).toString('hex'),
      name,
      creator: creator.peer,
      epoch: 0,
      prev: null,
      members: [creator],
      changes: [],
      at,
    },
    signer,
  );
}

function nextEpoch(head: EpochStatement, members: GroupMember[], changes: EpochChange[], signer: GroupSigner, at: number): EpochStatement {
  return signEpochStatement({ ...head, epoch: head.epoch + 1, prev: epochStatementHash(head), members, changes, at }, signer);
}

export function addEpoch(head: EpochStatement, member: GroupMember, join: JoinStatement, signer: GroupSigner, at: number): EpochStatement {
  return nextEpoch(head, [...head.members, member], [{ op: 'add', peer: member.peer, join }], signer, at);
}

export function leaveEpoch(head: EpochStatement, leave: LeaveStatement, signer: GroupSigner, at: number): EpochStatement {
  return nextEpoch(head, without(head, leave.peer), [{ op: 'leave', peer: leave.peer, leave }], signer, at);
}

export function removeEpoch(head: EpochStatement, peer: string, signer: GroupSigner, at: number): EpochStatement {
  return nextEpoch(head, without(head, peer), [{ op: 'remove', peer }], signer, at);
}

export function dissolveEpoch(head: EpochStatement, signer: GroupSigner, at: number): EpochStatement {
  return nextEpoch(head, [], [{ op: 'dissolve' }], signer, at);
}

/** Members whose key the creator knows to have changed, each with its new key, in one epoch. */
export function keyEpoch(head: EpochStatement, newKeys: ReadonlyMap<string, Uint8Array>, signer: GroupSigner, at: number): EpochStatement {
  const members = head.members.map((member) => {
    const key = newKeys.get(member.peer);
    return key === undefined ? member : { ...member, key: encodeBase64url(key) };
  });
  const changes: EpochChange[] = [...newKeys.keys()].map((peer) => ({ op: 'key', peer }));
  return nextEpoch(head, members, changes, signer, at);
}

function without(head: EpochStatement, peer: string): GroupMember[] {
  return head.members.filter((member) => member.peer !== peer);
}

export function headOf(group: StoredGroup): EpochStatement {
  return group.statements[group.statements.length - 1] as EpochStatement;
}

export function isMemberOf(statement: EpochStatement, peer: string): boolean {
  return statement.members.some((member) => member.peer === peer);
}

/**
 * Why the creator refuses a join that `sender` sent, or null: it must be
 * the sender's own, signed with the key this node pins for it, answer an
 * invite the creator still holds open for it (so a join kept from an
 * earlier membership is never taken again), and have seen no epoch before
 * that invite's nor after the current one.
 */
export function joinRefusal(group: StoredGroup, join: JoinStatement, sender: string, senderKey: Uint8Array): string | null {
  const refusal = verifyMemberStatement(join, group.id, sender, senderKey);
  if (refusal !== null) return `join_${refusal}`;
  const head = headOf(group);
  if (isMemberOf(head, sender)) return 'join_already_member';
  const invitedAt = group.invitesOut[sender];
  if (invitedAt === undefined) return 'join_not_invited';
  if (join.epoch_seen < invitedAt || join.epoch_seen > head.epoch) return 'join_stale';
  return null;
}

/** Why the creator refuses a leave `sender` sent, or null: the sender's own, signed with its pinned key, and a member now. */
export function leaveRefusal(group: StoredGroup, leave: LeaveStatement, sender: string, senderKey: Uint8Array): string | null {
  const refusal = verifyMemberStatement(leave, group.id, sender, senderKey);
  if (refusal !== null) return `leave_${refusal}`;
  return isMemberOf(headOf(group), sender) ? null : 'leave_not_member';
}
