import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import t from 'tap';
import { fingerprintOf, peerIdFromPublicKey } from '../../extension/common/peer-id';
import { parsePairingLink, printPairingLink } from '../../extension/common/pairing-link';
import { AckReason, AckStatus, ackCanonicalString, openAck, signAck } from '../../extension/wire/ack';
import { canonicalString, decodeEnvelope, encodeEnvelope, signEnvelope } from '../../extension/wire/envelope';
import { InitiatorHandshake, ResponderHandshake } from '../../extension/wire/handshake';
import { Intent } from '../../extension/wire/handshake-payload';
import { ephemeralFromSecret } from '../../extension/wire/primitives';
import { checkRevocationNotice, revocationSigningInput, signRevocationNotice } from '../../extension/wire/revocation-notice';
import { SessionCipher } from '../../extension/wire/session-cipher';
import { checkDhtKeyBinding, dhtPublicKeyOf, signDhtKeyBinding } from '../../extension/wire/dht-key-binding';
import { identityFromSeed } from '../helpers/fixed-identity';

/** docs/vectors/protocol-v1.json: the vectors docs/protocol.md publishes. */
const vectors = JSON.parse(readFileSync(join(__dirname, '..', '..', 'docs', 'vectors', 'protocol-v1.json'), 'utf8'));
const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));
const hex = (data: Uint8Array): string => Buffer.from(data).toString('hex');
const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

t.test('the project code reproduces the published handshake byte for byte', async (t) => {
  const { initiator: i, responder: r } = vectors;
  const initiatorIdentity = identityFromSeed(bytes(i.identity_seed));
  const responderIdentity = identityFromSeed(bytes(r.identity_seed));
  t.equal(hex(initiatorIdentity.publicKey), i.identity_public);
  t.equal(peerIdFromPublicKey(initiatorIdentity.publicKey), i.peer_id);
  t.equal(fingerprintOf(responderIdentity.publicKey), r.fingerprint);
  const payload = { intent: Intent.PAIR_REQUEST, requestId: bytes(i.payload.request_id), listenPort: i.payload.listen_port, displayName: i.payload.display_name };
  const initiator = new InitiatorHandshake(initiatorIdentity, responderIdentity.publicKey, payload, ephemeralFromSecret(bytes(i.ephemeral_secret)));
  const responder = new ResponderHandshake(responderIdentity, { displayName: r.payload.display_name }, ephemeralFromSecret(bytes(r.ephemeral_secret)));
  const init = initiator.start();
  t.equal(hex(init), vectors.messages.init);
  const response = responder.respond(init);
  t.equal(hex(response), vectors.messages.response);
  const finished = initiator.finish(response);
  t.equal(hex(finished.finish), vectors.messages.finish);
  t.equal(hex(finished.keys.transcriptHash), vectors.session.transcript_hash);
  t.equal(hex(finished.keys.send), vectors.session.initiator_to_responder);
  t.equal(hex(finished.keys.receive), vectors.session.responder_to_initiator);
  const decision = new SessionCipher(responder.finish(finished.finish).keys.send).seal(bytes(vectors.session.first_responder_message_plaintext));
  t.equal(hex(decision), vectors.session.first_responder_message_sealed);
});

t.test('an independent implementation (noble) reads the same bytes the way docs/protocol.md says', async (t) => {
  const { initiator: i, responder: r, messages, session } = vectors;
  const init = bytes(messages.init);
  const response = bytes(messages.response);
  const finish = bytes(messages.finish);
  t.equal(hex(x25519.getPublicKey(bytes(i.ephemeral_secret))), i.ephemeral_public);
  t.equal(hex(ed25519.getPublicKey(bytes(r.identity_seed))), r.identity_public);
  t.equal(hex(init), `0101${i.ephemeral_public}`, 'init = 0x01 | version | e_I');

  const eR = response.subarray(1, 33);
  t.equal(hex(eR), r.ephemeral_public);
  const secret = x25519.getSharedSecret(bytes(i.ephemeral_secret), eR);
  const th2 = sha256(cat(init, Uint8Array.of(2), eR));
  const kR = hkdf(sha256, secret, th2, text('p2p-comm/1 handshake responder'), 32);
  const kI = hkdf(sha256, secret, th2, text('p2p-comm/1 handshake initiator'), 32);
  const zeroNonce = new Uint8Array(12);
  const p2 = chacha20poly1305(kR, zeroNonce, th2).decrypt(response.subarray(33));
  t.equal(hex(p2.subarray(0, 32)), r.identity_public, 'response carries S_R');
  const sigInputR = cat(text('p2p-comm/1 responder signature\0'), th2, p2.subarray(0, 32));
  t.ok(ed25519.verify(p2.subarray(32, 96), sigInputR, p2.subarray(0, 32)), 'responder signature verifies');
  t.equal(hex(p2.subarray(96)), `0003${hex(text('Bob'))}`, 'responder payload = name_len u16 | name');

  const th3 = sha256(cat(init, response));
  const p3 = chacha20poly1305(kI, zeroNonce, th3).decrypt(finish.subarray(1));
  t.equal(hex(p3.subarray(0, 32)), i.identity_public, 'finish carries S_I');
  const sigInputI = cat(text('p2p-comm/1 initiator signature\0'), th3, p3.subarray(0, 32));
  t.ok(ed25519.verify(p3.subarray(32, 96), sigInputI, p3.subarray(0, 32)), 'initiator signature verifies');
  t.equal(hex(p3.subarray(96)), `02${i.payload.request_id}1ce80005${hex(text('Alice'))}`, 'initiator payload layout');

  const th4 = sha256(cat(init, response, finish));
  t.equal(hex(th4), session.transcript_hash);
  t.equal(hex(hkdf(sha256, secret, th4, text('p2p-comm/1 initiator to responder'), 32)), session.initiator_to_responder);
  const r2i = hkdf(sha256, secret, th4, text('p2p-comm/1 responder to initiator'), 32);
  t.equal(hex(r2i), session.responder_to_initiator);
  const firstNonce = new Uint8Array(12);
  const opened = chacha20poly1305(r2i, firstNonce).decrypt(bytes(session.first_responder_message_sealed));
  t.equal(hex(opened), session.first_responder_message_plaintext, 'session message 0 uses the all-zero counter nonce');
});

t.test('the published pairing link parses and prints back', async (t) => {
  const v = vectors.pairing_link;
  const parsed = parsePairingLink(v.link);
  t.same(parsed, { peerId: v.peer_id, addresses: v.addresses, displayName: v.display_name, dhtBinding: null, expiresAt: new Date(v.expires_at_unix * 1000) });
  t.equal(printPairingLink(parsed), v.link);
  const d = vectors.pairing_link_with_dht;
  const withDht = parsePairingLink(d.link);
  t.same(withDht, { peerId: d.peer_id, addresses: [], displayName: d.display_name, dhtBinding: bytes(d.dht_binding), expiresAt: new Date(v.expires_at_unix * 1000) });
  t.equal(printPairingLink(withDht), d.link, 'a link with a DHT key and no address');
});

t.test('the published DHT key pair and binding: derivation, signing input and bytes', async (t) => {
  const v = vectors.dht_key_binding;
  const seed = bytes(v.identity_seed);
  const identity = { ...identityFromSeed(seed), dhtSeed: bytes(v.dht_seed) };
  // Re-derived with noble, the way docs/protocol.md §1 says.
  t.equal(hex(hkdf(sha256, seed, new Uint8Array(0), text('p2p-comm dht key pair v1'), 32)), v.dht_seed, 'DHT seed = HKDF(identity seed, label)');
  t.equal(hex(ed25519.getPublicKey(bytes(v.dht_seed))), v.dht_public);
  t.equal(hex(dhtPublicKeyOf(identity.dhtSeed)), v.dht_public, 'the project derives the same DHT key');
  t.equal(hex(cat(text('p2p-comm dht key v1\0'), bytes(v.identity_public), bytes(v.dht_public))), v.signing_input, 'label | 0x00 | identity | dht key');
  t.equal(hex(signDhtKeyBinding(identity)), v.encoded);
  const encoded = bytes(v.encoded);
  t.equal(encoded.length, 160, 'dht key [32] | identity signature [64] | DHT key signature [64]');
  t.ok(ed25519.verify(encoded.subarray(32, 96), bytes(v.signing_input), bytes(v.identity_public)), 'noble verifies the identity’s signature');
  t.ok(ed25519.verify(encoded.subarray(96), bytes(v.signing_input), bytes(v.dht_public)), 'and the DHT key’s');
  t.equal(hex(checkDhtKeyBinding(encoded, bytes(v.identity_public)) ?? new Uint8Array(0)), v.dht_public, 'the project accepts it');
  t.equal(checkDhtKeyBinding(encoded, bytes(vectors.initiator.identity_public)), null, 'and refuses it as anyone else’s');
});

t.test('the published envelope and ack: canonical strings, signatures and bytes', async (t) => {
  const v = vectors.envelope;
  const sender = identityFromSeed(bytes(v.sender_seed));
  const recipient = identityFromSeed(bytes(v.recipient_seed));
  const envelope = {
    messageId: bytes(v.message_id),
    sender: sender.publicKey,
    recipient: recipient.publicKey,
    timestamp: v.timestamp_ms,
    nonce: bytes(v.nonce),
    type: v.type,
    correlationId: v.correlation_id,
    payload: text(v.payload_utf8),
  };
  t.equal(canonicalString(envelope), v.canonical_string);
  const signed = signEnvelope(envelope, (m) => sender.sign(m));
  t.equal(hex(signed.signature), v.signature);
  t.equal(hex(encodeEnvelope(signed)), v.encoded);
  t.same(decodeEnvelope(bytes(v.encoded), 1024), signed, 'decodes to the same fields');
  t.ok(ed25519.verify(bytes(v.signature), text(v.canonical_string), sender.publicKey), 'noble verifies the envelope signature');
  t.equal(v.canonical_string.split('\n')[8], hex(sha256(text(v.payload_utf8))), 'the payload enters by its SHA-256');

  const a = vectors.ack;
  const ack = { messageId: envelope.messageId, status: AckStatus.STORED, reason: AckReason.NONE };
  t.equal(ackCanonicalString(ack, recipient.publicKey, sender.publicKey), a.canonical_string);
  t.equal(hex(signAck(ack, recipient, sender.publicKey)), a.encoded);
  t.ok(ed25519.verify(bytes(a.encoded).subarray(18), text(a.canonical_string), recipient.publicKey), 'noble verifies the ack');
  t.same(openAck(bytes(a.encoded), recipient.publicKey, sender.publicKey), ack);
  t.equal(openAck(bytes(a.encoded), sender.publicKey, recipient.publicKey), null, 'an ack does not verify for the other direction');
});

t.test('the published revocation notice: signing input, signature and bytes', async (t) => {
  const v = vectors.revocation_notice;
  const revoker = identityFromSeed(bytes(v.revoker_seed));
  const revoked = identityFromSeed(bytes(v.revoked_seed));
  const notice = { revoker: revoker.publicKey, revoked: revoked.publicKey, timestamp: v.timestamp_ms };
  t.equal(hex(revocationSigningInput(notice)), v.signing_input);
  t.equal(hex(signRevocationNotice(revoker, revoked.publicKey, v.timestamp_ms)), v.encoded);

  // Read the way docs/protocol.md lays it out, with noble.
  const encoded = bytes(v.encoded);
  t.equal(encoded.length, 136);
  t.equal(hex(encoded.subarray(0, 32)), hex(ed25519.getPublicKey(bytes(v.revoker_seed))), 'revoker [32]');
  t.equal(hex(encoded.subarray(32, 64)), hex(ed25519.getPublicKey(bytes(v.revoked_seed))), 'revoked [32]');
  t.equal(Buffer.from(encoded.subarray(64, 72)).readBigUInt64BE(), BigInt(v.timestamp_ms), 'timestamp u64 big-endian');
  const signed = cat(text('p2p-comm revocation v1\0'), encoded.subarray(0, 72));
  t.equal(hex(signed), v.signing_input, 'label | 0x00 | revoker | revoked | timestamp');
  t.ok(ed25519.verify(encoded.subarray(72), signed, encoded.subarray(0, 32)), 'noble verifies the notice');
  const context = { revoker: revoker.publicKey, me: revoked.publicKey, now: v.timestamp_ms, clockSkewMs: 1000 };
  t.equal(checkRevocationNotice(encoded, context), null, 'the project code accepts it');
});
