import { join } from 'node:path';
import { P2pError } from '../common/errors';
import { DEFAULT_COMPACTION_MIN_BYTES, Journal } from '../store/journal';
import type { RewriteEntry } from '../store/record-log';
import { type A2aAnswer, type A2aMethod, type A2aRequestPayload, decodeRequestPayload, decodeResponsePayload, endsAnswers } from '../wire/a2a-payload';

/**
 * The A2A exchanges of this node, both ways, durable across restarts: the
 * requests it sent (calling) with the answers that came back, and the
 * requests peers sent it (serving) with the answers its agent gave. The
 * messages themselves travel through the outbox and the inbox; this store
 * keeps what the A2A operations show once the inbox has handed them over.
 *
 * An exchange is named by its direction, its peer and its request id (the
 * id of the envelope that carried the request: picked by the calling node,
 * so unique per calling peer). The client's A2A `messageId` is only an
 * index: two requests reusing one are two exchanges.
 *
 * File `<data_dir>/a2a.log` (record-log.ts framing), one UTF-8 JSON object
 * per record:
 *
 *   {"k":"open","dir","peer","id","at","cursor","request":{method,params,service,expiresAt},"digest"}
 *   {"k":"answer","dir","peer","id","seq","answer":{kind,…},"at"}
 *   {"k":"claim","peer","id"}                 (serving: the agent took it)
 *   {"k":"fail","peer","id","reason"}         (calling: it will get no answer)
 *   {"k":"forget","dir","peer","id"}          (retention)
 *
 * Everything is held in memory too: exchanges are bounded per peer
 * (ExchangeLimits), and an answer is at most one message.
 */
export type ExchangeDirection = 'calling' | 'serving';

/** Why a calling exchange ends without an answer. */
export type FailureReason = 'refused_by_peer' | 'expired' | 'revoked' | 'not_paired';

export interface StoredAnswer {
  seq: number;
  answer: A2aAnswer;
  receivedAt: Date;
  /** The answer's JSON: what tells a repeat from a conflicting answer. */
  text: string;
}

export interface Exchange {
  direction: ExchangeDirection;
  peerId: string;
  requestId: string;
  /** A number per exchange, increasing: serving order, and `a2a_serve`'s cursor. */
  cursor: number;
  request: A2aRequestPayload;
  /** SHA-256 of the JCS of the request's params: what a re-sent message must match to re-attach. Calling only; "" when serving. */
  paramsDigest: string;
  openedAt: Date;
  answers: Map<number, StoredAnswer>;
  claimed: boolean;
  failure: FailureReason | null;
}

export interface ExchangeLimits {
  /** Exchanges of one peer not ended, per direction. */
  maxOpenPerPeer: number;
  /** How long an ended exchange is kept. */
  retentionMs: number;
  /** Largest record: an answer of the largest message. */
  maxRecordBytes: number;
  /** Size below which a2a.log is never compacted (see store/journal.ts). */
  compactionMinBytes: number;
}

export const DEFAULT_EXCHANGE_LIMITS: ExchangeLimits = {
  maxOpenPerPeer: 256,
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  maxRecordBytes: 1024 * 1024 + 4096,
  compactionMinBytes: DEFAULT_COMPACTION_MIN_BYTES,
};

export const EXCHANGES_FILE_NAME = 'a2a.log';

/** What recording an answer did. */
export type AnswerOutcome = 'added' | 'repeat' | 'conflict' | 'after_end' | 'unknown_request';

type ExchangeRecord =
  | { k: 'open'; dir: ExchangeDirection; peer: string; id: string; at: number; cursor: number; request: A2aRequestPayload; digest: string }
  | { k: 'answer'; dir: ExchangeDirection; peer: string; id: string; seq: number; answer: A2aAnswer; at: number }
  | { k: 'claim'; peer: string; id: string }
  | { k: 'fail'; peer: string; id: string; reason: FailureReason }
  | { k: 'forget'; dir: ExchangeDirection; peer: string; id: string };

export class ExchangeStore {
  private readonly exchanges = new Map<string, Exchange>();
  private lastCursor = 0;
  /** Bytes of the records a compacted file would hold: what decides when to compact. */
  private liveBytes = 0;
  /** Per exchange, the bytes of its records in the file: dead, and taken from liveBytes, once it is forgotten. */
  private readonly recordBytes = new Map<string, number>();
  private readonly journal: Journal;

  private constructor(
    dataDir: string,
    private readonly limits: ExchangeLimits,
    private readonly now: () => number,
  ) {
    this.journal = Journal.open(
      join(dataDir, EXCHANGES_FILE_NAME),
      { name: 'A2A exchange log', costOfMovingAway: 'the A2A requests in flight and their answers are then lost', maxRecordBytes: limits.maxRecordBytes, compactionMinBytes: limits.compactionMinBytes },
      decodeRecord,
      (record, place) => {
        this.apply(record);
        this.account(record, place.length);
      },
    );
  }

  static open(dataDir: string, limits: Partial<ExchangeLimits> = {}, now: () => number = Date.now): ExchangeStore {
    return new ExchangeStore(dataDir, { ...DEFAULT_EXCHANGE_LIMITS, ...limits }, now);
  }

  get maxOpenPerPeer(): number {
    return this.limits.maxOpenPerPeer;
  }

  get(direction: ExchangeDirection, peerId: string, requestId: string): Exchange | undefined {
    return this.exchanges.get(keyOf(direction, peerId, requestId));
  }

  /** The exchanges of one direction and peer, in cursor order. */
  list(direction: ExchangeDirection, peerId: string): Exchange[] {
    return [...this.exchanges.values()].filter((exchange) => exchange.direction === direction && exchange.peerId === peerId).sort((a, b) => a.cursor - b.cursor);
  }

  /**
   * A calling exchange a message re-sent should re-attach to: the same
   * method, client messageId and params, still kept. Same messageId with
   * other params is another request.
   */
  findResend(peerId: string, method: A2aMethod, messageId: string, paramsDigest: string): Exchange | undefined {
    return this.list('calling', peerId)
      .reverse()
      .find((exchange) => exchange.request.method === method && exchange.paramsDigest === paramsDigest && messageIdOf(exchange) === messageId);
  }

  /** The newest exchange whose answers name this task. */
  findByTask(direction: ExchangeDirection, peerId: string, taskId: string): Exchange | undefined {
    return this.list(direction, peerId)
      .reverse()
      .find((exchange) => [...exchange.answers.values()].some((stored) => taskIdOf(stored.answer) === taskId) || exchange.request.params['id'] === taskId);
  }

  /** Exchanges of this peer and direction not ended yet. */
  openCount(direction: ExchangeDirection, peerId: string): number {
    return this.list(direction, peerId).filter((exchange) => !isEnded(exchange)).length;
  }

  async open(direction: ExchangeDirection, peerId: string, requestId: string, request: A2aRequestPayload, paramsDigest: string): Promise<Exchange> {
    const existing = this.get(direction, peerId, requestId);
    if (existing !== undefined) return existing;
    if (this.openCount(direction, peerId) >= this.limits.maxOpenPerPeer) {
      throw new P2pError(
        'LIMIT_REACHED',
        `${this.limits.maxOpenPerPeer} A2A requests ${direction === 'calling' ? 'to' : 'from'} ${peerId} are still open, the most kept per peer; ` +
          'wait for their answers (a2a_task) or for them to expire',
      );
    }
    await this.forgetOld();
    return this.commit({ k: 'open', dir: direction, peer: peerId, id: requestId, at: this.now(), cursor: this.lastCursor + 1, request, digest: paramsDigest }, () => this.get(direction, peerId, requestId) as Exchange);
  }

  /** Records one answer; a repeat of a recorded answer changes nothing, another answer under its seq is a conflict. */
  async addAnswer(direction: ExchangeDirection, peerId: string, requestId: string, seq: number, answer: A2aAnswer): Promise<AnswerOutcome> {
    const verdict = this.verdictOn(direction, peerId, requestId, seq, answer);
    if (verdict !== 'added') return verdict;
    await this.commit({ k: 'answer', dir: direction, peer: peerId, id: requestId, seq, answer, at: this.now() }, () => undefined);
    return 'added';
  }

  /** What addAnswer would do with this answer, without doing it. */
  verdictOn(direction: ExchangeDirection, peerId: string, requestId: string, seq: number, answer: A2aAnswer): AnswerOutcome {
    const exchange = this.get(direction, peerId, requestId);
    if (exchange === undefined) return 'unknown_request';
    const known = exchange.answers.get(seq);
    if (known !== undefined) return known.text === JSON.stringify(answer) ? 'repeat' : 'conflict';
    const end = endSeq(exchange);
    if (end !== null && seq > end) return 'after_end';
    if (endsAnswers(answer) && [...exchange.answers.keys()].some((other) => other > seq)) return 'conflict';
    return 'added';
  }

  async claim(peerId: string, requestId: string): Promise<void> {
    const exchange = this.get('serving', peerId, requestId);
    if (exchange === undefined || exchange.claimed) return;
    await this.commit({ k: 'claim', peer: peerId, id: requestId }, () => undefined);
  }

  async fail(peerId: string, requestId: string, reason: FailureReason): Promise<void> {
    const exchange = this.get('calling', peerId, requestId);
    if (exchange === undefined || isEnded(exchange)) return;
    await this.commit({ k: 'fail', peer: peerId, id: requestId, reason }, () => undefined);
  }

  close(): Promise<void> {
    return this.journal.close();
  }

  /**
   * Forgotten before each new exchange: an ended one past the retention,
   * and one whose request expired longer than the retention ago, ended or
   * not (a peer that went away, an agent that never answered), so that
   * nothing stays for ever.
   */
  private async forgetOld(): Promise<void> {
    const cutoff = this.now() - this.limits.retentionMs;
    for (const exchange of [...this.exchanges.values()]) {
      if ((isEnded(exchange) && lastActivity(exchange) < cutoff) || exchange.request.expiresAt < cutoff) {
        await this.commit({ k: 'forget', dir: exchange.direction, peer: exchange.peerId, id: exchange.requestId }, () => undefined);
      }
    }
  }

  private async commit<T>(record: ExchangeRecord, result: () => T): Promise<T> {
    const compaction = this.journal.compactIfDue(this.liveBytes, () => this.snapshot());
    if (compaction !== undefined) await compaction;
    const body = Buffer.from(JSON.stringify(record), 'utf8');
    return this.journal.commit(body, () => {
      this.apply(record);
      this.account(record, body.length);
      return result();
    });
  }

  /** A forget record and the records of the exchange it forgets are dead: a compaction drops them. */
  private account(record: ExchangeRecord, length: number): void {
    const key = recordKeyOf(record);
    if (record.k === 'forget') {
      this.liveBytes -= this.recordBytes.get(key) ?? 0;
      this.recordBytes.delete(key);
      return;
    }
    this.recordBytes.set(key, (this.recordBytes.get(key) ?? 0) + length);
    this.liveBytes += length;
  }

  /** Every live exchange as the records that rebuild it. */
  private snapshot(): RewriteEntry[] {
    const entries: Uint8Array[] = [];
    this.recordBytes.clear();
    this.liveBytes = 0;
    for (const exchange of this.exchanges.values()) {
      for (const record of recordsOf(exchange)) {
        const entry = Buffer.from(JSON.stringify(record), 'utf8');
        entries.push(entry);
        this.account(record, entry.length);
      }
    }
    return entries;
  }

  private apply(record: ExchangeRecord): void {
    switch (record.k) {
      case 'open':
        this.exchanges.set(keyOf(record.dir, record.peer, record.id), {
          direction: record.dir,
          peerId: record.peer,
          requestId: record.id,
          cursor: record.cursor,
          request: record.request,
          paramsDigest: record.digest,
          openedAt: new Date(record.at),
          answers: new Map(),
          claimed: false,
          failure: null,
        });
        this.lastCursor = Math.max(this.lastCursor, record.cursor);
        break;
      case 'answer':
        this.get(record.dir, record.peer, record.id)?.answers.set(record.seq, { seq: record.seq, answer: record.answer, receivedAt: new Date(record.at), text: JSON.stringify(record.answer) });
        break;
      case 'claim': {
        const exchange = this.get('serving', record.peer, record.id);
        if (exchange !== undefined) exchange.claimed = true;
        break;
      }
      case 'fail': {
        const exchange = this.get('calling', record.peer, record.id);
        if (exchange !== undefined) exchange.failure = record.reason;
        break;
      }
      case 'forget':
        this.exchanges.delete(keyOf(record.dir, record.peer, record.id));
        break;
    }
  }
}

/** The answers from seq 0 without a gap: what may be shown, in order. */
export function contiguousAnswers(exchange: Exchange): StoredAnswer[] {
  const answers: StoredAnswer[] = [];
  for (let seq = 0; exchange.answers.has(seq); seq += 1) answers.push(exchange.answers.get(seq) as StoredAnswer);
  return answers;
}

/** Whether every answer has arrived (the end and all before it), or the exchange failed. */
export function isEnded(exchange: Exchange): boolean {
  if (exchange.failure !== null) return true;
  const answers = contiguousAnswers(exchange);
  const last = answers[answers.length - 1];
  return last !== undefined && endsAnswers(last.answer);
}

/** The client's messageId of a sent message, or null. */
export function messageIdOf(exchange: Exchange): string | null {
  const message = exchange.request.params['message'];
  if (typeof message !== 'object' || message === null) return null;
  const id = (message as Record<string, unknown>)['messageId'];
  return typeof id === 'string' ? id : null;
}

/** The task an answer is about, if it names one. */
export function taskIdOf(answer: A2aAnswer): string | null {
  const body = answer.kind === 'event' ? answer.event : answer.kind === 'result' ? answer.result : null;
  if (body === null) return null;
  const task = body['task'] ?? (typeof body['id'] === 'string' && typeof body['status'] === 'object' ? body : undefined);
  if (isObject(task) && typeof task['id'] === 'string') return task['id'];
  for (const update of [body['statusUpdate'], body['artifactUpdate']]) if (isObject(update) && typeof update['taskId'] === 'string') return update['taskId'];
  return null;
}

/** The newest snapshot of the task the answers carry (a Task, or a status update of one): id, context, state, time. */
export interface TaskSnapshot {
  id: string;
  context_id: string | null;
  state: string | null;
  updated_at: string;
}

export function taskSnapshotOf(exchange: Exchange): TaskSnapshot | null {
  let snapshot = null as TaskSnapshot | null;
  for (const stored of contiguousAnswers(exchange)) {
    const body = stored.answer.kind === 'event' ? stored.answer.event : stored.answer.kind === 'result' ? stored.answer.result : null;
    if (body === null) continue;
    const task = isObject(body['task']) ? body['task'] : typeof body['id'] === 'string' && isObject(body['status']) ? body : null;
    const update = isObject(body['statusUpdate']) ? body['statusUpdate'] : null;
    const source = task ?? update;
    if (source === null) continue;
    const id = task !== null ? task['id'] : source['taskId'];
    const status = source['status'];
    if (typeof id !== 'string') continue;
    snapshot = {
      id,
      context_id: typeof source['contextId'] === 'string' ? source['contextId'] : (snapshot?.context_id ?? null),
      state: isObject(status) && typeof status['state'] === 'string' ? status['state'] : (snapshot?.state ?? null),
      updated_at: stored.receivedAt.toISOString(),
    };
  }
  return snapshot;
}

function endSeq(exchange: Exchange): number | null {
  for (const stored of exchange.answers.values()) if (endsAnswers(stored.answer)) return stored.seq;
  return null;
}

function lastActivity(exchange: Exchange): number {
  let last = exchange.openedAt.getTime();
  for (const stored of exchange.answers.values()) last = Math.max(last, stored.receivedAt.getTime());
  return last;
}

function recordsOf(exchange: Exchange): ExchangeRecord[] {
  const { direction: dir, peerId: peer, requestId: id } = exchange;
  const records: ExchangeRecord[] = [{ k: 'open', dir, peer, id, at: exchange.openedAt.getTime(), cursor: exchange.cursor, request: exchange.request, digest: exchange.paramsDigest }];
  if (exchange.claimed) records.push({ k: 'claim', peer, id });
  if (exchange.failure !== null) records.push({ k: 'fail', peer, id, reason: exchange.failure });
  for (const stored of exchange.answers.values()) records.push({ k: 'answer', dir, peer, id, seq: stored.seq, answer: stored.answer, at: stored.receivedAt.getTime() });
  return records;
}

function keyOf(direction: ExchangeDirection, peerId: string, requestId: string): string {
  return `${direction} ${peerId} ${requestId}`;
}

/** The exchange a record belongs to: claims are the serving side's, failures the calling side's. */
function recordKeyOf(record: ExchangeRecord): string {
  if (record.k === 'claim') return keyOf('serving', record.peer, record.id);
  if (record.k === 'fail') return keyOf('calling', record.peer, record.id);
  return keyOf(record.dir, record.peer, record.id);
}

/**
 * Strict: the request and answers are re-checked with the wire rules, so
 * what the file holds is what a peer could have sent, whatever changed it.
 */
function decodeRecord(body: Uint8Array): ExchangeRecord {
  const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  if (!isObject(value)) throw new Error('it is not a JSON object');
  const { k, peer, id } = value;
  if (typeof peer !== 'string' || !PEER_ID.test(peer) || typeof id !== 'string' || !REQUEST_ID.test(id)) throw new Error('it names no exchange');
  const dir = value['dir'];
  const isDirection = dir === 'calling' || dir === 'serving';
  if (k === 'open' && isDirection && isTime(value['at']) && isTime(value['cursor']) && typeof value['digest'] === 'string' && isObject(value['request'])) {
    const { method, params, service, expiresAt } = value['request'];
    const request = decodeRequestPayload(Buffer.from(JSON.stringify({ v: 1, method, params, service, expires_at: expiresAt }), 'utf8'));
    return { k, dir, peer, id, at: value['at'], cursor: value['cursor'], request, digest: value['digest'] };
  }
  if (k === 'answer' && isDirection && isTime(value['at']) && isObject(value['answer'])) {
    const { seq, answer } = value;
    const decoded = decodeResponsePayload(Buffer.from(JSON.stringify({ ...wireFormOf(answer), v: 1, seq }), 'utf8'));
    const { seq: checkedSeq, ...checked } = decoded;
    return { k, dir, peer, id, seq: checkedSeq, answer: checked, at: value['at'] };
  }
  if (k === 'claim') return { k, peer, id };
  if (k === 'fail' && (FAILURE_REASONS as readonly unknown[]).includes(value['reason'])) return { k, peer, id, reason: value['reason'] as FailureReason };
  if (k === 'forget' && isDirection) return { k, dir, peer, id };
  throw new Error('it is not an exchange record');
}

const PEER_ID = /^[a-z2-7]{51}[aq]$/;
const REQUEST_ID = /^[0-9a-f]{32}$/;
const FAILURE_REASONS: readonly FailureReason[] = ['refused_by_peer', 'expired', 'revoked', 'not_paired'];

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** An answer as recorded ({kind, …}) in the members of its payload, for the payload's checks. */
function wireFormOf(answer: Record<string, unknown>): Record<string, unknown> {
  const { kind, ...rest } = answer;
  if (kind === 'event') return { event: rest['event'] };
  if (kind === 'result') return { result: rest['result'], end: true };
  if (kind === 'error') return { error: rest['error'], end: true };
  if (kind === 'end') return { end: true };
  throw new Error('its answer is of no known kind');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
