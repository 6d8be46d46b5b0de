import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { A2aServing } from '../../../permissions/a2a/a2a-serving';
import type { GateVerdict, PluginDeclaration } from '../../../permissions/gate/types';
import { tempDir } from '../../helpers/extension';
import { eventually } from '../../helpers/node';

const PLANNER: PluginDeclaration = { id: 'planner', secret: 'planner-secret-0123456789', extensions: { 'p2p-comm': ['receive', 'a2a_set_card'] }, a2a: { url: 'http://127.0.0.1:41241/' } };

function serving(hostDir: string, declared: PluginDeclaration[], gate: (signal: AbortSignal | undefined) => Promise<GateVerdict>) {
  mkdirSync(join(hostDir, 'plugins'), { recursive: true });
  const executed: [string, unknown][] = [];
  const gated: (AbortSignal | undefined)[] = [];
  const instance = new A2aServing(
    {
      hostDir,
      declared,
      gate: {
        check: async (_plugin, _operation, _input, signal) => {
          gated.push(signal);
          return gate(signal);
        },
      },
      execute: async (operation, input) => {
        executed.push([operation, input]);
        return { result: { data: { peers: [] } } };
      },
      warn: () => undefined,
      onLoaded: () => undefined,
    },
    { declarationCheckMs: 5, fetch: async () => new Response(JSON.stringify({ name: 'Planner' }), { headers: { 'content-type': 'application/json' } }) },
  );
  return { instance, executed, gated };
}

t.test('stopping during the card dialog takes the dialog down instead of waiting for the person', async (t) => {
  // As the gate does: a dialog ends when its signal aborts, never otherwise.
  const { instance, gated } = serving(tempDir(t), [PLANNER], (signal) =>
    new Promise((resolve) => signal?.addEventListener('abort', () => resolve({ allowed: false, status: 403, error: 'Approval abandoned', details: null }))),
  );
  instance.start();
  await eventually(async () => gated.length === 1, 'the card dialog open');
  t.type(gated[0], AbortSignal, 'the dialog is given the stop signal');
  await instance.stop();
  t.equal(gated[0]?.aborted, true);
});

t.test('with no agent declared, a card an earlier run published is withdrawn at start', async (t) => {
  const { instance, executed } = serving(tempDir(t), [], async () => ({ allowed: true }));
  instance.start();
  await eventually(async () => executed.length === 1, 'the withdrawal');
  await instance.stop();
  t.same(executed, [['a2a_set_card', { card: null }]], 'sent without the gate: the host takes back what it published');
});
