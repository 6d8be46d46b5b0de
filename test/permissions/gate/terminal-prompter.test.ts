import { PassThrough } from 'node:stream';
import t from 'tap';
import { TerminalPrompter } from '../../../permissions/gate/terminal-prompter';
import { AnsweredElsewhere, CallAbandoned, type ApprovalContext } from '../../../permissions/gate/types';

const PEER = `${'b'.repeat(51)}a`;
/** A dialog nobody times out. */
const NEVER = new AbortController().signal;

const CONTEXT: ApprovalContext = {
  plugin: 'agent-a',
  extension: 'p2p-comm',
  operation: 'send',
  permission: 'ext:p2p-comm:send',
  description: 'Send a message to a paired peer.',
  riskLevel: 'medium',
  input: { peer: PEER, type: 'text', content: 'hello' },
  details: [`peer ${PEER} fingerprint 01:02:03`],
};

const SCOPE_CONTEXT: ApprovalContext = { ...CONTEXT, scope: { key: 'peer', value: PEER, description: 'Peer this plugin may exchange messages with' } };

const RISK_CONTEXT: ApprovalContext = {
  ...CONTEXT,
  operation: 'revoke',
  permission: 'ext:p2p-comm:revoke',
  description: 'Revoke a peer.',
  riskLevel: 'high',
  input: { peer: PEER, note: 'first line\nsecond' },
};

/** A prompter on PassThrough streams, and a way to wait until the output shows something. */
function terminal() {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  let waiters: { done: () => boolean; resolve: () => void }[] = [];
  output.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    waiters = waiters.filter((waiter) => {
      if (!waiter.done()) return true;
      waiter.resolve();
      return false;
    });
  });
  /** Resolves once `needle` has appeared `times` times in the output. */
  const shown = (needle: string, times = 1): Promise<void> =>
    new Promise((resolve) => {
      const done = (): boolean => text.split(needle).length - 1 >= times;
      if (done()) resolve();
      else waiters.push({ done, resolve });
    });
  return { prompter: new TerminalPrompter({ input, output }), input, output: () => text, shown };
}

t.test('a permission prompt shows what is decided and takes an answer', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const answer = prompter.approvePermission(CONTEXT, NEVER);
  await shown('[d]eny and revoke: ');
  input.write('a\n');
  t.equal(await answer, 'approve');
  const text = output();
  t.match(text, "Plugin 'agent-a' uses a permission that is not granted yet.");
  t.match(text, 'plugin      agent-a');
  t.match(text, 'operation   p2p-comm / send: Send a message to a paired peer.');
  t.match(text, 'permission  ext:p2p-comm:send');
  t.match(text, 'risk        medium');
  t.match(text, `peer ${PEER} fingerprint 01:02:03`);
  t.match(text, 'Grant ext:p2p-comm:send? [a]pprove from now on / [o]nce for this call / [d]eny and revoke: ');
  t.notMatch(text, 'hello', 'the input is shown for high-risk prompts only');
});

t.test('whole words and any case are accepted', async (t) => {
  const { prompter, input, shown } = terminal();
  const once = prompter.approvePermission(CONTEXT, NEVER);
  await shown('[d]eny and revoke: ');
  input.write('  Once \n');
  t.equal(await once, 'once');
  const deny = prompter.approvePermission(CONTEXT, NEVER);
  await shown('[d]eny and revoke: ', 2);
  input.write('DENY\r\n');
  t.equal(await deny, 'deny');
});

t.test('a scope prompt shows the scope and answers allow, once, deny or deny once', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const PROMPT = 'deny o[n]ce: ';
  const answer = prompter.approveScope(SCOPE_CONTEXT, NEVER);
  await shown(PROMPT);
  input.write('o\n');
  t.equal(await answer, 'once');
  t.match(output(), `scope       peer = "${PEER}" (Peer this plugin may exchange messages with)`);
  t.match(output(), `Allow peer = "${PEER}"? [a]llow from now on / [o]nce for this call / [d]eny from now on / deny o[n]ce: `);
  const replies: [string, string][] = [['allow', 'allow'], ['d', 'deny'], ['n', 'deny_once'], ['deny once', 'deny_once']];
  for (const [index, [reply, expected]] of replies.entries()) {
    const next = prompter.approveScope(SCOPE_CONTEXT, NEVER);
    await shown(PROMPT, index + 2);
    input.write(`${reply}\n`);
    t.equal(await next, expected, reply);
  }
});

t.test('a question the host stops waiting for is taken down and denies', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const timeout = new AbortController();
  const answer = prompter.approveScope(SCOPE_CONTEXT, timeout.signal);
  const queued = new AbortController();
  const waiting = prompter.approvePermission({ ...CONTEXT, plugin: 'agent-queued' }, queued.signal);
  await shown('deny o[n]ce: ');
  queued.abort();
  timeout.abort();
  t.equal(await answer, 'deny');
  t.equal(await waiting, 'deny', 'a question aborted before its turn denies');
  t.match(output(), '(no answer in time: this call was refused; nothing was remembered)');
  t.notMatch(output(), 'agent-queued', 'and is never shown');
  // The next question gets the next line, not a stale one.
  const next = prompter.approvePermission(CONTEXT, NEVER);
  await shown('[d]eny and revoke: ');
  input.write('a\n');
  t.equal(await next, 'approve');
});

t.test('a question answered elsewhere is taken down saying where and how', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const elsewhere = new AbortController();
  const answer = prompter.approvePermission(CONTEXT, elsewhere.signal);
  await shown('[d]eny and revoke: ');
  elsewhere.abort(new AnsweredElsewhere('the web page', 'approve'));
  t.equal(await answer, 'deny', 'the terminal\'s own answer is ignored by the caller');
  t.match(output(), '\n(answered on the web page: approve)\n');
  t.notMatch(output(), 'no answer in time', 'not reported as a timeout');
  // The line typed for the question taken down answers nothing that follows.
  input.write('d\n');
  const next = prompter.approvePermission(CONTEXT, NEVER);
  await shown('[d]eny and revoke: ', 2);
  input.write('o\n');
  t.equal(await next, 'once');
});

t.test('a question whose caller gave up is taken down saying so', async (t) => {
  const { prompter, output, shown } = terminal();
  const caller = new AbortController();
  const answer = prompter.approvePermission(CONTEXT, caller.signal);
  await shown('[d]eny and revoke: ');
  caller.abort(new CallAbandoned());
  t.equal(await answer, 'deny');
  t.match(output(), '\n(the caller gave up on this call: nothing was done; nothing was remembered)\n');
  t.notMatch(output(), 'no answer in time');
});

t.test('a question answered elsewhere while an unlisted line was being asked again is taken down too', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const elsewhere = new AbortController();
  const answer = prompter.approveHighRisk(RISK_CONTEXT, elsewhere.signal);
  await shown('Run this call? [a]pprove / [d]eny: ');
  input.write('maybe\n');
  await shown('Please answer a, d.');
  elsewhere.abort(new AnsweredElsewhere('the web page', 'deny'));
  t.equal(await answer, 'deny');
  t.match(output(), '(answered on the web page: deny)');
});

t.test('a high-risk prompt shows the full input', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const answer = prompter.approveHighRisk(RISK_CONTEXT, NEVER);
  await shown('Run this call? [a]pprove / [d]eny: ');
  input.write('approve\n');
  t.equal(await answer, 'approve');
  t.match(output(), 'risk        high');
  t.match(output(), `  input:\n    {\n      "peer": "${PEER}",\n      "note": "first line\\nsecond"\n    }\n`);
});

t.test('anything else asks again', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const answer = prompter.approveHighRisk(RISK_CONTEXT, NEVER);
  await shown('[d]eny: ');
  input.write('once\n');
  await shown('Please answer a, d.\nRun this call? [a]pprove / [d]eny: ');
  input.write('\n');
  await shown('Please answer a, d.', 2);
  input.write('d\n');
  t.equal(await answer, 'deny');
  t.equal(output().split('Run this call?').length - 1, 3);
});

t.test('several lines arriving together while a question is open are read in turn', async (t) => {
  const { prompter, input, shown } = terminal();
  const answer = prompter.approvePermission(CONTEXT, NEVER);
  await shown('[d]eny and revoke: ');
  input.write('maybe\nyes\no\n');
  t.equal(await answer, 'once');
  await shown('Please answer a, o, d.', 2);
});

t.test('a line typed while no question is open answers nothing', async (t) => {
  const { prompter, input, shown } = terminal();
  input.write('a\n');
  // Not a timed wait: one turn of the event loop lets the prompter read the line.
  await new Promise(setImmediate);
  const answer = prompter.approvePermission(CONTEXT, NEVER);
  await shown('[d]eny and revoke: ');
  input.write('d\n');
  t.equal(await answer, 'deny');
});

t.test('once the input has ended nobody can answer: every question fails, none is a deny', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const answer = prompter.approvePermission(CONTEXT, NEVER);
  await shown('[d]eny and revoke: ');
  input.end();
  await t.rejects(answer, { name: 'NobodyToAskError', message: /input is closed/ });
  t.match(output(), '(the input is closed: this question cannot be answered here; nothing is remembered)');
  await t.rejects(prompter.approveScope(SCOPE_CONTEXT, NEVER), { name: 'NobodyToAskError' });
  await t.rejects(prompter.approveHighRisk(RISK_CONTEXT, NEVER), { name: 'NobodyToAskError' });
});

t.test('prompts are asked one at a time', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const first = prompter.approvePermission(CONTEXT, NEVER);
  const second = prompter.approveScope({ ...SCOPE_CONTEXT, plugin: 'agent-b' }, NEVER);
  await shown('[d]eny and revoke: ');
  t.notMatch(output(), 'agent-b', 'the second question waits for the first answer');
  input.write('o\n');
  t.equal(await first, 'once');
  await shown('deny o[n]ce: ');
  t.match(output(), "Plugin 'agent-b' asks for a scope");
  input.write('d\n');
  t.equal(await second, 'deny');
  t.ok(output().indexOf('agent-b') > output().indexOf('Grant ext:p2p-comm:send?'), 'in the order asked');
});

t.test('control and text-direction characters from a plugin are shown escaped', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const answer = prompter.approveHighRisk({
    ...RISK_CONTEXT,
    input: { note: '\u001b[2J\u009b31m\u202eevil' },
    scope: { key: 'peer', value: 'x\u2066y', description: 'd\u0007' },
    details: ['name "Bob\u200b\u0085 9b:ce \u2028x"'],
  }, NEVER);
  await shown('[d]eny: ');
  input.write('d\n');
  t.equal(await answer, 'deny');
  t.match(output(), '"note": "\\u001b[2J\\u009b31m\\u202eevil"');
  t.match(output(), 'peer = "x\\u2066y" (d\\u{7})');
  t.match(output(), 'name "Bob\\u{200b}\\u{85} 9b:ce \\u{2028}x"');
  t.notMatch(output(), /[\u0007\u001b\u009b\u202e\u2066\u200b\u0085\u2028]/);
});
