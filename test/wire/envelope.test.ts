import fc from 'fast-check';
import t from 'tap';
import { EnvelopeError, decodeEnvelope, encodeEnvelope, signEnvelope, verifyEnvelope, type Envelope } from '../../extension/wire/envelope';
import { throwawayIdentity } from '../helpers/raw-peer';

const alice = throwawayIdentity();
const bob = throwawayIdentity();
const MAX = 4096;

const envelopeArbitrary = fc.record({
  messageId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  recipient: fc.constant(bob.publicKey),
  sender: fc.constant(alice.publicKey),
  timestamp: fc.integer({ min: 0, max: 2 ** 48 }),
  nonce: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  type: fc.constantFrom<'text' | 'json'>('text', 'json'),
  correlationId: fc.option(fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/), { nil: null }),
  payload: fc.uint8Array({ maxLength: 512 }),
});

const sign = (envelope: Envelope) => signEnvelope(envelope, (m) => alice.sign(m));

t.test('encode/decode round trip and the signature verifies', async (t) => {
  fc.assert(
    fc.property(envelopeArbitrary, (envelope) => {
      const signed = sign(envelope);
      const decoded = decodeEnvelope(encodeEnvelope(signed), MAX);
      return verifyEnvelope(decoded) && Buffer.compare(encodeEnvelope(decoded), encodeEnvelope(signed)) === 0;
    }),
    { numRuns: 200, seed: 42 },
  );
  t.pass('200 envelopes');
});

t.test('changing any signed field breaks the signature', async (t) => {
  const changes: [string, (e: Envelope) => Envelope][] = [
    ['message id', (e) => ({ ...e, messageId: flip(e.messageId) })],
    ['recipient', (e) => ({ ...e, recipient: alice.publicKey })],
    ['timestamp', (e) => ({ ...e, timestamp: e.timestamp + 1 })],
    ['nonce', (e) => ({ ...e, nonce: flip(e.nonce) })],
    ['type', (e) => ({ ...e, type: e.type === 'text' ? 'json' : 'text' })],
    ['correlation id', (e) => ({ ...e, correlationId: e.correlationId === null ? 'x' : null })],
    ['payload', (e) => ({ ...e, payload: Uint8Array.from([...e.payload, 0]) })],
  ];
  for (const [name, change] of changes) {
    fc.assert(
      fc.property(envelopeArbitrary, (envelope) => {
        const signed = sign(envelope);
        return !verifyEnvelope({ ...change(envelope), signature: signed.signature });
      }),
      { numRuns: 50, seed: 7 },
    );
    t.pass(name);
  }
  const signed = sign(fc.sample(envelopeArbitrary, { numRuns: 1, seed: 1 })[0] as Envelope);
  t.notOk(verifyEnvelope({ ...signed, sender: bob.publicKey }), 'another sender key');
});

t.test('no byte string makes the decoder do anything but decode or refuse', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      try {
        decodeEnvelope(bytes, MAX);
        return true;
      } catch (error) {
        return error instanceof EnvelopeError;
      }
    }),
    { numRuns: 2000, seed: 3 },
  );
  t.pass('2000 random inputs');
  const valid = encodeEnvelope(sign(fc.sample(envelopeArbitrary, { numRuns: 1, seed: 2 })[0] as Envelope));
  for (let cut = 0; cut < valid.length; cut += 1) {
    t.throws(() => decodeEnvelope(valid.subarray(0, cut), MAX), EnvelopeError, `truncated at ${cut}`);
  }
  t.throws(() => decodeEnvelope(Buffer.concat([valid, Uint8Array.of(0)]), MAX), /length does not match/);
  const five = encodeEnvelope(sign({ ...(fc.sample(envelopeArbitrary, { numRuns: 1, seed: 2 })[0] as Envelope), payload: Buffer.from('hello') }));
  t.throws(() => decodeEnvelope(five, 4), /payload of 5 bytes exceeds the limit of 4 bytes/);
});

function flip(bytes: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[0] = (copy[0] as number) ^ 1;
  return copy;
}
