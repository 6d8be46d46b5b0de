import t from 'tap';
import { decodeHello, encodeHello, MAX_HELLO_BYTES } from '../../extension/wire/hello';

t.test('hello: round trip, and anything out of range is dropped', async (t) => {
  const valid = (name: string) => name.length > 0 && name.length <= 64;
  const hello = { protocolVersion: 1, agent: 'Bob', capabilities: ['text', 'json'], software: 'p2p-comm/0.1.0', dhtBinding: null };
  t.same(decodeHello(encodeHello(hello), valid), hello);
  const future = Buffer.from(JSON.stringify({ protocol_version: 2, agent: 'Bob', capabilities: ['text'], software: 'x/9', extra: { any: 1 } }));
  t.same(decodeHello(future, valid), { protocolVersion: 2, agent: 'Bob', capabilities: ['text'], software: 'x/9', dhtBinding: null }, 'unknown fields ignored');
  const wire = { protocol_version: 1, agent: 'Bob', capabilities: ['text', 'json'], software: 'p2p-comm/0.1.0' };
  const bad: unknown[] = [
    { ...wire, protocol_version: 0 },
    { ...wire, protocol_version: '1' },
    { ...wire, agent: '' },
    { ...wire, capabilities: 'text' },
    { ...wire, capabilities: ['UPPER'] },
    { ...wire, capabilities: Array(33).fill('x') },
    { ...wire, software: 'bad\nline' },
    [1, 2],
    'hello',
  ];
  for (const value of bad) {
    const encoded = JSON.stringify(value);
    t.equal(decodeHello(Buffer.from(encoded), valid), null, encoded.slice(0, 60));
  }
  t.equal(decodeHello(Uint8Array.of(0xff), valid), null, 'not UTF-8');
  t.equal(decodeHello(Buffer.alloc(MAX_HELLO_BYTES + 1, 0x20), valid), null, 'oversize');
});

t.test('hello: a DHT key binding travels as 214 base64url characters; anything else drops the hello', async (t) => {
  const valid = (name: string) => name.length > 0 && name.length <= 64;
  const dhtBinding = new Uint8Array(160).map((_, i) => (i * 37 + 251) & 0xff);
  const hello = { protocolVersion: 1, agent: 'Bob', capabilities: ['text'], software: 'p2p-comm/0.1.0', dhtBinding };
  const encoded = encodeHello(hello);
  t.same(decodeHello(encoded, valid), hello, 'round trip');
  const wire = JSON.parse(Buffer.from(encoded).toString('utf8')) as Record<string, unknown>;
  t.equal(wire['dht'], Buffer.from(dhtBinding).toString('base64url'), 'the field on the wire');
  t.notOk('dht' in (JSON.parse(Buffer.from(encodeHello({ ...hello, dhtBinding: null })).toString('utf8')) as object), 'no binding, no field');
  const good = wire['dht'] as string;
  const bad: [string, unknown][] = [
    ['null', null],
    ['a number', 42],
    ['an array of bytes', Array.from(dhtBinding)],
    ['empty', ''],
    ['213 characters', good.slice(1)],
    ['215 characters', `${good}A`],
    ['unused low bits set', `${good.slice(0, 213)}${String.fromCharCode(good.charCodeAt(213) + 1)}`],
    ['standard base64', Buffer.from(dhtBinding).toString('base64')],
    ['padded', `${good}==`],
    ['a space inside', `${good.slice(0, 64)} ${good.slice(65)}`],
    ['a non-ASCII character', `é${good.slice(1)}`],
  ];
  t.not(Buffer.from(dhtBinding).toString('base64'), good, 'the standard spelling differs for these bytes');
  for (const [label, dht] of bad) t.equal(decodeHello(Buffer.from(JSON.stringify({ ...wire, dht })), valid), null, label);
});
