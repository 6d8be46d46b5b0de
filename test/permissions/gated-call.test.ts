import t from 'tap';
import type { GateVerdict } from '../../permissions/gate/types';
import { gatedCall, type GatedCallDeps } from '../../permissions/http/gated-call';

function deps(verdict: GatedCallDeps['gate']['check'], executed: string[]): GatedCallDeps {
  return {
    gate: { check: verdict },
    execute: async (operation) => {
      executed.push(operation);
      if (operation === 'down') throw new Error('extension p2p-comm is not running');
      return operation === 'refusing' ? { error: { message: 'not_found: no such peer', data: { error: 'not_found' } } } : { result: { success: true, data: 1 } };
    },
  };
}

t.test('the gate first, then the extension, each answer kept apart', async (t) => {
  const executed: string[] = [];
  const allow = deps(async () => ({ allowed: true }), executed);
  t.same(await gatedCall(allow, 'p', 'status', {}), { kind: 'answered', result: { success: true, data: 1 } });
  t.match(await gatedCall(allow, 'p', 'refusing', {}), { kind: 'failed', refusal: { data: { error: 'not_found' } } });
  t.match(await gatedCall(allow, 'p', 'down', {}), { kind: 'failed', refusal: { message: /not running/, data: { error: 'extension_unavailable' } } });
  const deny = deps(async () => ({ allowed: false, status: 403, error: 'Denied', details: null }), executed);
  t.match(await gatedCall(deny, 'p', 'pair', {}), { kind: 'refused', verdict: { status: 403 } });
  t.same(executed, ['status', 'refusing', 'down'], 'a refused call never reached the extension');
});

t.test('a call its caller gave up on while the gate asked is not run, even when approved', async (t) => {
  const executed: string[] = [];
  const controller = new AbortController();
  let approve: (verdict: GateVerdict) => void = () => undefined;
  let told: AbortSignal | undefined;
  const asking = deps((...args) => {
    told = args[3];
    return new Promise((resolve) => (approve = resolve));
  }, executed);
  const call = gatedCall(asking, 'p', 'send', {}, controller.signal);
  t.equal(told, controller.signal, 'the gate is told when the caller gives up, to take its dialog down');
  controller.abort();
  approve({ allowed: true });
  t.same(await call, { kind: 'abandoned' });
  t.same(executed, []);
});
