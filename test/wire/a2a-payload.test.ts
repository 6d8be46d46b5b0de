import fc from 'fast-check';
import t from 'tap';
import {
  A2A_CARRIED_METHODS,
  type A2aRequestPayload,
  type A2aResponsePayload,
  BindingPayloadError,
  type BindingPayloadRefusal,
  clientMessageIdOf,
  contextIdOf,
  decodeRequestPayload,
  decodeResponsePayload,
  DEFAULT_BINDING_PAYLOAD_LIMITS,
  encodeRequestPayload,
  encodeResponsePayload,
} from '../../extension/wire/a2a-payload';
import { P2pError } from '../../extension/common/errors';

const sendMessage: A2aRequestPayload = {
  method: 'SendMessage',
  params: { message: { messageId: 'm-1', contextId: 'ctx-1', role: 'ROLE_USER', parts: [{ text: 'which day suits you?' }] }, configuration: { returnImmediately: true } },
  service: { 'a2a-extensions': 'https://example.org/ext/v1' },
  expiresAt: 1_767_225_600_000,
};

const task = { id: 't-1', contextId: 'ctx-1', status: { state: 'TASK_STATE_COMPLETED' }, artifacts: [{ artifactId: 'a-1', parts: [{ text: 'Tuesday' }] }] };

function refusal(read: () => unknown): BindingPayloadRefusal | null {
  try {
    read();
    return null;
  } catch (error) {
    if (!(error instanceof BindingPayloadError)) throw error;
    return error.reason;
  }
}

const json = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value), 'utf8');
const request = (change: Record<string, unknown>): Uint8Array =>
  json({ v: 1, method: 'GetTask', params: { id: 't-1' }, service: {}, expires_at: 1, ...change });
const response = (value: Record<string, unknown>): Uint8Array => json({ v: 1, seq: 0, ...value });

t.test('a request travels as documented and comes back the same', async (t) => {
  const bytes = encodeRequestPayload(sendMessage);
  t.equal(
    Buffer.from(bytes).toString('utf8'),
    '{"v":1,"method":"SendMessage","params":{"message":{"messageId":"m-1","contextId":"ctx-1","role":"ROLE_USER","parts":[{"text":"which day suits you?"}]},' +
      '"configuration":{"returnImmediately":true}},"service":{"a2a-extensions":"https://example.org/ext/v1"},"expires_at":1767225600000}',
  );
  t.same(decodeRequestPayload(bytes), sendMessage);
  t.equal(clientMessageIdOf(sendMessage), 'm-1');
  t.equal(contextIdOf(sendMessage), 'ctx-1');
  const getTask = decodeRequestPayload(request({}));
  t.same(getTask, { method: 'GetTask', params: { id: 't-1' }, service: {}, expiresAt: 1 });
  t.equal(clientMessageIdOf(getTask), null, 'only a sent message has a client messageId');
  t.equal(contextIdOf(getTask), null);
  for (const method of A2A_CARRIED_METHODS) {
    const params = method.startsWith('Send') ? { message: { messageId: 'x' } } : method === 'ListTasks' ? {} : { id: 'x' };
    t.equal(decodeRequestPayload(request({ method, params })).method, method, `${method} is carried`);
  }
});

t.test('each kind of answer travels in its one form', async (t) => {
  const answers: [A2aResponsePayload, string][] = [
    [{ seq: 0, kind: 'event', event: { task } }, `{"v":1,"seq":0,"event":{"task":${JSON.stringify(task)}}}`],
    [{ seq: 3, kind: 'result', result: { task } }, `{"v":1,"seq":3,"result":{"task":${JSON.stringify(task)}},"end":true}`],
    [{ seq: 1, kind: 'error', error: { code: -32001, message: 'task not found', data: [{ reason: 'X' }] } }, '{"v":1,"seq":1,"error":{"code":-32001,"message":"task not found","data":[{"reason":"X"}]},"end":true}'],
    [{ seq: 0, kind: 'error', error: { code: -32601, message: 'no such method' } }, '{"v":1,"seq":0,"error":{"code":-32601,"message":"no such method"},"end":true}'],
    [{ seq: 9, kind: 'end' }, '{"v":1,"seq":9,"end":true}'],
  ];
  for (const [answer, text] of answers) {
    const bytes = encodeResponsePayload(answer);
    t.equal(Buffer.from(bytes).toString('utf8'), text, answer.kind);
    t.same(decodeResponsePayload(bytes), answer, `${answer.kind} comes back the same`);
  }
  for (const kind of ['message', 'statusUpdate', 'artifactUpdate']) {
    t.equal(decodeResponsePayload(response({ event: { [kind]: { taskId: 't-1' } } })).kind, 'event', `a ${kind} event`);
  }
});

t.test('each refusal names its reason', async (t) => {
  const cases: [string, Uint8Array, BindingPayloadRefusal][] = [
    ['not UTF-8', Uint8Array.of(0x7b, 0xff, 0x7d), 'malformed'],
    ['not JSON', Buffer.from('{"v":'), 'malformed'],
    ['an array', json([1]), 'malformed'],
    ['nested past the json content rules', Buffer.from(`{"v":1,"method":"GetTask","params":{"id":"x","deep":${'['.repeat(101)}${']'.repeat(101)}},"service":{},"expires_at":1}`), 'malformed'],
    ['an escaped lone surrogate', Buffer.from('{"v":1,"method":"GetTask","params":{"id":"\\ud800"},"service":{},"expires_at":1}'), 'malformed'],
    ['version 2', request({ v: 2 }), 'bad_version'],
    ['no version', json({ method: 'GetTask', params: { id: 'x' }, service: {}, expires_at: 1 }), 'bad_version'],
    ['a push-config method', request({ method: 'CreateTaskPushNotificationConfig' }), 'unknown_method'],
    ['the extended card', request({ method: 'GetExtendedAgentCard' }), 'unknown_method'],
    ['a v0.3 method name', request({ method: 'message/send' }), 'unknown_method'],
    ['an unknown member', request({ id: 7 }), 'bad_schema'],
    ['params an array', request({ params: [] }), 'bad_schema'],
    ['an unknown service parameter', request({ service: { authorization: 'Bearer x' } }), 'bad_schema'],
    ['a service parameter too long', request({ service: { 'a2a-extensions': 'x'.repeat(DEFAULT_BINDING_PAYLOAD_LIMITS.maxServiceChars + 1) } }), 'bad_schema'],
    ['expires_at not whole', request({ expires_at: 1.5 }), 'bad_schema'],
    ['expires_at negative', request({ expires_at: -1 }), 'bad_schema'],
    ['no expires_at', json({ v: 1, method: 'GetTask', params: { id: 'x' }, service: {} }), 'bad_schema'],
    ['GetTask without id', request({ params: {} }), 'bad_schema'],
    ['CancelTask with an empty id', request({ method: 'CancelTask', params: { id: '' } }), 'bad_schema'],
    ['SendMessage without message', request({ method: 'SendMessage', params: {} }), 'bad_schema'],
    ['SendMessage without messageId', request({ method: 'SendMessage', params: { message: { parts: [] } } }), 'bad_schema'],
    ['a messageId too long', request({ method: 'SendStreamingMessage', params: { message: { messageId: 'm'.repeat(257) } } }), 'bad_schema'],
    ['a contextId not a string', request({ method: 'SendMessage', params: { message: { messageId: 'm', contextId: 5 } } }), 'bad_schema'],
    ['seq negative', response({ seq: -1, end: true }), 'bad_schema'],
    ['seq past the answers taken', response({ seq: DEFAULT_BINDING_PAYLOAD_LIMITS.maxAnswers, end: true }), 'seq_out_of_range'],
    ['end false', response({ result: {}, end: false }), 'bad_schema'],
    ['an event that ends', response({ event: { task }, end: true }), 'bad_schema'],
    ['a result that does not end', response({ result: { task } }), 'bad_schema'],
    ['an error that does not end', response({ error: { code: 1, message: 'x' } }), 'bad_schema'],
    ['no body and no end', response({}), 'bad_schema'],
    ['a result and an error', response({ result: {}, error: { code: 1, message: 'x' }, end: true }), 'bad_schema'],
    ['an event with two kinds', response({ event: { task, message: {} } }), 'bad_schema'],
    ['an event of no known kind', response({ event: { push: {} } }), 'bad_schema'],
    ['an event kind not an object', response({ event: { task: 'x' } }), 'bad_schema'],
    ['an error code not integer', response({ error: { code: 1.5, message: 'x' }, end: true }), 'bad_schema'],
    ['an error without message', response({ error: { code: 1 }, end: true }), 'bad_schema'],
    ['an error with another member', response({ error: { code: 1, message: 'x', stack: 'y' }, end: true }), 'bad_schema'],
    ['a response with an unknown member', response({ end: true, id: 3 }), 'bad_schema'],
  ];
  for (const [what, bytes, reason] of cases) {
    const isResponse = Buffer.from(bytes).includes('"seq"');
    t.equal(refusal(() => (isResponse ? decodeResponsePayload(bytes) : decodeRequestPayload(bytes))), reason, what);
  }
  t.equal(refusal(() => decodeResponsePayload(response({ seq: 4, end: true }), { ...DEFAULT_BINDING_PAYLOAD_LIMITS, maxAnswers: 4 })), 'seq_out_of_range', 'maxAnswers bounds seq');
});

t.test('the encoder refuses what a peer would refuse, as invalid input', async (t) => {
  t.throws(() => encodeRequestPayload({ ...sendMessage, params: { message: {} } }), P2pError);
  t.throws(() => encodeResponsePayload({ seq: 0, kind: 'event', event: { bogus: {} } }), new P2pError('INVALID_INPUT', 'an event holds exactly one of task, message, statusUpdate, artifactUpdate, an object'));
  t.throws(() => encodeResponsePayload({ seq: 10_000, kind: 'end' }), /10000 answers/);
});

t.test('a request encoded and decoded keeps its value and its client messageId', async (t) => {
  const id = fc.string({ minLength: 1, maxLength: 20 });
  const requests = fc.record({
    method: fc.constantFrom('SendMessage', 'SendStreamingMessage'),
    params: fc.record({ message: fc.record({ messageId: id, contextId: id, parts: fc.array(fc.record({ text: fc.string() })) }) }),
    service: fc.constant({}),
    expiresAt: fc.nat(),
  });
  fc.assert(
    fc.property(requests, (value) => {
      const payload = value as A2aRequestPayload;
      const decoded = decodeRequestPayload(encodeRequestPayload(payload));
      return JSON.stringify(decoded) === JSON.stringify(payload) && clientMessageIdOf(decoded) === (payload.params['message'] as { messageId: string }).messageId;
    }),
    { numRuns: 200, seed: 17 },
  );
  t.pass('200 requests');
});
