import type { GroupEnvelope } from '../wire/group-payload';
import { verifyGroupEnvelope } from '../wire/group-payload';
import type { EpochStatement } from '../wire/group-statement';
import type { StoredGroup } from './group-store';

/**
 * Where the copies of a group envelope go, and whether one that came in
 * may be taken (design §4.4). Pure: the caller passes the group as the
 * store holds it and what it knows of each peer (paired, pinned key,
 * revoked); sending, storing and acking are the group service's.
 *
 * Copy per member = one pairwise durable message. A member the author is
 * not paired with is reached through the creator, which every member is
 * paired with: the author lists it in the `relay` of its copy to the
 * creator, and the creator sends it on. The author's signature travels
 * with the envelope, so a relayed copy is checked end to end against the
 * member list of its epoch.
 */

/** One pairwise message carrying the envelope: `relay` only on the copy to the creator, naming who it passes the envelope on to. */
export interface PlannedCopy {
  peer: string;
  relay: string[] | null;
}

export interface CopyPlan {
  copies: PlannedCopy[];
  /** Members the envelope reaches through the creator (the `relay` of the creator's copy). */
  relayed: string[];
  /** Members no copy reaches: not paired, and the creator (who would relay) is not paired with this node either. */
  unreachable: string[];
}

/**
 * The copies of one envelope this node authors, for the members of the
 * current epoch: senders route by the current epoch only, so a member
 * removed from it gets nothing new.
 */
export function planCopies(current: EpochStatement, self: string, isPaired: (peer: string) => boolean): CopyPlan {
  const others = current.members.map((member) => member.peer).filter((peer) => peer !== self);
  const creator = current.creator;
  const direct = others.filter((peer) => peer !== creator && isPaired(peer));
  const relayed = others.filter((peer) => peer !== creator && !isPaired(peer));
  const copies: PlannedCopy[] = direct.map((peer) => ({ peer, relay: null }));
  // The creator relays for others; its own unpaired members (a revoked peer) have nobody to go through.
  if (self === creator || !others.includes(creator)) return { copies, relayed: [], unreachable: relayed };
  if (!isPaired(creator)) return { copies, relayed: [], unreachable: [creator, ...relayed] };
  copies.push({ peer: creator, relay: relayed.length === 0 ? null : relayed });
  return { copies, relayed, unreachable: [] };
}

/**
 * Why an envelope that came in is not taken. Each is a counter
 * `group_<refusal>`; `CHARGEABLE_REFUSALS` are those the pairwise sender
 * answers for (it signed the batch that carried something no honest node
 * sends):
 *  - unknown_group: this node holds no such group (forgotten, never joined);
 *  - not_member: this node is invited, has left, or the group is dissolved: it takes nothing;
 *  - after_removal: this node was removed at an epoch ≤ the envelope's;
 *  - self_not_member: this node is not listed in the envelope's epoch (before it joined);
 *  - epoch_pruned: the statement of that epoch is no longer kept, nothing can check it;
 *  - future_epoch: at the creator, an epoch it never issued;
 *  - own_message: an envelope this node authored, sent back to it;
 *  - author_revoked: this node's user revoked the author: its messages are dropped;
 *  - bad_sender: the pairwise sender is neither the author nor the creator;
 *  - relay_not_creator: a relay list sent to a node that is not the creator;
 *  - author_not_member / bad_signature: the envelope fails against its epoch's statement (a forged relay among them);
 *  - seq_reused: another message under a seq the author used (group-order.ts);
 *  - author_not_current: the author is no longer a member; at the creator always, elsewhere when signed after the statement that ended it.
 */
export type EnvelopeRefusal =
  | 'unknown_group'
  | 'not_member'
  | 'after_removal'
  | 'self_not_member'
  | 'epoch_pruned'
  | 'future_epoch'
  | 'own_message'
  | 'author_revoked'
  | 'bad_sender'
  | 'relay_not_creator'
  | 'author_not_member'
  | 'bad_signature'
  | 'seq_reused'
  | 'author_not_current';

export const CHARGEABLE_REFUSALS: ReadonlySet<EnvelopeRefusal> = new Set<EnvelopeRefusal>([
  'future_epoch',
  'bad_sender',
  'relay_not_creator',
  'author_not_member',
  'bad_signature',
  'seq_reused',
]);

/** What this node knows of a peer, beside the group: the service reads it from the trust store. */
export interface PeerFacts {
  /** The author's pinned current key when paired with it (fresher than a statement after a rotation), else null. */
  pinnedKey(peer: string): Uint8Array | null;
  /** The user revoked this peer. */
  isRevoked(peer: string): boolean;
}

/** An envelope checked: taken (against `statement`), to wait for the statement of its epoch, or refused. */
export type EnvelopeCheck = { check: 'taken'; statement: EpochStatement } | { check: 'later' } | { check: 'refused'; refusal: EnvelopeRefusal };

/**
 * The epoch from which this node is no longer listed after it was a
 * member (removed or left), or null while it is listed in the current one.
 */
export function endEpoch(group: StoredGroup, self: string): number | null {
  const from = group.joinedEpoch ?? 0;
  const end = group.statements.find((statement) => statement.epoch > from && !statement.members.some((member) => member.peer === self));
  return end?.epoch ?? null;
}

/**
 * Whether this node takes an envelope, checked against the statement of
 * its epoch: author and this node members of it, signed with the author's
 * pinned key when paired with it, else (or when the author's key changed
 * since) with the key the statement lists.
 * An epoch after the current one waits for its statement (`later`); at
 * the creator, which issues every epoch, that is `future_epoch`.
 */
export function checkEnvelope(envelope: GroupEnvelope, group: StoredGroup | undefined, self: string, peers: PeerFacts): EnvelopeCheck {
  const refused = (refusal: EnvelopeRefusal): EnvelopeCheck => ({ check: 'refused', refusal });
  if (group === undefined) return refused('unknown_group');
  if (group.state === 'removed') {
    const end = endEpoch(group, self);
    if (end === null || envelope.epoch >= end) return refused('after_removal');
  } else if (group.state !== 'member') {
    return refused('not_member');
  }
  if (envelope.author === self) return refused('own_message');
  if (peers.isRevoked(envelope.author)) return refused('author_revoked');
  const head = group.statements[group.statements.length - 1] as EpochStatement;
  if (envelope.epoch > head.epoch) return group.creator === self ? refused('future_epoch') : { check: 'later' };
  const statement = group.statements.find((candidate) => candidate.epoch === envelope.epoch);
  if (statement === undefined) return refused(envelope.epoch < (group.joinedEpoch ?? 0) ? 'self_not_member' : 'epoch_pruned');
  if (!statement.members.some((member) => member.peer === self)) return refused('self_not_member');
  const pinned = peers.pinnedKey(envelope.author);
  let refusal = verifyGroupEnvelope(envelope, statement, pinned);
  // Signed before its author's key changed (resent after a crash, relayed late): the key the creator listed for that epoch was the author's then.
  if (refusal === 'bad_signature' && pinned !== null) refusal = verifyGroupEnvelope(envelope, statement, null);
  // other_group and other_epoch cannot come: the statement is the one the envelope names.
  if (refusal !== null) return refused(refusal === 'author_not_member' ? 'author_not_member' : 'bad_signature');
  if (!head.members.some((member) => member.peer === envelope.author)) {
    // A member removed (or gone) since: its old epochs still verify. The creator, which issued the change, relays none of them;
    // elsewhere only what it signed before the change is taken. Not charged: an honest member's last messages arrive late.
    const ended = group.statements.find((later) => later.epoch > envelope.epoch && !later.members.some((member) => member.peer === envelope.author));
    if (group.creator === self || ended === undefined || envelope.created_at > ended.at) return refused('author_not_current');
  }
  return { check: 'taken', statement };
}

/**
 * Whether the pairwise sender may hand this node the envelope: its author
 * sends its own copies, the creator relays others', and a relay list goes
 * to the creator only (so, the creator not sending to itself, only from
 * the author).
 */
export function senderRefusal(envelope: GroupEnvelope, relay: readonly string[] | null, sender: string, group: StoredGroup, self: string): EnvelopeRefusal | null {
  if (sender !== envelope.author && sender !== group.creator) return 'bad_sender';
  return relay !== null && group.creator !== self ? 'relay_not_creator' : null;
}

/**
 * At the creator, for an envelope already checked: whom to pass it on to.
 * Only the members of the current epoch among those the author named,
 * never the author or the creator itself: a member removed since the
 * author sent is not sent to.
 */
export function relayTargets(relay: readonly string[], envelope: GroupEnvelope, group: StoredGroup, self: string): string[] {
  const current = group.statements[group.statements.length - 1] as EpochStatement;
  const members = new Set(current.members.map((member) => member.peer));
  return relay.filter((peer) => members.has(peer) && peer !== envelope.author && peer !== self);
}

/**
 * An envelope this node authored, as groups.json records it before any
 * copy goes out (design §4.10), with the outbox message id of each copy
 * once it is queued.
 */
export interface OutgoingEnvelope {
  envelope: GroupEnvelope;
  copies: Array<PlannedCopy & { messageId: string | null }>;
}

/**
 * After a crash between taking the seq and queuing every copy: the
 * copies to send again — those with no message id —, for members still
 * in the current epoch (a member removed meanwhile gets nothing new; a
 * relay list keeps only current members, and goes when none is left).
 * The envelope is the one recorded, same seq and id, so a receiver that
 * has it already drops the copy as a duplicate; no seq is skipped.
 */
export function copiesToResend(outgoing: OutgoingEnvelope, current: EpochStatement): PlannedCopy[] {
  const members = new Set(current.members.map((member) => member.peer));
  return outgoing.copies
    .filter((copy) => copy.messageId === null && members.has(copy.peer))
    .map((copy) => {
      const relay = copy.relay?.filter((peer) => members.has(peer) && peer !== outgoing.envelope.author) ?? [];
      return { peer: copy.peer, relay: relay.length === 0 ? null : relay };
    });
}
