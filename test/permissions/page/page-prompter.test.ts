import t from 'tap';
import { PERMISSION_ANSWERS, RISK_ANSWERS, SCOPE_ANSWERS } from '../../../permissions/gate/types';
import { PagePrompter } from '../../../permissions/page/page-prompter';
import { sendContext } from '../../helpers/approval-context';

const CONTEXT = sendContext({ input: { peer: 'p', type: 'text', content: 'hi' }, details: ['peer p'] });

function prompter(): { prompter: PagePrompter; changes: () => number; advance(ms: number): void } {
  let changes = 0;
  let now = 1_000;
  return {
    prompter: new PagePrompter(() => changes++, { now: () => now }),
    changes: () => changes,
    advance: (ms) => (now += ms),
  };
}

t.test('a dialog is listed with its answers until it is answered', async (t) => {
  const { prompter: page, changes } = prompter();
  const answer = page.approvePermission(CONTEXT, new AbortController().signal);
  t.equal(changes(), 1, 'the page is told a dialog opened');
  const [dialog, ...others] = page.list();
  t.equal(others.length, 0);
  t.match(dialog, { kind: 'permission', context: CONTEXT, openedAt: 1_000 });
  t.match(dialog?.id, /^[0-9a-f]{32}$/, 'a random id');
  t.same(dialog?.answers, PERMISSION_ANSWERS);
  t.equal(page.answer(dialog?.id ?? '', 'once'), 'answered');
  t.equal(await answer, 'once');
  t.same(page.list(), [], 'gone once answered');
  t.equal(changes(), 2, 'the page is told it closed');
  t.equal(page.answer(dialog?.id ?? '', 'approve'), 'not_open', 'a second answer to it is too late');
});

t.test('each kind offers its own answers', async (t) => {
  const { prompter: page } = prompter();
  const signal = new AbortController().signal;
  const scope = page.approveScope({ ...CONTEXT, scope: { key: 'peer', value: 'p', description: 'd' } }, signal);
  const risk = page.approveHighRisk({ ...CONTEXT, riskLevel: 'high' }, signal);
  const [scopeDialog, riskDialog] = page.list();
  t.equal(scopeDialog?.kind, 'scope');
  t.same(scopeDialog?.answers, SCOPE_ANSWERS);
  t.equal(riskDialog?.kind, 'risk', 'listed oldest first');
  t.same(riskDialog?.answers, RISK_ANSWERS);
  t.not(scopeDialog?.id, riskDialog?.id);
  t.equal(page.answer(riskDialog?.id ?? '', 'allow'), 'not_an_answer', 'a scope answer does not answer a risk dialog');
  t.equal(page.answer(scopeDialog?.id ?? '', 'deny_once'), 'answered');
  t.equal(page.answer(riskDialog?.id ?? '', 'approve'), 'answered');
  t.equal(await scope, 'deny_once');
  t.equal(await risk, 'approve');
});

t.test('an id that is not open is not_open, and nothing is answered', async (t) => {
  const { prompter: page, changes } = prompter();
  const answer = page.approvePermission(CONTEXT, new AbortController().signal);
  for (const id of ['', 'f'.repeat(32), 'constructor', '__proto__']) t.equal(page.answer(id, 'approve'), 'not_open', JSON.stringify(id));
  t.equal(page.list().length, 1, 'the dialog is still open');
  t.equal(changes(), 1);
  page.answer(page.list()[0]?.id ?? '', 'deny');
  t.equal(await answer, 'deny');
});

t.test('an answer not offered is not_an_answer, and the dialog stays open', async (t) => {
  const { prompter: page, changes } = prompter();
  let settled = false;
  const answer = page.approvePermission(CONTEXT, new AbortController().signal).finally(() => (settled = true));
  const id = page.list()[0]?.id ?? '';
  for (const value of ['', 'allow', 'APPROVE', 'deny_once', 'approve ']) t.equal(page.answer(id, value), 'not_an_answer', JSON.stringify(value));
  await Promise.resolve();
  t.notOk(settled, 'no answer given');
  t.equal(page.list()[0]?.id, id, 'still listed');
  t.equal(changes(), 1, 'nothing closed');
  t.equal(page.answer(id, 'approve'), 'answered');
  t.equal(await answer, 'approve');
});

t.test('an abort takes the dialog down and resolves deny', async (t) => {
  const { prompter: page, changes } = prompter();
  const controller = new AbortController();
  const other = page.approvePermission(CONTEXT, new AbortController().signal);
  const answer = page.approvePermission(CONTEXT, controller.signal);
  const [kept, aborted] = page.list();
  controller.abort(new Error('timed out'));
  t.equal(await answer, 'deny');
  t.same(
    page.list().map((dialog) => dialog.id),
    [kept?.id],
    'only the aborted one is gone',
  );
  t.equal(changes(), 3, 'two opened, one closed');
  t.equal(page.answer(aborted?.id ?? '', 'approve'), 'not_open', 'an answer after the abort is too late');
  page.answer(kept?.id ?? '', 'approve');
  t.equal(await other, 'approve');
  t.equal(changes(), 4);
});

t.test('an answer after which the signal aborts changes nothing', async (t) => {
  const { prompter: page, changes } = prompter();
  const controller = new AbortController();
  const answer = page.approvePermission(CONTEXT, controller.signal);
  page.answer(page.list()[0]?.id ?? '', 'approve');
  controller.abort();
  t.equal(await answer, 'approve');
  t.equal(changes(), 2, 'closed once');
});

t.test('a dialog whose signal is already aborted is never shown', async (t) => {
  const { prompter: page, changes } = prompter();
  const controller = new AbortController();
  controller.abort();
  t.equal(await page.approveScope(CONTEXT, controller.signal), 'deny');
  t.same(page.list(), []);
  t.equal(changes(), 0);
});
