import t from 'tap';
import { decodeContent, encodeContent, isValidContent, MAX_JSON_DEPTH } from '../../extension/messaging/payload';
import { envelopeBy, groupHistory, leaveChange } from '../helpers/groups';

const nestedText = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

t.test('text and json come back exactly as sent', async (t) => {
  for (const text of ['', 'plain', 'Grüße 👋\n\t"\\', '\u2028\u2029', 'x'.repeat(1000)]) {
    t.same(decodeContent('text', encodeContent('text', text, 1 << 20)), { value: text });
  }
  for (const value of [null, 0, -1.5, 'str', [1, 'a', null], { a: { b: [true, false] } }]) {
    t.same(decodeContent('json', encodeContent('json', value, 1 << 20)), { value });
  }
});

t.test('refusals say what is wrong', async (t) => {
  t.throws(() => encodeContent('text', 42, 100), /content of a text message must be a string/);
  t.throws(() => encodeContent('text', 'a\ud800b', 100), /unpaired UTF-16 surrogate/);
  t.throws(() => encodeContent('text', 'ééé', 5), /content is 6 bytes once encoded; the limit is 5 bytes/);
  t.throws(() => encodeContent('json', { k: 'v'.repeat(10) }, 10), { message: /the limit is 10 bytes/, details: { rule: 'max_bytes', bytes: 18, limit: 10 } }, 'the rule in details, for programs');
  t.throws(() => encodeContent('json', { k: ['\ud800'] }, 100), { errorName: 'INVALID_INPUT', message: 'content at /k/0 holds an unpaired UTF-16 surrogate, which has no UTF-8 form; send well-formed Unicode text' });
  t.throws(() => encodeContent('json', JSON.parse(nestedText(MAX_JSON_DEPTH + 1)), 1 << 20), {
    errorName: 'INVALID_INPUT',
    message: new RegExp(`nests deeper than ${MAX_JSON_DEPTH} arrays and objects`),
  });
  t.throws(() => encodeContent('json', JSON.parse('{"n":1e400}'), 100), {
    errorName: 'INVALID_INPUT',
    message: 'content at /n holds a number beyond the range of a 64-bit float (such as 1e400), which would arrive as null; send it as a string',
  });
  t.throws(() => encodeContent('json', JSON.parse(nestedText(1_000_000)), 1 << 24), { name: 'P2pError', errorName: 'INVALID_INPUT' }, 'far too deep for JSON.stringify');
});

t.test('json nested up to the limit passes, both ways', async (t) => {
  const value = JSON.parse(nestedText(MAX_JSON_DEPTH)) as unknown;
  t.same(decodeContent('json', encodeContent('json', value, 1 << 20)), { value });
});

t.test('bytes that are not a valid payload decode to null', async (t) => {
  t.equal(decodeContent('text', Uint8Array.of(0xc3)), null, 'truncated UTF-8');
  t.equal(decodeContent('json', Buffer.from('{"a":')), null, 'truncated JSON');
  t.equal(decodeContent('json', Buffer.from('')), null, 'empty is not JSON');
  t.equal(decodeContent('json', Buffer.from('["\\ud800"]')), null, 'an escaped unpaired surrogate');
  t.equal(decodeContent('json', Buffer.from(nestedText(MAX_JSON_DEPTH + 1))), null, 'nested too deep');
  t.equal(decodeContent('json', Buffer.from('{"n":1e400}')), null, 'a number that would reach the plugin as null');
});

t.test('isValidContent takes exactly what decodeContent takes', async (t) => {
  const samples = [
    Buffer.from('plain text'),
    Buffer.from('\ufeffa BOM, then text'),
    Buffer.from('{"a":[1,"é",null]}'),
    Buffer.from(nestedText(MAX_JSON_DEPTH + 1)),
    Uint8Array.of(0xc3),
    Uint8Array.of(0xed, 0xa0, 0x80),
    Uint8Array.of(0xc0, 0xaf),
    Uint8Array.of(0xf4, 0x90, 0x80, 0x80),
    Uint8Array.of(0xf0, 0x9f, 0x98, 0x80),
    new Uint8Array(0),
  ];
  for (const type of ['text', 'json'] as const) {
    for (const sample of samples) t.equal(isValidContent(type, sample), decodeContent(type, sample) !== null, `${type} ${Buffer.from(sample).toString('hex')}`);
  }
});

t.test('the A2A types carry their payloads: encoded from the payload, decoded back to it, refused when not one', async (t) => {
  const request = { method: 'GetTask', params: { id: 't-1' }, service: {}, expiresAt: 5 };
  const bytes = encodeContent('a2a_request', request, 1 << 20);
  t.same(decodeContent('a2a_request', bytes), { value: request });
  t.equal(isValidContent('a2a_request', bytes), true);
  t.equal(isValidContent('a2a_response', bytes), false, 'a request is no response');
  const end = encodeContent('a2a_response', { seq: 2, kind: 'end' }, 1 << 20);
  t.same(decodeContent('a2a_response', end), { value: { seq: 2, kind: 'end' } });
  t.equal(decodeContent('a2a_request', Buffer.from('{"a":1}')), null);
  t.throws(() => encodeContent('a2a_request', { ...request, params: {} }, 1 << 20), { name: 'P2pError' }, 'a request the peer would refuse');
  t.throws(() => encodeContent('a2a_request', request, bytes.length - 1), /the limit is/, 'the payload limit holds for them too');
});

t.test('the file types carry their payloads; the group types are json content for now', async (t) => {
  const offer = { name: 'a.txt', size: 3, sha256: '0'.repeat(64), chunkSize: 65_536, mediaType: 'text/plain', description: null };
  const bytes = encodeContent('file_offer', offer, 1 << 20);
  t.same(decodeContent('file_offer', bytes), { value: offer });
  t.equal(isValidContent('file_offer', bytes), true);
  t.equal(isValidContent('file_control', bytes), false, 'an offer is no control');
  t.equal(isValidContent('json', bytes), true, 'though it is json');
  t.throws(() => encodeContent('file_offer', { ...offer, name: '..' }, 1 << 20), { name: 'P2pError', message: 'name is "..", which names a directory' }, 'an offer the peer would refuse');
  t.throws(() => encodeContent('file_offer', offer, bytes.length - 1), /the limit is/, 'the payload limit holds for them too');
  const control = encodeContent('file_control', { action: 'decline', reason: 'user' }, 1 << 20);
  t.same(decodeContent('file_control', control), { value: { action: 'decline', reason: 'user' } });
  t.equal(decodeContent('file_control', Buffer.from('{"v":1,"action":"stop"}')), null);
  const chunk = encodeContent('file_chunk', { transferId: new Uint8Array(16).fill(1), index: 2, data: Buffer.from('abc') }, 1 << 20);
  t.same(decodeContent('file_chunk', chunk), { value: { transferId: new Uint8Array(16).fill(1), index: 2, data: Buffer.from('abc') } });
  t.equal(isValidContent('file_chunk', chunk), true);
  t.equal(isValidContent('file_chunk', chunk.subarray(0, 20)), false, 'a header without data');
  const { bob, epochs } = groupHistory();
  const groupControl = { kind: 'leave', leave: leaveChange(epochs[2]!, bob).leave } as const;
  t.same(decodeContent('group_control', encodeContent('group_control', groupControl, 1 << 20)), { value: groupControl });
  const message = { envelope: envelopeBy(bob, epochs[1]!), relay: null };
  t.same(decodeContent('group_message', encodeContent('group_message', message, 1 << 20)), { value: message });
  t.throws(() => encodeContent('group_message', { ...message, relay: [bob.peer] }, 1 << 20), { name: 'P2pError', message: 'relay names the author' }, 'a message the peer would refuse');
  for (const type of ['group_control', 'group_message'] as const) {
    t.equal(isValidContent(type, Buffer.from('{"v":1,"kind":"leave"}')), false, `${type}: JSON its codec refuses`);
    t.equal(isValidContent(type, Buffer.from('{"v":')), false, `${type}: not JSON`);
  }
});
