import { AnsweredElsewhere, NobodyToAskError, type ApprovalContext, type PermissionAnswer, type Prompter, type RiskAnswer, type ScopeAnswer } from './types';

/** A prompter and where its answers come from, as a person would say it ("the terminal"). */
export interface NamedPrompter {
  where: string;
  prompter: Prompter;
}

/**
 * Asks the same question of several prompters at once (the terminal and the
 * web page): the first answer decides, and the others take their question
 * down, told where it was answered. A prompter that cannot ask anyone (its
 * input closed) leaves the question to the others; only when none can ask
 * does the question fail with NobodyToAskError.
 */
export class FirstAnswerPrompter implements Prompter {
  constructor(private readonly prompters: readonly NamedPrompter[]) {
    if (prompters.length === 0) throw new Error('FirstAnswerPrompter needs at least one prompter');
  }

  approvePermission(context: ApprovalContext, signal: AbortSignal): Promise<PermissionAnswer> {
    return this.race(signal, (prompter, own) => prompter.approvePermission(context, own));
  }

  approveScope(context: ApprovalContext, signal: AbortSignal): Promise<ScopeAnswer> {
    return this.race(signal, (prompter, own) => prompter.approveScope(context, own));
  }

  approveHighRisk(context: ApprovalContext, signal: AbortSignal): Promise<RiskAnswer> {
    return this.race(signal, (prompter, own) => prompter.approveHighRisk(context, own));
  }

  private race<A extends string>(signal: AbortSignal, ask: (prompter: Prompter, signal: AbortSignal) => Promise<A>): Promise<A> {
    const controllers = this.prompters.map(() => new AbortController());
    const abortAll = (reason: unknown, except?: AbortController): void => {
      for (const controller of controllers) if (controller !== except) controller.abort(reason);
    };
    const onAbort = (): void => abortAll(signal.reason);
    // A signal aborted already fires no event: the prompters are told now, before they ask.
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    return new Promise<A>((resolve, reject) => {
      let settled = false;
      let unable = 0;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        return true;
      };
      this.prompters.forEach(({ where, prompter }, index) => {
        const own = controllers[index] as AbortController;
        ask(prompter, own.signal).then(
          (answer) => {
            if (!settle()) return;
            abortAll(new AnsweredElsewhere(where, answer), own);
            resolve(answer);
          },
          (error: unknown) => {
            if (settled) return;
            if (error instanceof NobodyToAskError && ++unable < this.prompters.length) return;
            settle();
            abortAll(error, own);
            reject(error);
          },
        );
      });
    });
  }
}
