import { PassThrough } from 'node:stream';
import t from 'tap';
import type { Message, RequestMessage } from 'vscode-jsonrpc';
import { NewlineMessageReader } from '../../extension/host/line-reader';
import { REJECTED_LINE_METHOD } from '../../extension/host/rejected-line';
import { RequestIdMap } from '../../extension/host/request-ids';

function setup(maxLineBytes = 1024) {
  const input = new PassThrough();
  const requestIds = new RequestIdMap();
  const refused: string[] = [];
  const reader = new NewlineMessageReader(input, {
    maxLineBytes,
    requestIds,
    onRefused: (name, reason) => refused.push(`${name}: ${reason}`),
  });
  const messages: Message[] = [];
  reader.listen((message) => messages.push(message));
  const feed = (...chunks: (string | Buffer)[]): void => {
    for (const chunk of chunks) input.write(chunk);
  };
  return { input, reader, requestIds, refused, messages, feed };
}

const request = (id: number, method = 'execute') => JSON.stringify({ jsonrpc: '2.0', id, method, params: {} });

t.test('splits lines across and within chunks, tolerating CRLF', async (t) => {
  const { messages, feed, requestIds } = setup();
  const two = `${request(1)}\n${request(2)}\r\n`;
  feed(two.slice(0, 10), two.slice(10, 50), two.slice(50));
  t.equal(messages.length, 2);
  const ids = messages.map((m) => requestIds.restore((m as RequestMessage).id));
  t.same(ids, [1, 2], 'host ids restored from internal ones');
});

t.test('duplicate host ids become distinct internal ids', async (t) => {
  const { messages, feed } = setup();
  feed(`${request(7)}\n${request(7)}\n`);
  const [a, b] = messages as RequestMessage[];
  t.not(a?.id, b?.id);
});

t.test('responses and notifications pass through without id rewriting', async (t) => {
  const { messages, feed } = setup();
  feed('{"jsonrpc":"2.0","id":3,"result":{"event_id":"e"}}\n{"jsonrpc":"2.0","method":"event.received","params":{}}\n');
  t.same(messages, [
    { jsonrpc: '2.0', id: 3, result: { event_id: 'e' } },
    { jsonrpc: '2.0', method: 'event.received', params: {} },
  ]);
});

t.test('an overlong line is refused with the id from its tail, and the next line is read', async (t) => {
  const { messages, feed, refused, requestIds, reader } = setup(100);
  const long = JSON.stringify({ jsonrpc: '2.0', method: 'execute', params: { pad: 'y'.repeat(500) }, id: 9 });
  for (let i = 0; i < long.length; i += 37) feed(long.slice(i, i + 37));
  feed(`\n${request(10)}\n`);
  t.equal(messages.length, 2);
  const rejected = messages[0] as RequestMessage;
  t.equal(rejected.method, REJECTED_LINE_METHOD);
  t.equal(requestIds.restore(rejected.id), 9);
  t.match(rejected.params, { errorName: 'LINE_TOO_LONG', message: `line of ${long.length} bytes exceeds the limit of 100 bytes` });
  t.equal(refused.length, 1);
  t.equal(reader.requestsDelivered, 2);
});

t.test('invalid UTF-8 and invalid JSON are answered as parse errors', async (t) => {
  const { messages, feed } = setup();
  feed(Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]), 'nope\n');
  t.match(messages, [
    { method: REJECTED_LINE_METHOD, params: { errorName: 'PARSE_ERROR', message: 'line is not valid UTF-8' } },
    { method: REJECTED_LINE_METHOD, params: { errorName: 'PARSE_ERROR', message: /not valid JSON/ } },
  ]);
});

t.test('blank lines and malformed notifications are counted but not answered', async (t) => {
  const { messages, feed, refused } = setup();
  feed('\n   \n{"jsonrpc":"1.0","method":"event.received"}\n');
  t.same(messages, []);
  t.equal(refused.length, 3);
});

t.test('the internal method name cannot be sent from outside', async (t) => {
  const { messages, feed } = setup();
  feed(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: REJECTED_LINE_METHOD, params: { errorName: 'INTERNAL_ERROR', message: 'x' } })}\n`);
  t.match(messages, [{ method: REJECTED_LINE_METHOD, params: { errorName: 'METHOD_NOT_FOUND' } }]);
});

t.test('end of input closes the reader', async (t) => {
  const { input, reader } = setup();
  const closed = new Promise<void>((resolve) => reader.onClose(() => resolve()));
  input.end();
  await closed;
  t.pass('closed');
});
