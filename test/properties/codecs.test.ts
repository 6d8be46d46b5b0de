import { mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { isValidDisplayName } from '../../extension/common/display-name';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { parsePairingLink, printPairingLink } from '../../extension/common/pairing-link';
import { RecordLog } from '../../extension/store/record-log';
import { HandshakeError, InitiatorHandshake, ResponderHandshake } from '../../extension/wire/handshake';
import { Intent } from '../../extension/wire/handshake-payload';
import { ed25519FromSeed } from '../../extension/wire/primitives';
import { throwawayIdentity } from '../helpers/raw-peer';

const nameArbitrary = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
  .filter(isValidDisplayName);
const addressArbitrary = fc.oneof(
  fc.tuple(fc.ipV4(), fc.integer({ min: 1, max: 65535 })).map(([ip, port]) => `${ip}:${port}`),
  fc.tuple(fc.domain(), fc.integer({ min: 1, max: 65535 })).map(([host, port]) => `${host}:${port}`),
  fc.integer({ min: 1, max: 65535 }).map((port) => `[fe80::1]:${port}`),
);

/** Any 160 bytes: the link reads the form of a DHT key binding; its signatures are checked where the link is used. */
const dhtBindingArbitrary = fc.uint8Array({ minLength: 160, maxLength: 160 });

t.test('pairing link: print then parse gives back the same link', async (t) => {
  fc.assert(
    fc.property(
      // Keys of seeds: a link refuses bytes that are no usable key.
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((seed) => ed25519FromSeed(seed).publicKey),
      // A link carries at least one address or a DHT key: no addresses only beside a DHT key.
      fc.oneof(
        fc.record({ addresses: fc.array(addressArbitrary, { minLength: 1, maxLength: 4 }), dhtBinding: fc.option(dhtBindingArbitrary, { nil: null }) }),
        fc.record({ addresses: fc.constant<string[]>([]), dhtBinding: dhtBindingArbitrary }),
      ),
      nameArbitrary,
      fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: null }),
      (key, { addresses, dhtBinding }, displayName, exp) => {
        const link = { peerId: peerIdFromPublicKey(key), addresses, displayName, dhtBinding, expiresAt: exp === null ? null : new Date(exp * 1000) };
        const printed = printPairingLink(link);
        const parsed = parsePairingLink(printed);
        return /^p2p-comm:\/\/[\x21-\x7e]+$/.test(printed) && JSON.stringify(parsed) === JSON.stringify(link) && printPairingLink(parsed) === printed;
      },
    ),
    { numRuns: 300, seed: 11 },
  );
  t.pass('300 links');
});

t.test('pairing link: a dht field is taken exactly when it is the one unpadded base64url spelling of 160 bytes', async (t) => {
  const key = ed25519FromSeed(new Uint8Array(32).fill(7)).publicKey;
  const base64urlCharacter = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_');
  const value = fc.oneof(
    fc.string({ minLength: 0, maxLength: 230 }),
    fc.string({ unit: base64urlCharacter, minLength: 212, maxLength: 216 }),
    // 214 base64url characters with one character anywhere replaced by any other.
    fc.tuple(fc.string({ unit: base64urlCharacter, minLength: 214, maxLength: 214 }), fc.nat(213), fc.string({ minLength: 1, maxLength: 1 })).map(
      ([text, at, other]) => `${text.slice(0, at)}${other}${text.slice(at + 1)}`,
    ),
  );
  fc.assert(
    fc.property(value, (dht) => {
      const text = `p2p-comm://${peerIdFromPublicKey(key)}?dht=${encodeURIComponent(dht)}&name=B`;
      let binding: Uint8Array | null | 'refused';
      try {
        binding = parsePairingLink(text).dhtBinding;
      } catch (error) {
        if (!/^invalid pairing link: its DHT key is not 160 bytes of unpadded base64url; /.test((error as Error).message)) throw error;
        binding = 'refused';
      }
      const canonical = /^[A-Za-z0-9_-]{214}$/.test(dht) && Buffer.from(Buffer.from(dht, 'base64url')).toString('base64url') === dht;
      if (!canonical) return binding === 'refused';
      return binding !== 'refused' && binding !== null && Buffer.from(binding).toString('base64url') === dht;
    }),
    { numRuns: 500, seed: 12 },
  );
  t.pass('500 dht fields');
});

const alice = throwawayIdentity();
const bob = throwawayIdentity();
const payload = { intent: Intent.PAIR_REQUEST, requestId: new Uint8Array(16), listenPort: 1, displayName: 'a' } as const;

t.test('handshake: any order, duplicate or truncation of messages is refused, never accepted', async (t) => {
  const step = fc.constantFrom('start', 'respond-m1', 'respond-m2', 'respond-m3', 'finish-i-m2', 'finish-r-m3', 'finish-r-m1', 'truncate');
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 8 }), fc.nat(), (steps, cut) => {
      const initiator = new InitiatorHandshake(alice, bob.publicKey, payload);
      const responder = new ResponderHandshake(bob, { displayName: 'b' });
      const honest = new InitiatorHandshake(alice, bob.publicKey, payload);
      const m1 = honest.start();
      const m2 = new ResponderHandshake(bob, { displayName: 'b' }).respond(m1);
      const m3 = honest.finish(m2).finish;
      let truncate = false;
      const message = (m: Uint8Array): Uint8Array => (truncate ? m.subarray(0, cut % Math.max(1, m.length)) : m);
      for (const name of steps) {
        try {
          if (name === 'truncate') truncate = true;
          else if (name === 'start') initiator.start();
          else if (name === 'respond-m1') responder.respond(message(m1));
          else if (name === 'respond-m2') responder.respond(message(m2));
          else if (name === 'respond-m3') responder.respond(message(m3));
          else if (name === 'finish-i-m2') initiator.finish(message(m2));
          else if (name === 'finish-r-m1') responder.finish(message(m1));
          else {
            // m3 belongs to another responder's ephemeral key: it can never be accepted here.
            responder.finish(message(m3));
            return false;
          }
        } catch (error) {
          if (!(error instanceof HandshakeError)) return false;
        }
      }
      return true;
    }),
    { numRuns: 500, seed: 12 },
  );
  t.pass('500 sequences');
});

t.test('store records: a log cut at any byte reopens as a prefix of what was written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'p2p-comm-prop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 12 }), fc.nat(), async (bodies, cutSeed) => {
      const path = join(dir, `log-${(run += 1)}`);
      const { log } = RecordLog.open(path, { maxRecordBytes: 1024 });
      await Promise.all(bodies.map((body) => log.append(body)));
      await log.close();
      const size = readFileSync(path).length;
      truncateSync(path, cutSeed % (size + 1));
      let records: Uint8Array[];
      try {
        const reopened = RecordLog.open(path, { maxRecordBytes: 1024 });
        records = reopened.records;
        await reopened.log.close();
      } catch {
        // Cut inside the magic: an empty or partial header is a new log, anything else is refused loudly.
        return cutSeed % (size + 1) < 8;
      }
      return records.length <= bodies.length && records.every((record, i) => Buffer.compare(record, bodies[i] as Uint8Array) === 0);
    }),
    { numRuns: 150, seed: 13 },
  );
  t.pass('150 cut logs');
});
