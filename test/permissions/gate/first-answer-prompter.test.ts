import t from 'tap';
import { FirstAnswerPrompter } from '../../../permissions/gate/first-answer-prompter';
import { AnsweredElsewhere, NobodyToAskError, type ApprovalContext, type Prompter } from '../../../permissions/gate/types';
import { PagePrompter } from '../../../permissions/page/page-prompter';
import { sendContext } from '../../helpers/approval-context';

const CONTEXT = sendContext();

/** A prompter answered by the test; on abort it takes its question down with "deny", as the real ones do. */
class FakePrompter implements Prompter {
  readonly asked: { kind: string; context: ApprovalContext; signal: AbortSignal; answer(value: string): void; fail(error: unknown): void }[] = [];
  readonly abortReasons: unknown[] = [];

  approvePermission(context: ApprovalContext, signal: AbortSignal) {
    return this.ask('permission', context, signal) as Promise<'approve' | 'once' | 'deny'>;
  }

  approveScope(context: ApprovalContext, signal: AbortSignal) {
    return this.ask('scope', context, signal) as Promise<'allow' | 'once' | 'deny' | 'deny_once'>;
  }

  approveHighRisk(context: ApprovalContext, signal: AbortSignal) {
    return this.ask('risk', context, signal) as Promise<'approve' | 'deny'>;
  }

  private ask(kind: string, context: ApprovalContext, signal: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.abortReasons.push(signal.reason);
        resolve('deny');
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort);
      this.asked.push({ kind, context, signal, answer: resolve, fail: reject });
    });
  }
}

/** Cannot ask anybody: its input is closed. */
class ClosedPrompter implements Prompter {
  calls = 0;
  private fail(): Promise<never> {
    this.calls++;
    return Promise.reject(new NobodyToAskError('the terminal\'s input is closed'));
  }
  approvePermission() {
    return this.fail();
  }
  approveScope() {
    return this.fail();
  }
  approveHighRisk() {
    return this.fail();
  }
}

function pair() {
  const terminal = new FakePrompter();
  const page = new FakePrompter();
  const first = new FirstAnswerPrompter([
    { where: 'the terminal', prompter: terminal },
    { where: 'the web page', prompter: page },
  ]);
  return { terminal, page, first };
}

t.test('needs at least one prompter', async (t) => {
  t.throws(() => new FirstAnswerPrompter([]));
});

t.test('every prompter is asked the same question, each with its own signal', async (t) => {
  const { terminal, page, first } = pair();
  const context = { ...CONTEXT, scope: { key: 'peer', value: 'p', description: 'd' } };
  void first.approveScope(context, new AbortController().signal);
  t.equal(terminal.asked[0]?.kind, 'scope');
  t.equal(page.asked[0]?.kind, 'scope');
  t.equal(terminal.asked[0]?.context, context);
  t.equal(page.asked[0]?.context, context);
  t.not(terminal.asked[0]?.signal, page.asked[0]?.signal);
  page.asked[0]?.answer('once');
});

t.test('the first answer wins; the others are told where and what it was', async (t) => {
  const { terminal, page, first } = pair();
  const answer = first.approvePermission(CONTEXT, new AbortController().signal);
  page.asked[0]?.answer('approve');
  t.equal(await answer, 'approve');
  t.equal(page.asked[0]?.signal.aborted, false, 'the one that answered is not aborted');
  t.equal(terminal.asked[0]?.signal.aborted, true);
  const reason = terminal.abortReasons[0];
  t.type(reason, AnsweredElsewhere);
  t.match(reason, { where: 'the web page', answer: 'approve', message: 'answered on the web page: approve' });
  terminal.asked[0]?.answer('once');
  t.equal(await answer, 'approve', 'a late answer changes nothing');
});

t.test('the terminal may win too, for each kind of question', async (t) => {
  for (const [ask, given] of [
    ['approvePermission', 'once'],
    ['approveScope', 'deny_once'],
    ['approveHighRisk', 'deny'],
  ] as const) {
    const { terminal, page, first } = pair();
    const answer = first[ask](CONTEXT, new AbortController().signal);
    terminal.asked[0]?.answer(given);
    t.equal(await answer, given, ask);
    t.match(page.abortReasons[0], { where: 'the terminal', answer: given }, `${ask}: the page is told the terminal answered`);
  }
});

t.test('a prompter that cannot ask anyone leaves the question to the others', async (t) => {
  const closed = new ClosedPrompter();
  const page = new FakePrompter();
  const first = new FirstAnswerPrompter([
    { where: 'the terminal', prompter: closed },
    { where: 'the web page', prompter: page },
  ]);
  const answer = first.approveHighRisk(CONTEXT, new AbortController().signal);
  // The rejection is handled on a later turn; the page's question must still be open then.
  await Promise.resolve();
  await Promise.resolve();
  t.equal(page.asked[0]?.signal.aborted, false, 'the page keeps asking');
  page.asked[0]?.answer('approve');
  t.equal(await answer, 'approve');
  t.equal(closed.calls, 1);
});

t.test('when nobody can be asked anywhere the question fails with NobodyToAskError', async (t) => {
  const first = new FirstAnswerPrompter([
    { where: 'the terminal', prompter: new ClosedPrompter() },
    { where: 'another terminal', prompter: new ClosedPrompter() },
  ]);
  await t.rejects(first.approvePermission(CONTEXT, new AbortController().signal), NobodyToAskError);
});

t.test('any other failure fails the question and takes the others down with it', async (t) => {
  const { terminal, page, first } = pair();
  const answer = first.approvePermission(CONTEXT, new AbortController().signal);
  const broken = new Error('the page broke');
  page.asked[0]?.fail(broken);
  await t.rejects(answer, broken);
  t.equal(terminal.abortReasons[0], broken, 'the terminal takes its question down');
});

t.test('an outer abort aborts every prompter with its reason; the answer is deny', async (t) => {
  const { terminal, page, first } = pair();
  const outer = new AbortController();
  const answer = first.approvePermission(CONTEXT, outer.signal);
  const timedOut = new Error('no answer in time');
  outer.abort(timedOut);
  t.equal(await answer, 'deny');
  t.equal(terminal.abortReasons[0], timedOut);
  t.equal(page.abortReasons[0], timedOut);
  t.equal(terminal.abortReasons.length, 1, 'aborted once');
  t.equal(page.abortReasons.length, 1);
});

t.test('an outer signal aborted already asks nobody to wait', async (t) => {
  const { terminal, page, first } = pair();
  const outer = new AbortController();
  const timedOut = new Error('no answer in time');
  outer.abort(timedOut);
  t.equal(await first.approvePermission(CONTEXT, outer.signal), 'deny');
  for (const prompter of [terminal, page]) {
    t.ok(prompter.asked.every((asked) => asked.signal.aborted), 'each prompter sees an aborted signal');
    t.equal(prompter.abortReasons[0], timedOut, 'with the outer reason');
  }
});

t.test('after an answer the outer signal no longer reaches the prompters', async (t) => {
  const { terminal, page, first } = pair();
  const outer = new AbortController();
  const answer = first.approvePermission(CONTEXT, outer.signal);
  terminal.asked[0]?.answer('approve');
  t.equal(await answer, 'approve');
  outer.abort(new Error('late timeout'));
  t.equal(page.abortReasons.length, 1, 'the page was told once, by the answer');
  t.type(page.abortReasons[0], AnsweredElsewhere);
  t.equal(terminal.asked[0]?.signal.aborted, false);
});

t.test('with the real page prompter: an answer elsewhere takes the page\'s dialog down', async (t) => {
  let changes = 0;
  const page = new PagePrompter(() => changes++);
  const terminal = new FakePrompter();
  const first = new FirstAnswerPrompter([
    { where: 'the terminal', prompter: terminal },
    { where: 'the web page', prompter: page },
  ]);
  const answer = first.approvePermission(CONTEXT, new AbortController().signal);
  const dialog = page.list()[0];
  t.ok(dialog, 'the page shows the question');
  terminal.asked[0]?.answer('once');
  t.equal(await answer, 'once');
  t.same(page.list(), [], 'the page no longer shows it');
  t.equal(changes, 2);
  t.equal(page.answer(dialog?.id ?? '', 'approve'), 'not_open', 'a click on the stale dialog answers nothing');

  const second = first.approvePermission(CONTEXT, new AbortController().signal);
  t.equal(page.answer(page.list()[0]?.id ?? '', 'approve'), 'answered');
  t.equal(await second, 'approve');
  t.match(terminal.abortReasons[0], { where: 'the web page', answer: 'approve' });
});
