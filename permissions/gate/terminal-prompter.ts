import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { printable, printableJson } from '../terminal-text';
import {
  AnsweredElsewhere,
  CallAbandoned,
  NobodyToAskError,
  PERMISSION_ANSWERS,
  RISK_ANSWERS,
  SCOPE_ANSWERS,
  type AnswerChoice,
  type ApprovalContext,
  type PermissionAnswer,
  type Prompter,
  type RiskAnswer,
  type ScopeAnswer,
} from './types';

/**
 * Asks the person at the terminal. One question at a time, even when several
 * calls wait for an answer, so an answer can only be meant for the question
 * on screen; for the same reason a line typed while no question is open is
 * thrown away rather than kept for the next one. Anything but a listed answer
 * asks again. Once the input has ended nobody can answer: every question
 * then fails with NobodyToAskError, which refuses the call without
 * remembering a "deny" nobody gave. A question the host stops waiting for
 * (the dialog timed out) is taken down with a line saying so.
 */
export interface TerminalStreams {
  /** Where answers are read; default process.stdin. */
  input?: Readable;
  /** Where questions are written; default process.stderr, keeping stdout for the host's own output. */
  output?: Writable;
}

interface Question<A extends string> {
  /** What is being decided, already printable. */
  text: string;
  /** The line asking for the answer, ending in the choices. */
  prompt: string;
  /** Accepted answers, lower-case, each with what it means. */
  answers: Record<string, A>;
}

export class TerminalPrompter implements Prompter {
  private readonly lines: QuestionLines;
  private readonly output: Writable;
  private queue: Promise<unknown> = Promise.resolve();

  /** Starts reading the input at once, so that nothing typed before a question is on screen can answer it. */
  constructor(streams: TerminalStreams = {}) {
    this.lines = new QuestionLines(streams.input ?? process.stdin);
    this.output = streams.output ?? process.stderr;
  }

  approvePermission(context: ApprovalContext, signal: AbortSignal): Promise<PermissionAnswer> {
    return this.ask(signal, {
      text: describe(context, `Plugin '${printable(context.plugin)}' uses a permission that is not granted yet.`),
      ...offered(`Grant ${context.permission}?`, PERMISSION_ANSWERS),
    });
  }

  approveScope(context: ApprovalContext, signal: AbortSignal): Promise<ScopeAnswer> {
    const shown = context.scope === undefined ? 'this scope' : `${context.scope.key} = ${printableJson(context.scope.value)}`;
    return this.ask(signal, {
      text: describe(context, `Plugin '${printable(context.plugin)}' asks for a scope it has not been allowed yet.`),
      ...offered(`Allow ${shown}?`, SCOPE_ANSWERS),
    });
  }

  approveHighRisk(context: ApprovalContext, signal: AbortSignal): Promise<RiskAnswer> {
    const input = printableJson(context.input, 2).split('\n').map((line) => `    ${line}`);
    return this.ask(signal, {
      text: `${describe(context, `Plugin '${printable(context.plugin)}' makes a high-risk call, approved one call at a time.`)}  input:\n${input.join('\n')}\n`,
      ...offered('Run this call?', RISK_ANSWERS),
    });
  }

  /** Waits for the questions asked before this one, then asks until a listed answer, the end of the input or the abort. */
  private ask<A extends string>(signal: AbortSignal, question: Question<A>): Promise<A | 'deny'> {
    const asked = this.queue.then(() => this.askNow(signal, question));
    this.queue = asked.catch(() => undefined);
    return asked;
  }

  private async askNow<A extends string>(signal: AbortSignal, question: Question<A>): Promise<A | 'deny'> {
    // Timed out while waiting for its turn: never shown.
    if (signal.aborted) return 'deny';
    this.lines.open();
    const onAbort = (): void => this.lines.interrupt();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      this.output.write(`\n${question.text}${question.prompt}`);
      for (;;) {
        const line = await this.lines.next();
        if (signal.aborted) {
          const reason: unknown = signal.reason;
          this.output.write(
            reason instanceof AnsweredElsewhere
              ? `\n(answered on ${reason.where}: ${reason.answer})\n`
              : reason instanceof CallAbandoned
                ? '\n(the caller gave up on this call: nothing was done; nothing was remembered)\n'
                : '\n(no answer in time: this call was refused; nothing was remembered)\n',
          );
          return 'deny';
        }
        if (line === undefined) {
          this.output.write('\n(the input is closed: this question cannot be answered here; nothing is remembered)\n');
          throw new NobodyToAskError('the terminal\'s input is closed, so nobody can answer (run the host on a terminal, or answer dialogs with --policy)');
        }
        const reply = line.trim().toLowerCase();
        const answer = Object.hasOwn(question.answers, reply) ? question.answers[reply] : undefined;
        if (answer !== undefined) return answer;
        const keys = Object.keys(question.answers).filter((key) => key.length === 1);
        this.output.write(`Please answer ${keys.join(', ')}.\n${question.prompt}`);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.lines.close();
    }
  }
}

/** Lines from the input, kept only while a question is open. */
class QuestionLines {
  private buffered: string[] = [];
  private waiter: ((line: string | undefined) => void) | undefined;
  private listening = false;
  private ended = false;

  constructor(input: Readable) {
    const reader = createInterface({ input, crlfDelay: Infinity });
    reader.on('line', (line) => {
      if (!this.listening) return;
      const waiter = this.waiter;
      this.waiter = undefined;
      if (waiter === undefined) this.buffered.push(line);
      else waiter(line);
    });
    reader.on('close', () => {
      this.ended = true;
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter?.(undefined);
    });
  }

  open(): void {
    this.listening = true;
  }

  close(): void {
    this.listening = false;
    this.buffered = [];
  }

  /** Wakes the reader waiting in next() with no line. */
  interrupt(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(undefined);
  }

  /** The next line, or undefined once the input has ended or the wait was interrupted. */
  next(): Promise<string | undefined> {
    const line = this.buffered.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }
}

/** The prompt line and the replies it accepts: each answer's key, its name, and the name as words ("deny once"). */
function offered<A extends string>(question: string, choices: readonly AnswerChoice<A>[]): Pick<Question<A>, 'prompt' | 'answers'> {
  const answers: Record<string, A> = {};
  for (const { answer, key } of choices) {
    answers[key] = answer;
    answers[answer] = answer;
    answers[answer.replaceAll('_', ' ')] = answer;
  }
  return { prompt: `${question} ${choices.map((choice) => choice.offer).join(' / ')}: `, answers };
}

/** Everything a person needs to decide, one fact per line. */
function describe(context: ApprovalContext, headline: string): string {
  const lines = [
    headline,
    `  plugin      ${printable(context.plugin)}`,
    `  operation   ${printable(context.extension)} / ${printable(context.operation)}: ${printable(context.description)}`,
    `  permission  ${printable(context.permission)}`,
    `  risk        ${context.riskLevel}`,
  ];
  if (context.scope !== undefined) {
    const { key, value, description } = context.scope;
    lines.push(`  scope       ${printable(key)} = ${printableJson(value)}${description === '' ? '' : ` (${printable(description)})`}`);
  }
  lines.push(...context.details.map((detail) => `  ${printable(detail)}`));
  return `${lines.join('\n')}\n`;
}
