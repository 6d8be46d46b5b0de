import type { AnswerSignals } from './answer-signals';

/**
 * Follows the answers to one A2A request this node sent, in seq order:
 * reads what is recorded with `a2a_task {after}`, then waits for the next
 * event about the request, until the end marker, a failure, the caller
 * leaving, or the wait running out (FollowWait).
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
  /** The wait ran out first; the view says how far the request got. */
  | { kind: 'waited'; view: TaskView };

export type FollowWait =
  /** A blocking call: its answer is due `ms` after the call started, whatever was recorded meanwhile. */
  | { kind: 'deadline'; ms: number }
  /** A stream: `ms` without a new answer ends it, so a peer that keeps answering keeps it open. */
  | { kind: 'idle'; ms: number };

export interface FollowDeps {
  readTask(peer: string, requestId: string, after: number): Promise<TaskView>;
  signals: Pick<AnswerSignals, 'next'>;
  /**
   * Makes events arrive sooner for a short while (the event pump's hurry
   * window); returns the release. Taken when the call starts and again
   * after each answer, when the next one is likeliest to come soon.
   */
  hurry(): () => void;
  /** Milliseconds; Date.now unless a test moves time itself. */
  now?: () => number;
}

export async function* followAnswers(deps: FollowDeps, peer: string, requestId: string, wait: FollowWait, signal: AbortSignal): AsyncGenerator<FollowStep> {
  const now = deps.now ?? Date.now;
  let release = deps.hurry();
  let after = -1;
  let since = now();
  // Set when the wait ran out: one more read, since an answer may have come with no event heard (the events arrive with the next call).
  let lastLook = false;
  try {
    while (!signal.aborted) {
      const change = deps.signals.next(peer, requestId);
      try {
        const view = await deps.readTask(peer, requestId, after);
        for (const answer of view.answers) yield { kind: 'answer', answer };
        if (view.answers.length > 0) {
          release();
          release = deps.hurry();
          if (wait.kind === 'idle') {
            since = now();
            lastLook = false;
          }
        }
        after = view.next;
        if (view.ended) return;
        if (view.state === 'failed') {
          yield { kind: 'failed', view };
          return;
        }
        if (lastLook) {
          yield { kind: 'waited', view };
          return;
        }
        const remaining = since + wait.ms - now();
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
