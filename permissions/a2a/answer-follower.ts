import type { AnswerSignals } from './answer-signals';

/**
 * Follows the answers to one A2A request this node sent, in seq order:
 * reads what is recorded with `a2a_task {after}`, then waits for the next
 * event about the request, until the end marker, a failure, the caller
 * leaving, or `idleMs` without a new answer.
 */

export interface RecordedAnswer {
  seq: number;
  kind: 'event' | 'result' | 'error' | 'end';
  body: unknown;
}

/** `a2a_task`'s output, the fields read here. */
export interface TaskView {
  /** The envelope's state while unanswered (`queued`, `delivered`...), then `answering`, `answered` or `failed`. */
  state: string;
  reason: string | null;
  task: { id: string } | null;
  answers: RecordedAnswer[];
  next: number;
  ended: boolean;
}

export type FollowStep =
  | { kind: 'answer'; answer: RecordedAnswer }
  | { kind: 'failed'; view: TaskView }
  /** `idleMs` passed without a new answer; the view says how far the request got. */
  | { kind: 'idle'; view: TaskView };

export interface FollowDeps {
  readTask(peer: string, requestId: string, after: number): Promise<TaskView>;
  signals: Pick<AnswerSignals, 'next'>;
  /** Makes events arrive sooner while the answers are awaited; returns the release. */
  hurry(): () => void;
}

export async function* followAnswers(deps: FollowDeps, peer: string, requestId: string, idleMs: number, signal: AbortSignal): AsyncGenerator<FollowStep> {
  const release = deps.hurry();
  let after = -1;
  let idleSince = Date.now();
  // Set when the wait ran out: one more read, since an answer may have come with no event heard (the events arrive with the next call).
  let lastLook = false;
  try {
    while (!signal.aborted) {
      const change = deps.signals.next(peer, requestId);
      try {
        const view = await deps.readTask(peer, requestId, after);
        for (const answer of view.answers) yield { kind: 'answer', answer };
        if (view.answers.length > 0) {
          idleSince = Date.now();
          lastLook = false;
        }
        after = view.next;
        if (view.ended) return;
        if (view.state === 'failed') {
          yield { kind: 'failed', view };
          return;
        }
        if (lastLook) {
          yield { kind: 'idle', view };
          return;
        }
        const remaining = idleSince + idleMs - Date.now();
        if (remaining <= 0 || !(await changedWithin(change.changed, remaining, signal))) lastLook = true;
      } finally {
        change.cancel();
      }
    }
  } finally {
    release();
  }
}

/** True when `changed` came first; false on the deadline or the caller leaving. */
async function changedWithin(changed: Promise<void>, ms: number, signal: AbortSignal): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([changed.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}
