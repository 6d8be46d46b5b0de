import { encodeBase64url } from '../common/base64url';
import { P2pError } from '../common/errors';
import { firstJsonProblem, jsonProblemText, MAX_JSON_DEPTH } from '../common/json-value';
import { encodeCheckedJson, parseJsonObjectPayload } from './json-object-payload';
import {
  boundedArray,
  closedObject,
  counter,
  epochStatementHash,
  type EpochStatement,
  groupId,
  GroupFormatError,
  groupSigningInput,
  type GroupSigner,
  hex32,
  type InviteStatement,
  isSignedBy,
  type JoinStatement,
  type LeaveStatement,
  MAX_GROUP_MEMBERS,
  memberKey,
  peerId,
  readEpochStatement,
  readInviteStatement,
  readJoinStatement,
  readLeaveStatement,
  schema,
  signature,
  time,
} from './group-statement';
import { canonicalJson, JcsError } from './jcs';

/**
 * The payloads of the two group message types (docs/protocol.md §18):
 *
 *   group_control  UTF-8 JSON, closed, one of
 *                  {"v":1,"kind":"invite","invite":I,"epochs":[E…]}
 *                  {"v":1,"kind":"epochs","epochs":[E…]}
 *                  {"v":1,"kind":"join","join":J}
 *                  {"v":1,"kind":"leave","leave":L}
 *   group_message  UTF-8 JSON, closed: {"v":1,"envelope":M[,"relay":[peer id…]]}
 *
 * The statements are those of group-statement.ts; the envelope M is signed
 * by its author, so a copy the creator relays stays verifiable end to end
 * against the member list of its epoch. `relay` is only on a copy sent to
 * the creator: the members the author is not paired with.
 *
 * These are the format's limits, the same for every node; how many members
 * or groups a node takes is its group service's setting.
 */
export const GROUP_PAYLOAD_VERSION = 1;

/** A group_control payload's bytes at most. */
export const MAX_GROUP_CONTROL_BYTES = 65_536;
/** Epoch statements in one group_control at most: a longer history goes in several. */
export const MAX_CONTROL_EPOCHS = 8;
/** An envelope's JCS bytes at most, the content included. */
export const MAX_ENVELOPE_BYTES = 262_144;
/** A group_message payload's bytes at most: the envelope and room for its wrapper and the relay list. */
export const MAX_GROUP_MESSAGE_BYTES = MAX_ENVELOPE_BYTES + 8192;

export const GROUP_CONTROL_KINDS = ['invite', 'epochs', 'join', 'leave'] as const;
export type GroupControlKind = (typeof GROUP_CONTROL_KINDS)[number];

export type GroupControl =
  | { kind: 'invite'; invite: InviteStatement; epochs: EpochStatement[] }
  | { kind: 'epochs'; epochs: EpochStatement[] }
  | { kind: 'join'; join: JoinStatement }
  | { kind: 'leave'; leave: LeaveStatement };

/** A message to a group as its author signed it. */
export interface GroupEnvelope {
  t: 'msg';
  group: string;
  /** The epoch whose member list the author sent to. */
  epoch: number;
  author: string;
  /** The author's messages to this group, counted from 1. */
  seq: number;
  /** The epoch of the author's previous message to this group; 0 for the first. */
  prev_epoch: number;
  /** 32 hex characters, random. */
  id: string;
  created_at: number;
  type: 'text' | 'json';
  content: unknown;
  sig: string;
}

export interface GroupMessage {
  envelope: GroupEnvelope;
  /** Only on a copy to the creator; null otherwise. */
  relay: string[] | null;
}

function isGroupFormatError(error: unknown): error is GroupFormatError {
  return error instanceof GroupFormatError;
}

function parseObject(bytes: Uint8Array, maxBytes: number, what: string): Record<string, unknown> {
  const object = parseJsonObjectPayload(bytes, maxBytes, what, (reason, message) => new GroupFormatError(reason, message));
  if (object['v'] !== GROUP_PAYLOAD_VERSION) throw new GroupFormatError('bad_version', `payload version ${JSON.stringify(object['v'] ?? null)} is not ${GROUP_PAYLOAD_VERSION}`);
  return object;
}


/** Statements of one group, consecutive epochs, each naming the hash of the one before: a piece of its history. */
function readEpochs(value: unknown): EpochStatement[] {
  const epochs = boundedArray(value, MAX_CONTROL_EPOCHS, 'epochs', 1).map((statement, i) => readEpochStatement(statement, `epochs[${i}]`));
  for (let i = 1; i < epochs.length; i += 1) {
    const [before, after] = [epochs[i - 1] as EpochStatement, epochs[i] as EpochStatement];
    if (after.group !== before.group || after.epoch !== before.epoch + 1 || after.prev !== epochStatementHash(before)) {
      throw schema(`epochs[${i}] does not follow epochs[${i - 1}] (same group, next epoch, prev its hash)`);
    }
  }
  return epochs;
}

export function decodeGroupControl(bytes: Uint8Array): GroupControl {
  const value = parseObject(bytes, MAX_GROUP_CONTROL_BYTES, 'a group control');
  const kind = value['kind'];
  switch (kind) {
    case 'invite': {
      const o = closedObject(value, ['v', 'kind', 'invite', 'epochs'], 'an invite control');
      const invite = readInviteStatement(o['invite'], 'invite');
      const epochs = readEpochs(o['epochs']);
      const head = epochs[epochs.length - 1] as EpochStatement;
      if (invite.group !== head.group || invite.epoch !== head.epoch) throw schema('invite is not for the group and epoch of the last statement beside it');
      return { kind, invite, epochs };
    }
    case 'epochs':
      return { kind, epochs: readEpochs(closedObject(value, ['v', 'kind', 'epochs'], 'an epochs control')['epochs']) };
    case 'join':
      return { kind, join: readJoinStatement(closedObject(value, ['v', 'kind', 'join'], 'a join control')['join'], 'join') };
    case 'leave':
      return { kind, leave: readLeaveStatement(closedObject(value, ['v', 'kind', 'leave'], 'a leave control')['leave'], 'leave') };
    default:
      throw schema(`kind ${JSON.stringify(String(kind).slice(0, 32))} is none of ${GROUP_CONTROL_KINDS.join(', ')}`);
  }
}

export function encodeGroupControl(control: GroupControl): Uint8Array {
  return encodeCheckedJson({ v: GROUP_PAYLOAD_VERSION, ...control }, decodeGroupControl, isGroupFormatError);
}

export function readGroupEnvelope(value: unknown, where = 'envelope'): GroupEnvelope {
  const o = closedObject(value, ['t', 'group', 'epoch', 'author', 'seq', 'prev_epoch', 'id', 'created_at', 'type', 'content', 'sig'], where);
  if (o['t'] !== 'msg') throw schema(`${where}.t is not "msg"`);
  const epoch = counter(o['epoch'], `${where}.epoch`);
  const seq = counter(o['seq'], `${where}.seq`, 1);
  const prevEpoch = counter(o['prev_epoch'], `${where}.prev_epoch`, 0, epoch);
  if (seq === 1 && prevEpoch !== 0) throw schema(`${where}.prev_epoch is not 0 on the author's first message`);
  const { type, content, sig } = o;
  if (type === 'text') {
    if (typeof content !== 'string' || !content.isWellFormed()) throw schema(`${where}.content of a text message is not a well-formed string`);
  } else if (type === 'json') {
    const problem = firstJsonProblem(content, MAX_JSON_DEPTH);
    if (problem !== null) throw schema(`${where}.content${problem.path === '' ? '' : ` at ${problem.path}`} ${jsonProblemText(problem.rule, MAX_JSON_DEPTH)}`);
  } else {
    throw schema(`${where}.type is neither "text" nor "json"`);
  }
  const envelope: GroupEnvelope = {
    t: 'msg',
    group: groupId(o['group'], `${where}.group`),
    epoch,
    author: peerId(o['author'], `${where}.author`),
    seq,
    prev_epoch: prevEpoch,
    id: hex32(o['id'], `${where}.id`),
    created_at: time(o['created_at'], `${where}.created_at`),
    type,
    content,
    sig: signature(sig, where),
  };
  let canonical: string;
  try {
    canonical = canonicalJson(envelope);
  } catch (error) {
    // JSON.parse reads 1e400 as Infinity, which has no JSON form to sign.
    if (error instanceof JcsError) throw schema(`${where}.content holds a number too large for JSON`);
    throw error;
  }
  const size = Buffer.byteLength(canonical, 'utf8');
  if (size > MAX_ENVELOPE_BYTES) throw new GroupFormatError('too_large', `${where} is ${size} bytes in JCS, more than the ${MAX_ENVELOPE_BYTES} an envelope may take`);
  return envelope;
}

export function decodeGroupMessage(bytes: Uint8Array): GroupMessage {
  const o = closedObject(parseObject(bytes, MAX_GROUP_MESSAGE_BYTES, 'a group message'), ['v', 'envelope'], 'a group message', ['relay']);
  const envelope = readGroupEnvelope(o['envelope']);
  if (!Object.hasOwn(o, 'relay')) return { envelope, relay: null };
  const relay = boundedArray(o['relay'], MAX_GROUP_MEMBERS - 2, 'relay', 1).map((peer, i) => peerId(peer, `relay[${i}]`));
  if (new Set(relay).size !== relay.length) throw schema('relay names a peer twice');
  if (relay.includes(envelope.author)) throw schema('relay names the author');
  return { envelope, relay };
}

export function encodeGroupMessage(message: GroupMessage): Uint8Array {
  return encodeCheckedJson({ v: GROUP_PAYLOAD_VERSION, envelope: message.envelope, ...(message.relay === null ? {} : { relay: message.relay }) }, decodeGroupMessage, isGroupFormatError);
}

/** The envelope with the author's signature; throws INVALID_INPUT for one a receiver would refuse. */
export function signGroupEnvelope(unsigned: Omit<GroupEnvelope, 'sig'>, author: GroupSigner): GroupEnvelope {
  const envelope = { ...unsigned, sig: encodeBase64url(author.sign(groupSigningInput(unsigned))) };
  try {
    return readGroupEnvelope(JSON.parse(JSON.stringify(envelope)));
  } catch (error) {
    if (error instanceof GroupFormatError) throw new P2pError('INVALID_INPUT', error.message);
    throw error;
  }
}

/**
 * Why an envelope is refused against the statement of its epoch:
 *  - other_group / other_epoch: the statement is not the one it names;
 *  - author_not_member: its author is no member of that epoch;
 *  - bad_signature: not signed by the author's key, which is `authorKey`
 *    when this node holds one for the author (paired: fresher after a
 *    rotation), else the one the statement lists.
 */
export type EnvelopeRefusal = 'other_group' | 'other_epoch' | 'author_not_member' | 'bad_signature';

export function verifyGroupEnvelope(envelope: GroupEnvelope, statement: EpochStatement, authorKey: Uint8Array | null = null): EnvelopeRefusal | null {
  if (envelope.group !== statement.group) return 'other_group';
  if (envelope.epoch !== statement.epoch) return 'other_epoch';
  const listed = memberKey(statement, envelope.author);
  if (listed === null) return 'author_not_member';
  return isSignedBy(envelope, authorKey ?? listed) ? null : 'bad_signature';
}
