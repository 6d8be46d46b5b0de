import t from 'tap';
import { routeRequest } from '../../../permissions/a2a/a2a-dispatch';

const request = (method: string, params: unknown = { id: 't-1' }, id: unknown = 7) => ({ jsonrpc: '2.0', id, method, params });

t.test('carried methods, blocking and streaming, with their id and params', async (t) => {
  for (const method of ['SendMessage', 'GetTask', 'ListTasks', 'CancelTask']) {
    t.same(routeRequest(request(method), undefined), { kind: 'carried', id: 7, method, params: { id: 't-1' }, streaming: false }, method);
  }
  for (const method of ['SendStreamingMessage', 'SubscribeToTask']) {
    t.same(routeRequest(request(method), '1.0'), { kind: 'carried', id: 7, method, params: { id: 't-1' }, streaming: true }, method);
  }
  t.match(routeRequest(request('GetTask', { id: 'x' }, 'string-id'), undefined), { kind: 'carried', id: 'string-id' });
});

t.test('answered here: push configs -32003, extended card -32007, unknown -32601, other version -32009', async (t) => {
  for (const method of ['CreateTaskPushNotificationConfig', 'GetTaskPushNotificationConfig', 'ListTaskPushNotificationConfigs', 'DeleteTaskPushNotificationConfig']) {
    t.match(routeRequest(request(method), undefined), { kind: 'answered', id: 7, error: { code: -32003 } }, method);
  }
  t.match(routeRequest(request('GetExtendedAgentCard', {}), undefined), { kind: 'answered', error: { code: -32007 } });
  t.match(routeRequest(request('message/send'), undefined), { kind: 'answered', error: { code: -32601, message: /message\/send/ } }, 'v0.3 names are not taken');
  t.match(routeRequest(request('constructor'), undefined), { kind: 'answered', error: { code: -32601 } });
  t.match(routeRequest(request('SendMessage'), '0.3'), { kind: 'answered', id: 7, error: { code: -32009, message: /0\.3/ } });
  t.match(routeRequest(request('SendMessage', [1]), undefined), { kind: 'answered', error: { code: -32602 } }, 'params must be an object');
});

t.test('not a JSON-RPC 2.0 request: -32600, with its id when it has a usable one', async (t) => {
  const cases: [unknown, unknown][] = [
    [null, null],
    [[request('SendMessage')], null],
    [{ ...request('SendMessage'), jsonrpc: '1.0' }, 7],
    [{ jsonrpc: '2.0', id: 3, params: {} }, 3],
    [{ jsonrpc: '2.0', method: 'SendMessage', params: {} }, null],
    [{ jsonrpc: '2.0', id: { not: 'an id' }, method: 'SendMessage', params: {} }, null],
  ];
  for (const [body, id] of cases) t.match(routeRequest(body, undefined), { kind: 'answered', id, error: { code: -32600 } }, JSON.stringify(body));
});
