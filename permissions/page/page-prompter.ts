import { randomBytes } from 'node:crypto';
import {
  NobodyToAskError,
  PERMISSION_ANSWERS,
  RISK_ANSWERS,
  SCOPE_ANSWERS,
  type ApprovalContext,
  type PermissionAnswer,
  type Prompter,
  type RiskAnswer,
  type ScopeAnswer,
} from '../gate/types';

export type DialogKind = 'permission' | 'scope' | 'risk';

/** A question waiting on the web page. */
export interface OpenDialog {
  /** Random, so a form cannot answer a dialog it was not shown. */
  id: string;
  kind: DialogKind;
  context: ApprovalContext;
  answers: readonly { answer: string; meaning: string }[];
  /** Milliseconds since the epoch. */
  openedAt: number;
}

export type DialogAnswerOutcome = 'answered' | 'not_open' | 'not_an_answer';

export interface PagePrompterOptions {
  /**
   * Whether anyone is logged in to the page. While nobody is, the page
   * cannot ask (NobodyToAskError): with the terminal closed too, a call is
   * refused at once with a way to log in, instead of waiting out the
   * dialog timeout for a page nobody has open.
   */
  loggedIn?: () => boolean;
  now?: () => number;
}

/**
 * Holds the gate's questions for the web page: each stays open until the
 * page answers it or the gate stops waiting (the dialog timed out, or the
 * terminal answered first). `onChange` is told whenever the set of open
 * questions changes, so open pages can show it.
 */
export class PagePrompter implements Prompter {
  private readonly open = new Map<string, { dialog: OpenDialog; answer(value: string): void }>();
  private readonly loggedIn: () => boolean;
  private readonly now: () => number;

  constructor(
    private readonly onChange: () => void,
    options: PagePrompterOptions = {},
  ) {
    this.loggedIn = options.loggedIn ?? (() => true);
    this.now = options.now ?? Date.now;
  }

  approvePermission(context: ApprovalContext, signal: AbortSignal): Promise<PermissionAnswer> {
    return this.ask('permission', context, PERMISSION_ANSWERS, signal);
  }

  approveScope(context: ApprovalContext, signal: AbortSignal): Promise<ScopeAnswer> {
    return this.ask('scope', context, SCOPE_ANSWERS, signal);
  }

  approveHighRisk(context: ApprovalContext, signal: AbortSignal): Promise<RiskAnswer> {
    return this.ask('risk', context, RISK_ANSWERS, signal);
  }

  /** The open questions, oldest first. */
  list(): OpenDialog[] {
    return [...this.open.values()].map(({ dialog }) => dialog);
  }

  answer(id: string, value: string): DialogAnswerOutcome {
    const entry = this.open.get(id);
    if (entry === undefined) return 'not_open';
    if (!entry.dialog.answers.some(({ answer }) => answer === value)) return 'not_an_answer';
    entry.answer(value);
    return 'answered';
  }

  private ask<A extends string>(kind: DialogKind, context: ApprovalContext, answers: readonly { answer: A; meaning: string }[], signal: AbortSignal): Promise<A | 'deny'> {
    // Timed out before it could be shown.
    if (signal.aborted) return Promise.resolve('deny');
    if (!this.loggedIn()) {
      return Promise.reject(new NobodyToAskError('nobody is logged in to the web page: open a login link (p2p-comm-host page prints one), or answer dialogs with --policy'));
    }
    const id = randomBytes(16).toString('hex');
    return new Promise((resolve) => {
      const close = (value: A | 'deny'): void => {
        signal.removeEventListener('abort', onAbort);
        this.open.delete(id);
        this.onChange();
        resolve(value);
      };
      // The answer given elsewhere, or none in time: the gate ignores this one.
      const onAbort = (): void => close('deny');
      signal.addEventListener('abort', onAbort, { once: true });
      this.open.set(id, { dialog: { id, kind, context, answers, openedAt: this.now() }, answer: (value) => close(value as A) });
      this.onChange();
    });
  }
}
