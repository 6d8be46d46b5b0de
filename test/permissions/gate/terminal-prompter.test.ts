import { PassThrough } from 'node:stream';
import t from 'tap';
import { TerminalPrompter } from '../../../permissions/gate/terminal-prompter';
import type { ApprovalContext } from '../../../permissions/gate/types';

const PEER = `${'b'.repeat(51)}a`;

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
  const answer = prompter.approvePermission(CONTEXT);
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
  const once = prompter.approvePermission(CONTEXT);
  await shown('[d]eny and revoke: ');
  input.write('  Once \n');
  t.equal(await once, 'once');
  const deny = prompter.approvePermission(CONTEXT);
  await shown('[d]eny and revoke: ', 2);
  input.write('DENY\r\n');
  t.equal(await deny, 'deny');
});

t.test('a scope prompt shows the scope and answers allow, once or deny', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const answer = prompter.approveScope(SCOPE_CONTEXT);
  await shown('[d]eny: ');
  input.write('o\n');
  t.equal(await answer, 'once');
  t.match(output(), `scope       peer = "${PEER}" (Peer this plugin may exchange messages with)`);
  t.match(output(), `Allow peer = "${PEER}"? [a]llow from now on / [o]nce for this call / [d]eny: `);
  const allow = prompter.approveScope(SCOPE_CONTEXT);
  await shown('[d]eny: ', 2);
  input.write('allow\n');
  t.equal(await allow, 'allow');
});

t.test('a high-risk prompt shows the full input', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const answer = prompter.approveHighRisk(RISK_CONTEXT);
  await shown('Run this call? [a]pprove / [d]eny: ');
  input.write('approve\n');
  t.equal(await answer, 'approve');
  t.match(output(), 'risk        high');
  t.match(output(), `  input:\n    {\n      "peer": "${PEER}",\n      "note": "first line\\nsecond"\n    }\n`);
});

t.test('anything else asks again', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const answer = prompter.approveHighRisk(RISK_CONTEXT);
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
  const answer = prompter.approvePermission(CONTEXT);
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
  const answer = prompter.approvePermission(CONTEXT);
  await shown('[d]eny and revoke: ');
  input.write('d\n');
  t.equal(await answer, 'deny');
});

t.test('the end of the input denies, now and later', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const answer = prompter.approvePermission(CONTEXT);
  await shown('[d]eny and revoke: ');
  input.end();
  t.equal(await answer, 'deny');
  t.match(output(), '(input closed: denied)');
  t.equal(await prompter.approveScope(SCOPE_CONTEXT), 'deny');
  t.equal(await prompter.approveHighRisk(RISK_CONTEXT), 'deny');
});

t.test('prompts are asked one at a time', async (t) => {
  const { prompter, input, output, shown } = terminal();
  const first = prompter.approvePermission(CONTEXT);
  const second = prompter.approveScope({ ...SCOPE_CONTEXT, plugin: 'agent-b' });
  await shown('[d]eny and revoke: ');
  t.notMatch(output(), 'agent-b', 'the second question waits for the first answer');
  input.write('o\n');
  t.equal(await first, 'once');
  await shown('[o]nce for this call / [d]eny: ');
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
  });
  await shown('[d]eny: ');
  input.write('d\n');
  t.equal(await answer, 'deny');
  t.match(output(), '"note": "\\u001b[2J\\u009b31m\\u202eevil"');
  t.match(output(), 'peer = "x\\u2066y" (d\\u0007)');
  t.notMatch(output(), /[\u0007\u001b\u009b\u202e\u2066]/);
});
