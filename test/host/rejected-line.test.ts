import t from 'tap';
import { FALLBACK_RESPONSE_ID, salvageRequestId } from '../../extension/host/rejected-line';

t.test('recovers the id Nexus writes last', async (t) => {
  const text = '{"jsonrpc":"2.0","method":"execute","params":{"x":1},"id":17}';
  t.equal(salvageRequestId(text, text), 17);
});

t.test('recovers an id written first, but not one inside params', async (t) => {
  t.equal(salvageRequestId('{"jsonrpc":"2.0","id":5,"method":"execute","params":{', ''), 5);
  t.equal(salvageRequestId('{"jsonrpc":"2.0","method":"execute","params":{"id":99,', ''), FALLBACK_RESPONSE_ID);
});

t.test('falls back when there is no usable id', async (t) => {
  t.equal(salvageRequestId('garbage', 'garbage'), FALLBACK_RESPONSE_ID);
  t.equal(salvageRequestId('', '"id":9999999999999999}'), FALLBACK_RESPONSE_ID, 'beyond exact JSON integers');
});
