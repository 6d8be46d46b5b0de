import { randomBytes } from 'node:crypto';
import t from 'tap';
import { DHT_KEY_BINDING_BYTES } from '../../extension/common/dht-address';
import { P2pError } from '../../extension/common/errors';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import type { PublicKeyRefusal } from '../../extension/common/ed25519-public-key';
import { ed25519FromSeed } from '../../extension/wire/primitives';
import { WEAK_KEYS } from '../helpers/weak-keys';
import { manifest } from '../../extension/common/manifest';
import { encodeKeyChain, MAX_KEY_CHAIN, MAX_KEY_CHAIN_BYTES, type RotationSigner, type RotationStatement } from '../../extension/wire/key-rotation';
import { rotatedKeys } from '../helpers/key-chains';
import {
  isValidAddress,
  LINK_SCHEME,
  MAX_LINK_ADDRESSES,
  MAX_LINK_KEY_CHAIN_BYTES,
  type PairingLink,
  parsePairingLink,
  printPairingLink,
} from '../../extension/common/pairing-link';

const peerId = peerIdFromPublicKey(ed25519FromSeed(randomBytes(32)).publicKey);

/** The `link` property of the `pair` operation's input schema. */
function pairLinkSchema(): { pattern: string; maxLength: number } {
  const pair = manifest.operations.find((operation) => operation.name === 'pair');
  const variants = (pair?.input_schema as { oneOf?: { properties?: Record<string, unknown> }[] } | undefined)?.oneOf ?? [];
  const link = variants.map((variant) => variant.properties?.['link']).find((property) => property !== undefined);
  return link as { pattern: string; maxLength: number };
}

/** Any 160 bytes: the form is this module's business, the signatures the pair operation's. */
const dhtBinding = new Uint8Array(randomBytes(160));
const dhtParam = Buffer.from(dhtBinding).toString('base64url');

const schema = pairLinkSchema();
const LINK_PATTERN = new RegExp(schema.pattern, 'u');

function link(overrides: Partial<PairingLink> = {}): PairingLink {
  return { peerId, addresses: ['192.168.1.20:7070'], displayName: 'Alice', dhtBinding: null, expiresAt: null, ...overrides };
}

t.test('the manifest pattern is the one this test assumes', async (t) => {
  t.equal(schema.pattern, '^p2p-comm://[\\x21-\\x7e]+$');
  t.equal(schema.maxLength, 8192);
  t.equal(LINK_SCHEME, 'p2p-comm://');
  t.equal(MAX_LINK_ADDRESSES, 4);
});

t.test('print then parse gives the same link back', async (t) => {
  const cases: [string, PairingLink][] = [
    ['one IPv4 address, no expiry', link()],
    ['several addresses incl. IPv6', link({ addresses: ['192.168.1.20:7070', '[fe80::1]:7070', '[2001:db8::42]:65535', 'alice-laptop.local:1'] })],
    ['a name with spaces', link({ displayName: 'Alice in Wonderland' })],
    ['a name with + & = ? # % /', link({ displayName: 'a+b & c=d ?x #y 100% /z' })],
    ['a name of only reserved characters', link({ displayName: '+&=' })],
    ['an emoji name', link({ displayName: 'Zoë 🦊👩💻 日本' })],
    ['with an expiry', link({ expiresAt: new Date('2030-01-02T03:04:05.000Z') })],
    ['with expiry 0', link({ expiresAt: new Date(0) })],
    ['leading and trailing spaces in the name', link({ displayName: '  Bob  ' })],
    ['an address and a DHT key', link({ dhtBinding })],
    ['a DHT key and no address', link({ addresses: [], dhtBinding })],
    ['a DHT key whose base64url holds "_"', link({ addresses: [], dhtBinding: new Uint8Array(160).fill(0xff) })],
    ['a DHT key whose base64url holds "-"', link({ addresses: [], dhtBinding: new Uint8Array(160).fill(0xfb) })],
  ];
  for (const [label, original] of cases) {
    const printed = printPairingLink(original);
    t.same(parsePairingLink(printed), original, label);
    t.match(printed, LINK_PATTERN, `${label}: printed link matches the manifest pattern`);
    t.ok(printed.startsWith(`${LINK_SCHEME}${peerId}?`), `${label}: starts with scheme and peer id`);
  }
});

t.test('spaces are printed as %20 and plus as %2B', async (t) => {
  const printed = printPairingLink(link({ displayName: 'a b+c' }));
  t.match(printed, /name=a%20b%2Bc(&|$)/);
  t.notMatch(printed, /[ ]/);
});

t.test('the expiry is printed in whole seconds', async (t) => {
  const printed = printPairingLink(link({ expiresAt: new Date(1_700_000_000_999) }));
  t.match(printed, /&exp=1700000000$/);
  t.same(parsePairingLink(printed).expiresAt, new Date(1_700_000_000_000));
});

t.test('a name with a literal + in a hand-written link stays a +', async (t) => {
  t.equal(parsePairingLink(`${LINK_SCHEME}${peerId}?addr=h:1&name=a+b`).displayName, 'a+b');
  t.equal(parsePairingLink(`${LINK_SCHEME}${peerId}?addr=h:1&name=a%20b`).displayName, 'a b');
});

t.test('field order does not matter', async (t) => {
  const parsed = parsePairingLink(`${LINK_SCHEME}${peerId}?exp=10&name=Bob&addr=h:1&addr=%5B%3A%3A1%5D%3A2`);
  t.same(parsed, { peerId, addresses: ['h:1', '[::1]:2'], displayName: 'Bob', dhtBinding: null, expiresAt: new Date(10_000) });
});

t.test('printing keeps at most four addresses', async (t) => {
  const addresses = ['a:1', 'b:2', 'c:3', 'd:4', 'e:5', 'f:6'];
  const parsed = parsePairingLink(printPairingLink(link({ addresses })));
  t.same(parsed.addresses, ['a:1', 'b:2', 'c:3', 'd:4']);
});

t.test('a link with four addresses, a DHT key and a 64-emoji name fits the manifest schema', async (t) => {
  const emojiName = '🦊'.repeat(64);
  t.equal(Buffer.byteLength(emojiName, 'utf8'), 256);
  const realistic = printPairingLink(
    link({
      addresses: [
        '[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535',
        '[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:65535',
        '255.255.255.255:65535',
        'a-rather-long-host-name.some-department.example.org:65535',
      ],
      displayName: emojiName,
      dhtBinding,
      expiresAt: new Date(999_999_999_999_000),
    }),
  );
  t.ok(realistic.length <= schema.maxLength, `realistic worst case is ${realistic.length} characters`);
  t.match(realistic, LINK_PATTERN);
  t.equal(parsePairingLink(realistic).displayName, emojiName);

  // The longest addresses isValidAddress accepts: 253-character host names.
  const longHost = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
  t.equal(longHost.length, 253);
  const longest = printPairingLink(
    link({
      addresses: [0, 1, 2, 3].map(() => `${longHost}:65535`),
      displayName: emojiName,
      dhtBinding,
      expiresAt: new Date(999_999_999_999_000),
    }),
  );
  t.ok(longest.length <= schema.maxLength, `longest accepted link is ${longest.length} characters`);
  t.match(longest, LINK_PATTERN);
  t.same(parsePairingLink(longest).addresses, [0, 1, 2, 3].map(() => `${longHost}:65535`));
});

t.test('every malformed link is refused as INVALID_INPUT', async (t) => {
  const good = printPairingLink(link({ expiresAt: new Date(2_000_000_000_000) }));
  t.ok(parsePairingLink(good), 'the base link parses');
  const query = good.slice(good.indexOf('?'));
  const upperPeer = peerId.toUpperCase();
  const otherTail = peerId.endsWith('a') ? 'b' : 'r';
  const cases: [string, string][] = [
    ['empty', ''],
    ['wrong scheme', `https://${peerId}${query}`],
    ['scheme in upper case', `P2P-COMM://${peerId}${query}`],
    ['scheme without slashes', `p2p-comm:${peerId}${query}`],
    ['no peer id', `${LINK_SCHEME}${query}`],
    ['peer id too short', `${LINK_SCHEME}${peerId.slice(1)}${query}`],
    ['peer id too long', `${LINK_SCHEME}${peerId}a${query}`],
    ['peer id with a character outside base32', `${LINK_SCHEME}1${peerId.slice(1)}${query}`],
    ['peer id in upper case (non-canonical)', `${LINK_SCHEME}${upperPeer}${query}`],
    ['peer id with non-zero padding bits (non-canonical)', `${LINK_SCHEME}${peerId.slice(0, -1)}${otherTail}${query}`],
    ['peer id followed by a path', `${LINK_SCHEME}${peerId}/${query}`],
    ['no query at all', `${LINK_SCHEME}${peerId}`],
    ['no addr', `${LINK_SCHEME}${peerId}?name=Bob`],
    ['empty addr', `${LINK_SCHEME}${peerId}?addr=&name=Bob`],
    ['five addrs', `${LINK_SCHEME}${peerId}?addr=a:1&addr=b:2&addr=c:3&addr=d:4&addr=e:5&name=Bob`],
    ['port 0', `${LINK_SCHEME}${peerId}?addr=h:0&name=Bob`],
    ['port 70000', `${LINK_SCHEME}${peerId}?addr=h:70000&name=Bob`],
    ['no port', `${LINK_SCHEME}${peerId}?addr=h&name=Bob`],
    ['unbracketed IPv6', `${LINK_SCHEME}${peerId}?addr=::1:7070&name=Bob`],
    ['host with a space', `${LINK_SCHEME}${peerId}?addr=a%20b:1&name=Bob`],
    ['unknown field', `${LINK_SCHEME}${peerId}?addr=h:1&name=Bob&via=x`],
    ['unknown field in another case', `${LINK_SCHEME}${peerId}?addr=h:1&Name=Bob`],
    ['two names', `${LINK_SCHEME}${peerId}?addr=h:1&name=Bob&name=Eve`],
    ['no name', `${LINK_SCHEME}${peerId}?addr=h:1`],
    ['empty name', `${LINK_SCHEME}${peerId}?addr=h:1&name=`],
    ['blank name', `${LINK_SCHEME}${peerId}?addr=h:1&name=%20%20`],
    ['name with a control char', `${LINK_SCHEME}${peerId}?addr=h:1&name=Bob%0AAdmin`],
    ['name with a NUL', `${LINK_SCHEME}${peerId}?addr=h:1&name=Bob%00`],
    ['name with a bidi override', `${LINK_SCHEME}${peerId}?addr=h:1&name=Bob%E2%80%AE`],
    ['name of 65 characters', `${LINK_SCHEME}${peerId}?addr=h:1&name=${'x'.repeat(65)}`],
    ['exp not a number', `${LINK_SCHEME}${peerId}?addr=h:1&name=Bob&exp=soon`],
    ['exp negative', `${LINK_SCHEME}${peerId}?addr=h:1&name=Bob&exp=-1`],
    ['exp with a fraction', `${LINK_SCHEME}${peerId}?addr=h:1&name=Bob&exp=1.5`],
    ['exp in exponent notation', `${LINK_SCHEME}${peerId}?addr=h:1&name=Bob&exp=1e9`],
    ['exp empty', `${LINK_SCHEME}${peerId}?addr=h:1&name=Bob&exp=`],
    ['exp beyond the last time a Date holds', `${LINK_SCHEME}${peerId}?addr=h:1&name=Bob&exp=8640000000001`],
    ['exp of 14 digits', `${LINK_SCHEME}${peerId}?addr=h:1&name=Bob&exp=12345678901234`],
    ['two exps', `${LINK_SCHEME}${peerId}?addr=h:1&name=Bob&exp=10&exp=20`],
  ];
  for (const [label, text] of cases) {
    let caught: unknown;
    try {
      parsePairingLink(text);
    } catch (error) {
      caught = error;
    }
    t.ok(caught instanceof P2pError, `${label}: throws a P2pError`);
    t.match(caught, { errorName: 'INVALID_INPUT', message: /^invalid pairing link: / }, label);
  }
});

t.test('a DHT key is printed as 214 base64url characters, after the addresses and before the name', async (t) => {
  const printed = printPairingLink(link({ dhtBinding }));
  t.equal(DHT_KEY_BINDING_BYTES, 160);
  t.ok(printed.includes(`&dht=${dhtParam}&name=`), 'unescaped, in place');
  t.equal(dhtParam.length, 214);
  t.notMatch(printPairingLink(link()), /dht=/, 'no DHT key, no field');
});

t.test('a malformed DHT key is refused, saying what is wrong', async (t) => {
  const base = `${LINK_SCHEME}${peerId}?addr=h:1&name=B`;
  const notBase64url = /^invalid pairing link: its DHT key is not 160 bytes of unpadded base64url; ask the other person for a fresh link from their identity$/;
  const cases: [string, string][] = [
    ['empty', ''],
    ['213 characters', dhtParam.slice(1)],
    ['215 characters', `${dhtParam}A`],
    ['the same bytes spelt with unused low bits set', `${dhtParam.slice(0, 213)}${String.fromCharCode(dhtParam.charCodeAt(213) + 1)}`],
    ['standard base64 "/"', `/${dhtParam.slice(1)}`],
    ['standard base64 "+" (a space once decoded)', `+${dhtParam.slice(1)}`],
    ['padded', `${dhtParam}==`],
    ['a percent-encoded non-ASCII character', `%C3%A9${dhtParam.slice(1)}`],
    ['a NUL', `%00${dhtParam.slice(1)}`],
    ['96 bytes (a key with one signature)', Buffer.from(dhtBinding.subarray(0, 96)).toString('base64url')],
    ['32 bytes (a key without its signature)', Buffer.from(dhtBinding.subarray(0, 32)).toString('base64url')],
  ];
  for (const [label, value] of cases) t.match(refusal(`${base}&dht=${value}`), notBase64url, label);
  t.match(refusal(`${base}&dht=${dhtParam}&dht=${dhtParam}`), /^invalid pairing link: it carries more than one DHT key; /, 'the same key twice');
  t.match(refusal(`${LINK_SCHEME}${peerId}?dht=${dhtParam}&dht=&name=B`), /more than one DHT key/, 'a second, empty one');
  t.match(refusal(`${base}&DHT=${dhtParam}`), /unknown field "DHT"/, 'the field name in another case');
  for (const text of [`${base}&dht=${dhtParam.slice(1)}`, `${base}&dht=${dhtParam}&dht=${dhtParam}`]) {
    t.throws(() => parsePairingLink(text), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  }
});

t.test('a link needs an address or a DHT key; either alone will do', async (t) => {
  t.match(refusal(`${LINK_SCHEME}${peerId}?name=B`), /^invalid pairing link: it carries no address and no DHT key; /);
  t.match(refusal(`${LINK_SCHEME}${peerId}?name=B&exp=10`), /no address and no DHT key/, 'an expiry is not a way to reach anyone');
  t.same(parsePairingLink(`${LINK_SCHEME}${peerId}?dht=${dhtParam}&name=B`), { peerId, addresses: [], displayName: 'B', dhtBinding, expiresAt: null });
  t.same(parsePairingLink(`${LINK_SCHEME}${peerId}?addr=h:1&name=B`).dhtBinding, null);
  // The other checks still hold on a DHT-only link.
  t.match(refusal(`${LINK_SCHEME}${peerId}?dht=${dhtParam}`), /name/, 'no name');
  t.match(refusal(`${LINK_SCHEME}${peerId}?addr=a:1&addr=b:2&addr=c:3&addr=d:4&addr=e:5&dht=${dhtParam}&name=B`), /more than 4 addresses/);
  t.match(refusal(`${LINK_SCHEME}${peerId}?addr=h:0&dht=${dhtParam}&name=B`), /"h:0" is not a host:port address/, 'a bad address beside a good DHT key');
});

/** The message parsing `text` throws. */
function refusal(text: string): string {
  try {
    parsePairingLink(text);
  } catch (error) {
    return (error as Error).message;
  }
  return 'accepted';
}

t.test('the refusal says what is wrong', async (t) => {
  t.match(refusal(`http://${peerId}?addr=h:1&name=B`), /must start with p2p-comm:\/\//);
  t.match(refusal(`${LINK_SCHEME}${peerId.toUpperCase()}?addr=h:1&name=B`), /peer id/);
  t.match(refusal(`${LINK_SCHEME}${peerId}?addr=h:1&name=B&x=1`), /unknown field "x"/);
  t.match(refusal(`${LINK_SCHEME}${peerId}?addr=h:0&name=B`), /"h:0" is not a host:port address/);
  t.match(refusal(`${LINK_SCHEME}${peerId}?name=B`), /no address/);
  t.match(refusal(`${LINK_SCHEME}${peerId}?addr=h:1&name=B&exp=1&exp=2`), /more than one expiry/);
});

t.test('a link whose key stands for no one is refused, naming the reason', async (t) => {
  for (const [reason, key] of Object.entries(WEAK_KEYS) as [PublicKeyRefusal, Uint8Array][]) {
    const text = printPairingLink(link({ peerId: peerIdFromPublicKey(key) }));
    t.throws(
      () => parsePairingLink(text),
      {
        name: 'P2pError',
        errorName: 'INVALID_INPUT',
        message: new RegExp(`^invalid pairing link: the key in its peer id .*\\(${reason}\\); ask the other person for a fresh link`),
        details: { path: '/link', rule: 'ed25519_public_key', reason },
      },
      reason,
    );
  }
  const small = peerIdFromPublicKey(WEAK_KEYS.small_order);
  t.match(refusal(`${LINK_SCHEME}${small}?addr=h:0&name=B`), /"h:0" is not a host:port address/, 'form faults are reported before the key is decoded');
});

t.test('a hostile field name or address is quoted escaped and cut, never raw', async (t) => {
  // ESC [2J, the 8-bit CSI, NEL, a line break, LINE SEPARATOR, RIGHT-TO-LEFT OVERRIDE, ZERO WIDTH SPACE, BOM, a tag character.
  const hostile = '%1B%5B2J%C2%9B%C2%85%0A%E2%80%A8%E2%80%AE%E2%80%8B%EF%BB%BF%F3%A0%81%81';
  const escaped = '\\u001b[2J\\u009b\\u0085\\n\\u2028\\u202e\\u200b\\ufeff\\udb40\\udc41';
  const key = refusal(`${LINK_SCHEME}${peerId}?addr=h:1&name=B&x${hostile}y=1`);
  const address = refusal(`${LINK_SCHEME}${peerId}?addr=h${hostile}:1&name=B`);
  t.ok(key.includes(`unknown field "x${escaped}y";`), 'the field name, escaped');
  t.ok(address.includes(`"h${escaped}:1" is not a host:port address;`), 'the address, escaped');
  const long = refusal(`${LINK_SCHEME}${peerId}?addr=${'%E2%80%AE'.repeat(500)}:1&name=B`);
  t.match(long, new RegExp(`^invalid pairing link: "(\\\\u202e){64}"… is not a host:port address;`), 'cut after 64 characters');
  for (const message of [key, address, long]) {
    t.notMatch(message, /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u, 'no control, format or separator character survives');
  }
});

t.test('isValidAddress', async (t) => {
  const valid = [
    '127.0.0.1:1',
    '192.168.1.20:7070',
    'localhost:65535',
    'alice-laptop.local:7070',
    '[::1]:7070',
    '[fe80::1]:80',
    '[2001:db8::8a2e:370:7334]:443',
    '[::ffff:10.0.0.1]:7070',
    `${'a'.repeat(253)}:1`,
  ];
  const invalid = [
    '',
    'localhost',
    'localhost:',
    ':7070',
    'host:0',
    'host:65536',
    'host:70000',
    'host:123456',
    'host:-1',
    'host:7o7o',
    '::1:7070',
    '[::1]',
    '[]:7070',
    '[g::1]:7070',
    '[::1%eth0]:7070',
    'under_score:80',
    'a b:80',
    'host:80/path',
    'user@host:80',
    ' host:80',
    'host:80 ',
    `${'a'.repeat(254)}:1`,
  ];
  for (const address of valid) t.equal(isValidAddress(address), true, `${JSON.stringify(address)} is valid`);
  for (const address of invalid) t.equal(isValidAddress(address), false, `${JSON.stringify(address)} is invalid`);
});

t.test('a rotated node’s link carries its current key and key chain, after the DHT key and before the name', async (t) => {
  const rotated = rotatedKeys(2);
  const rotation = { key: (rotated.keys[2] as RotationSigner).publicKey, chain: encodeKeyChain(rotated.chains[2] as RotationStatement[]) };
  const original = link({ peerId: rotated.peerId, dhtBinding, rotation });
  const printed = printPairingLink(original);
  const keyText = peerIdFromPublicKey(rotation.key);
  t.ok(printed.includes(`&dht=${dhtParam}&key=${keyText}&chain=${Buffer.from(rotation.chain).toString('base64url')}&name=`), 'in place, unescaped');
  t.same(parsePairingLink(printed), original);
  t.notMatch(printPairingLink(link()), /key=|chain=/, 'an unrotated node’s link has neither');
  t.equal(parsePairingLink(printPairingLink(link())).rotation, undefined);
  t.equal(MAX_LINK_KEY_CHAIN_BYTES, MAX_KEY_CHAIN_BYTES, 'the link holds the longest key chain the wire allows');
});

t.test('the longest link, with a full key chain, fits the manifest’s limit', async (t) => {
  const full = rotatedKeys(MAX_KEY_CHAIN);
  const chain = encodeKeyChain(full.chains[MAX_KEY_CHAIN] as RotationStatement[]);
  t.equal(chain.length, MAX_KEY_CHAIN_BYTES);
  const longHost = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
  const longest = printPairingLink({
    peerId: full.peerId,
    addresses: [0, 1, 2, 3].map(() => `${longHost}:65535`),
    displayName: '🦊'.repeat(64),
    dhtBinding,
    expiresAt: new Date(999_999_999_999_000),
    rotation: { key: (full.keys[MAX_KEY_CHAIN] as RotationSigner).publicKey, chain },
  });
  t.ok(longest.length <= schema.maxLength, `longest link is ${longest.length} characters`);
  t.match(longest, LINK_PATTERN);
  t.same(parsePairingLink(longest).rotation?.chain, chain);
});

t.test('a current key and key chain that are not well formed are refused, saying what is wrong', async (t) => {
  const rotated = rotatedKeys(1);
  const keyText = peerIdFromPublicKey((rotated.keys[1] as RotationSigner).publicKey);
  const chainText = Buffer.from(encodeKeyChain(rotated.chains[1] as RotationStatement[])).toString('base64url');
  const base = `${LINK_SCHEME}${rotated.peerId}?addr=h:1&name=B`;
  t.ok(parsePairingLink(`${base}&key=${keyText}&chain=${chainText}`).rotation, 'the well-formed link parses');
  const bothOrNeither = /^invalid pairing link: it must carry exactly one current key and one key chain, or neither; /;
  t.match(refusal(`${base}&key=${keyText}`), bothOrNeither, 'a key without a chain');
  t.match(refusal(`${base}&chain=${chainText}`), bothOrNeither, 'a chain without a key');
  t.match(refusal(`${base}&key=${keyText}&key=${keyText}&chain=${chainText}`), bothOrNeither, 'two keys');
  t.match(refusal(`${base}&key=${keyText}&chain=${chainText}&chain=${chainText}`), bothOrNeither, 'two chains');
  t.match(refusal(`${base}&key=${keyText.toUpperCase()}&chain=${chainText}`), /its current key is not spelled as a p2p-comm peer id/, 'a key in upper case');
  t.match(refusal(`${base}&key=${keyText.slice(1)}&chain=${chainText}`), /its current key is not spelled as a p2p-comm peer id/, 'a key too short');
  t.match(refusal(`${base}&key=${rotated.peerId}&chain=${chainText}`), /its current key is the one its peer id names, so it needs no key chain/);
  const notChain = /its key chain is not 1 to 3745 bytes of unpadded base64url/;
  t.match(refusal(`${base}&key=${keyText}&chain=`), notChain, 'an empty chain');
  t.match(refusal(`${base}&key=${keyText}&chain=${chainText}=`), notChain, 'padded');
  t.match(refusal(`${base}&key=${keyText}&chain=/${chainText.slice(1)}`), notChain, 'standard base64');
  t.match(refusal(`${base}&key=${keyText}&chain=${chainText}B`), notChain, 'a last character with unused low bits set');
  t.match(refusal(`${base}&key=${keyText}&chain=${'A'.repeat(Math.ceil((MAX_KEY_CHAIN_BYTES * 4) / 3) + 2)}`), notChain, 'longer than the longest chain');
  t.match(refusal(`${base}&Key=${keyText}&chain=${chainText}`), /unknown field "Key"/);
  for (const [reason, weakKey] of Object.entries(WEAK_KEYS) as [PublicKeyRefusal, Uint8Array][]) {
    t.match(
      refusal(`${base}&key=${peerIdFromPublicKey(weakKey)}&chain=${chainText}`),
      new RegExp(`^invalid pairing link: its current key .*\\(${reason}\\); `),
      `a current key that is ${reason}`,
    );
  }
});
