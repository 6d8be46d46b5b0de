import t from 'tap';
import { P2pError } from '../../extension/common/errors';
import { manifest } from '../../extension/common/manifest';
import { InputValidator } from '../../extension/operations/input-validator';

const validator = new InputValidator(manifest.operations);
const PEER = 'a'.repeat(51) + 'q';

function reason(operation: string, input: unknown): string {
  try {
    validator.check(operation, input);
    return 'valid';
  } catch (error) {
    t.ok(error instanceof P2pError);
    t.equal((error as P2pError).errorName, 'INVALID_INPUT');
    return (error as Error).message;
  }
}

t.test('valid inputs pass', async (t) => {
  t.equal(reason('status', {}), 'valid');
  t.equal(reason('send', { peer: PEER, type: 'text', content: 'hello' }), 'valid');
  t.equal(reason('send', { peer: PEER, type: 'json', content: { a: [1, 2] }, correlation_id: 'req-1', ttl_seconds: 60 }), 'valid');
  t.equal(reason('pair', { link: 'p2p-comm://abc?x=1' }), 'valid');
  t.equal(reason('pair', { peer: PEER, address: '192.0.2.1:7400' }), 'valid');
  t.equal(reason('pair', { peer: PEER, address: '[fe80::1]:7400' }), 'valid');
  t.equal(reason('pair', { peer: PEER }), 'valid');
  t.equal(reason('receive', { peer: PEER, after: 10, limit: 5, wait_ms: 100 }), 'valid');
});

t.test('errors name the field and the rule', async (t) => {
  t.equal(reason('status', { x: 1 }), 'invalid input for "status": input has an unexpected field "x"');
  t.equal(reason('ack', { peer: PEER }), 'invalid input for "ack": input is missing the required field "through"');
  t.match(reason('send', { peer: PEER, type: 'xml', content: '' }), /input.type must be one of "text", "json"/);
  for (const type of ['a2a_request', 'a2a_response', 'file_offer', 'file_control', 'file_chunk', 'group_control', 'group_message']) {
    t.match(reason('send', { peer: PEER, type, content: {} }), /input.type must be one of "text", "json"/, `${type} is sent by its service, never through send`);
  }
  t.match(reason('send', { peer: PEER, type: 'text', content: 5 }), /input.content must be string/);
  t.match(reason('receive', { peer: PEER, wait_ms: 60000 }), /input.wait_ms must be <= 2000/);
  t.match(reason('set_display_name', { display_name: 'evil\u202Ename' }), /input.display_name is not in the expected format/);
  t.match(reason('set_display_name', { display_name: 'two\nlines' }), /input.display_name is not in the expected format/);
});

t.test('alternative forms report the error of the form meant', async (t) => {
  t.match(reason('pair', { peer: 'x', address: '1.2.3.4:5' }), /input.peer must NOT have fewer than 52 characters/);
  t.match(reason('pair', { link: 'https://example.org/pair' }), /input.link is not in the expected format/);
  t.equal(reason('pair', {}), 'invalid input for "pair": input must take one of these forms: {link} or {peer, address?}');
  t.match(reason('pair', { link: 'p2p-comm://abc', peer: PEER }), /unexpected field|one of these forms/);
});

t.test('peer ids have exactly one spelling', async (t) => {
  t.equal(reason('revoke', { peer: PEER }), 'valid');
  t.not(reason('revoke', { peer: PEER.toUpperCase() }), 'valid', 'upper case refused');
  t.not(reason('revoke', { peer: 'a'.repeat(51) + 'b' }), 'valid', 'non-zero padding bits refused');
  t.not(reason('revoke', { peer: `${PEER}=` }), 'valid', 'padding refused');
  t.not(reason('revoke', { peer: ` ${PEER.slice(1)}` }), 'valid');
});

t.test('text content is bounded to 1 MiB', async (t) => {
  t.equal(reason('send', { peer: PEER, type: 'text', content: 'x'.repeat(1048576) }), 'valid');
  t.match(reason('send', { peer: PEER, type: 'text', content: 'x'.repeat(1048577) }), /must NOT have more than 1048576 characters/);
});

t.test('an unpaired surrogate is refused in any string or key, with its place', async (t) => {
  t.equal(
    reason('send', { peer: PEER, type: 'text', content: 'a\ud800' }),
    'invalid input for "send": input.content holds an unpaired UTF-16 surrogate, which has no UTF-8 form; send well-formed Unicode text',
  );
  t.match(reason('send', { peer: PEER, type: 'json', content: { list: ['ok', { ['k\udfff']: 1 }] } }), /input\.content\.list\.1\.k\ufffd holds an unpaired/);
  t.match(reason('set_display_name', { display_name: 'x\udc00y' }), /input\.display_name holds an unpaired UTF-16 surrogate/);
  t.equal(reason('send', { peer: PEER, type: 'text', content: 'paired \ud83d\udc4b is fine' }), 'valid');
  t.equal(
    reason('send', { peer: PEER, type: 'json', content: JSON.parse('{"n":[1e400]}') }),
    'invalid input for "send": input.content.n.0 holds a number beyond the range of a 64-bit float (such as 1e400), which would arrive as null; send it as a string',
  );
  try {
    validator.check('send', { peer: PEER, type: 'json', content: ['\ud800'] });
    t.fail('refused');
  } catch (error) {
    t.same((error as P2pError).details, { path: '/content/0', rule: 'well_formed_unicode' });
  }
});

t.test('an undeclared operation is unknown', async (t) => {
  t.throws(() => validator.check('teleport', {}), new P2pError('UNKNOWN_OPERATION', 'unknown operation "teleport"'));
});
