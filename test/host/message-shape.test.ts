import t from 'tap';
import { classifyMessage } from '../../extension/host/message-shape';

t.test('accepts requests, notifications and responses', async (t) => {
  t.equal(classifyMessage({ jsonrpc: '2.0', id: 1, method: 'execute', params: {} }).kind, 'message');
  t.equal(classifyMessage({ jsonrpc: '2.0', id: 'a', method: 'execute' }).kind, 'message');
  t.equal(classifyMessage({ jsonrpc: '2.0', method: 'event.received', params: [] }).kind, 'message');
  t.equal(classifyMessage({ jsonrpc: '2.0', id: 4, result: null }).kind, 'message');
  t.equal(classifyMessage({ jsonrpc: '2.0', id: 4, error: { code: 1, message: 'x' } }).kind, 'message');
});

const refusals: [string, unknown, RegExp, boolean][] = [
  ['array', [], /batch requests/, true],
  ['number', 5, /must be a JSON object, got number 5/, true],
  ['null', null, /got null/, true],
  ['string', 'x', /got a string/, true],
  ['object id', { jsonrpc: '2.0', id: {}, method: 'x' }, /"id" must be an integer or a string, got an object/, true],
  ['fractional id', { jsonrpc: '2.0', id: 1.5, method: 'x' }, /"id" must be an integer/, true],
  ['missing jsonrpc', { id: 1, method: 'x' }, /"jsonrpc" must be "2.0", got nothing/, true],
  ['bad jsonrpc on a notification', { jsonrpc: 2, method: 'x' }, /"jsonrpc" must be "2.0"/, false],
  ['empty method', { jsonrpc: '2.0', id: 1, method: '' }, /"method" must be a non-empty string/, true],
  ['numeric method', { jsonrpc: '2.0', id: 1, method: 3 }, /"method" must be a non-empty string, got number 3/, true],
  ['scalar params', { jsonrpc: '2.0', id: 1, method: 'x', params: 'p' }, /"params" must be an object or an array/, true],
  ['scalar params on a notification', { jsonrpc: '2.0', method: 'x', params: 1 }, /"params"/, false],
  ['nothing to go on', { jsonrpc: '2.0' }, /neither "method" nor "id"/, true],
];

for (const [name, value, reason, answer] of refusals) {
  t.test(`refuses ${name}`, async (t) => {
    const result = classifyMessage(value);
    if (result.kind !== 'reject') {
      t.fail('expected a refusal');
      return;
    }
    t.match(result.reason, reason);
    t.equal(result.answer, answer, answer ? 'answered' : 'not answered (notification)');
  });
}
