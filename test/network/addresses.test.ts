import { networkInterfaces } from 'node:os';
import t from 'tap';
import { advertisedAddresses, formatAddress } from '../../extension/network/addresses';
import { isValidAddress } from '../../extension/common/pairing-link';

t.test('formatAddress', async (t) => {
  t.equal(formatAddress('192.168.1.20', 7070), '192.168.1.20:7070');
  t.equal(formatAddress('127.0.0.1', 1), '127.0.0.1:1');
  t.equal(formatAddress('alice.local', 65535), 'alice.local:65535');
  t.equal(formatAddress('::1', 7070), '[::1]:7070');
  t.equal(formatAddress('::', 7070), '[::]:7070');
  t.equal(formatAddress('2001:db8::42', 443), '[2001:db8::42]:443');
  t.equal(formatAddress('fe80::1', 80), '[fe80::1]:80');
  t.equal(formatAddress('::ffff:127.0.0.1', 7070), '127.0.0.1:7070', 'IPv4-mapped IPv6 is written as IPv4');
  t.equal(formatAddress('::ffff:10.1.2.3', 9), '10.1.2.3:9');
  t.equal(formatAddress('::ffff:7f00:1', 7070), '[::ffff:7f00:1]:7070', 'the hex spelling stays IPv6');
});

t.test('every formatted address passes the pairing-link address check', async (t) => {
  for (const [host, port] of [
    ['192.168.1.20', 7070],
    ['::1', 1],
    ['2001:db8::42', 65535],
    ['::ffff:127.0.0.1', 7070],
    ['alice.local', 7070],
  ] as const) {
    t.equal(isValidAddress(formatAddress(host, port)), true, `${host} ${port}`);
  }
});

t.test('the advertised host wins over everything else', async (t) => {
  t.same(advertisedAddresses('0.0.0.0', 7070, 'alice.example.org'), ['alice.example.org:7070']);
  t.same(advertisedAddresses('192.168.1.20', 7070, 'alice.example.org'), ['alice.example.org:7070']);
  t.same(advertisedAddresses('::', 7070, '2001:db8::42'), ['[2001:db8::42]:7070']);
  t.same(advertisedAddresses('127.0.0.1', 1234, '203.0.113.9'), ['203.0.113.9:1234']);
});

t.test('a specific listen host is used as is', async (t) => {
  t.same(advertisedAddresses('127.0.0.1', 7070, null), ['127.0.0.1:7070']);
  t.same(advertisedAddresses('192.168.1.20', 40000, null), ['192.168.1.20:40000']);
  t.same(advertisedAddresses('::1', 7070, null), ['[::1]:7070']);
  t.same(advertisedAddresses('::ffff:10.0.0.5', 7070, null), ['10.0.0.5:7070']);
  t.same(advertisedAddresses('alice.local', 7070, null), ['alice.local:7070']);
});

t.test('a wildcard listen host lists this machine\'s addresses', async (t) => {
  const externalIpv4 = Object.values(networkInterfaces())
    .flatMap((entries) => entries ?? [])
    .filter((entry) => entry.family === 'IPv4' && !entry.internal)
    .map((entry) => `${entry.address}:7070`);
  for (const wildcard of ['0.0.0.0', '::', '']) {
    const addresses = advertisedAddresses(wildcard, 7070, null);
    t.ok(addresses.length >= 1, `${JSON.stringify(wildcard)}: at least one address`);
    t.same(
      addresses.filter((address) => !address.endsWith(':7070')),
      [],
      `${JSON.stringify(wildcard)}: every address ends with the port`,
    );
    t.same(
      addresses.filter((address) => /^\[fe[89ab][0-9a-f]:/i.test(address)),
      [],
      `${JSON.stringify(wildcard)}: no IPv6 link-local address`,
    );
    t.same(
      addresses.filter((address) => !isValidAddress(address)),
      [],
      `${JSON.stringify(wildcard)}: every address fits a pairing link`,
    );
    t.same(
      addresses,
      externalIpv4.length > 0 ? externalIpv4 : ['127.0.0.1:7070'],
      `${JSON.stringify(wildcard)}: the non-loopback IPv4 addresses, or loopback when there is none`,
    );
  }
});
