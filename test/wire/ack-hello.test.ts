import t from 'tap';
import { AckReason, AckStatus, ackReasonName, openAck, signAck } from '../../extension/wire/ack';
import { decodeHello, encodeHello, MAX_HELLO_BYTES } from '../../extension/wire/hello';
import { throwawayIdentity } from '../helpers/raw-peer';
import { oneBitFlips } from '../helpers/bit-flips';

const bob = throwawayIdentity();
const alice = throwawayIdentity();
const ack = { messageId: new Uint8Array(16).fill(3), status: AckStatus.DEFERRED, reason: AckReason.INBOX_FULL } as const;

t.test('a signed ack opens only for its own acker and sender, unaltered', async (t) => {
  const bytes = signAck(ack, bob, alice.publicKey);
  t.same(openAck(bytes, bob.publicKey, alice.publicKey), ack);
  t.equal(openAck(bytes, alice.publicKey, alice.publicKey), null, 'another acker');
  t.equal(openAck(bytes, bob.publicKey, bob.publicKey), null, 'another original sender');
  for (const [i, copy] of oneBitFlips(bytes)) t.equal(openAck(copy, bob.publicKey, alice.publicKey), null, `bit flipped in byte ${i}`);
  t.equal(openAck(bytes.subarray(1), bob.publicKey, alice.publicKey), null, 'truncated');
  t.equal(ackReasonName(AckReason.INBOX_FULL), 'inbox_full');
});

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
