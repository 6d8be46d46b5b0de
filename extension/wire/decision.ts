import { codeName, isCode } from './code-names';

/**
 * The responder's verdict, its first message over the new session: either
 * the session stays open, or the one consent request was taken (or not) and
 * the connection ends. Body: result u8 | reason u8.
 */
export const MSG_DECISION = 0x10;

export const DecisionResult = {
  SESSION_OPEN: 1,
  REQUEST_STORED: 2,
  REFUSED: 3,
} as const;
export type DecisionResult = (typeof DecisionResult)[keyof typeof DecisionResult];

export const RefusalReason = {
  NONE: 0,
  /**
   * The responder does not trust the initiator (never paired, for one).
   * Not a revocation, which is REVOKED: the initiator keeps its own trust
   * and tries again later.
   */
  NOT_TRUSTED: 1,
  /** A consent request from the initiator is already waiting for the responder's user. */
  AWAITING_CONSENT: 2,
  /** The responder's user refused the initiator's request. */
  REJECTED: 3,
  /** Too many requests at the moment; try later. */
  BUSY: 4,
  /**
   * The responder's user revoked the pairing with the initiator. Sent only
   * to a peer that was paired and asks for a session; the initiator stops
   * reaching out. The decision travels sealed under the session key, so it
   * is as authentic as the handshake.
   */
  REVOKED: 5,
} as const;
export type RefusalReason = (typeof RefusalReason)[keyof typeof RefusalReason];

export interface Decision {
  result: DecisionResult;
  reason: RefusalReason;
}

export function encodeDecision(decision: Decision): Uint8Array {
  return Uint8Array.of(decision.result, decision.reason);
}

export function decodeDecision(body: Uint8Array): Decision | null {
  if (body.length !== 2) return null;
  const result = body[0] as number;
  const reason = body[1] as number;
  if (!isCode(DecisionResult, result) || !isCode(RefusalReason, reason)) return null;
  return { result, reason };
}

export function refusalName(reason: RefusalReason): string {
  return codeName(RefusalReason, reason);
}
