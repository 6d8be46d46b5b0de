import t from 'tap';
import { P2pError } from '../../../extension/common/errors';
import { DEFAULT_RELAY_HOST, DEFAULT_RELAY_PORT, parseRelayOptions } from '../../../permissions/relay/relay-options';
import { relayReadyLine } from '../../../permissions/relay/ready-line';

t.test('without options: every address, port 49737, the public bootstrap nodes', async (t) => {
  t.same(parseRelayOptions({}), { host: DEFAULT_RELAY_HOST, port: DEFAULT_RELAY_PORT, bootstrap: null });
  t.equal(DEFAULT_RELAY_HOST, '0.0.0.0');
  t.equal(DEFAULT_RELAY_PORT, 49737);
});

t.test('host, port and bootstrap list as given', async (t) => {
  t.same(parseRelayOptions({ host: '203.0.113.7', port: '1', bootstrap: '192.0.2.1:49737, node.example.org:65535' }), {
    host: '203.0.113.7',
    port: 1,
    bootstrap: ['192.0.2.1:49737', 'node.example.org:65535'],
  });
});

t.test('an empty bootstrap list is refused: leaving the option out is how to get the public nodes', async (t) => {
  for (const bootstrap of ['', ' ']) {
    t.throws(() => parseRelayOptions({ bootstrap }), { name: 'P2pError', errorName: 'INVALID_INPUT', message: /--bootstrap needs at least one HOST:PORT; leave the option out/ });
  }
});

t.test('malformed values are refused with what was given', async (t) => {
  const refused: [Parameters<typeof parseRelayOptions>[0], RegExp][] = [
    [{ host: 'localhost' }, /--host must be an IPv4 address.*"localhost"/],
    [{ host: '::1' }, /--host must be an IPv4 address/],
    [{ host: '256.1.1.1' }, /--host must be an IPv4 address/],
    [{ port: '0' }, /--port must be a UDP port, 1-65535, got "0"/],
    [{ port: '65536' }, /--port must be a UDP port/],
    [{ port: '49737x' }, /--port must be a UDP port/],
    [{ port: '-1' }, /--port must be a UDP port/],
    [{ port: '' }, /--port must be a UDP port/],
    [{ bootstrap: '192.0.2.1' }, /--bootstrap takes HOST:PORT,\.\.\..*"192\.0\.2\.1"/],
    [{ bootstrap: '192.0.2.1:49737,' }, /--bootstrap takes HOST:PORT.*""/],
    [{ bootstrap: ':49737' }, /--bootstrap takes HOST:PORT/],
    [{ bootstrap: '192.0.2.1:0' }, /--bootstrap takes HOST:PORT/],
    [{ bootstrap: 'bad_host:1' }, /--bootstrap takes HOST:PORT/],
    [{ bootstrap: '[::1]:49737' }, /--bootstrap takes HOST:PORT/],
  ];
  for (const [args, message] of refused) {
    const error = t.throws(() => parseRelayOptions(args), JSON.stringify(args)) as unknown;
    t.ok(error instanceof P2pError && error.errorName === 'INVALID_INPUT', 'INVALID_INPUT');
    t.match((error as Error).message, message);
  }
});

t.test('the ready line: for people, or one JSON object', async (t) => {
  const address = { publicKey: Buffer.alloc(32, 0xab), host: '0.0.0.0', port: 49737 };
  t.equal(relayReadyLine(address, false), `relay listening: public key ${'ab'.repeat(32)}, UDP 0.0.0.0:49737`);
  t.same(JSON.parse(relayReadyLine(address, true)), { public_key: 'ab'.repeat(32), host: '0.0.0.0', port: 49737 });
  t.notMatch(relayReadyLine(address, true), '\n', 'one line');
});
