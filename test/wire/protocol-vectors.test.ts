import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import t, { type Test } from 'tap';
import { DEFAULT_AGENT_CARD_LIMITS, normalizeAgentCard } from '../../extension/a2a/agent-card';
import { decodeCard, encodeCard, signCard } from '../../extension/a2a/signed-card';
import { fingerprintOf, peerIdFromPublicKey } from '../../extension/common/peer-id';
import { parsePairingLink, printPairingLink } from '../../extension/common/pairing-link';
import { AckReason, AckStatus } from '../../extension/wire/delivery-codes';
import { InitiatorHandshake, ResponderHandshake } from '../../extension/wire/handshake';
import { Intent } from '../../extension/wire/handshake-payload';
import { ephemeralFromSecret } from '../../extension/wire/primitives';
import { checkRevocationNotice, revocationSigningInput, signRevocationNotice } from '../../extension/wire/revocation-notice';
import { SessionCipher } from '../../extension/wire/session-cipher';
import { checkDhtKeyBinding, dhtPublicKeyOf, signDhtKeyBinding } from '../../extension/wire/dht-key-binding';
import { MerkleTree } from '../../extension/wire/merkle';
import { decodeLeaf, encodeLeaf } from '../../extension/wire/message-leaf';
import { checkMessage, decodeMessageProof, encodeMessageProof, messageProof } from '../../extension/wire/message-proof';
import { openReceipt, signReceipt } from '../../extension/wire/receipt';
import { batchSigningInput, checkBatch, decodeBatch, signBatch } from '../../extension/wire/signed-batch';
import { decodeRequestPayload, decodeResponsePayload } from '../../extension/wire/a2a-payload';
import { decodeFileChunk, decodeFileControl, decodeFileOffer } from '../../extension/wire/file-payload';
import { identityFromSeed } from '../helpers/fixed-identity';
import { referenceLeafHash, referencePath, referenceRoot, referenceVerify } from '../helpers/merkle-reference';

/** docs/vectors/protocol-v2.json: the vectors docs/protocol.md publishes. */
const vectors = JSON.parse(readFileSync(join(__dirname, '..', '..', 'docs', 'vectors', 'protocol-v2.json'), 'utf8'));
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
  t.equal(hex(init), `0102${i.ephemeral_public}`, 'init = 0x01 | version 2 | e_I');

  const eR = response.subarray(1, 33);
  t.equal(hex(eR), r.ephemeral_public);
  const secret = x25519.getSharedSecret(bytes(i.ephemeral_secret), eR);
  const th2 = sha256(cat(init, Uint8Array.of(2), eR));
  const kR = hkdf(sha256, secret, th2, text('p2p-comm/2 handshake responder'), 32);
  const kI = hkdf(sha256, secret, th2, text('p2p-comm/2 handshake initiator'), 32);
  const zeroNonce = new Uint8Array(12);
  const p2 = chacha20poly1305(kR, zeroNonce, th2).decrypt(response.subarray(33));
  t.equal(hex(p2.subarray(0, 32)), r.identity_public, 'response carries S_R');
  const sigInputR = cat(text('p2p-comm/2 responder signature\0'), th2, p2.subarray(0, 32));
  t.ok(ed25519.verify(p2.subarray(32, 96), sigInputR, p2.subarray(0, 32)), 'responder signature verifies');
  t.equal(hex(p2.subarray(96)), `0003${hex(text('Bob'))}`, 'responder payload = name_len u16 | name');

  const th3 = sha256(cat(init, response));
  const p3 = chacha20poly1305(kI, zeroNonce, th3).decrypt(finish.subarray(1));
  t.equal(hex(p3.subarray(0, 32)), i.identity_public, 'finish carries S_I');
  const sigInputI = cat(text('p2p-comm/2 initiator signature\0'), th3, p3.subarray(0, 32));
  t.ok(ed25519.verify(p3.subarray(32, 96), sigInputI, p3.subarray(0, 32)), 'initiator signature verifies');
  t.equal(hex(p3.subarray(96)), `02${i.payload.request_id}1ce80005${hex(text('Alice'))}`, 'initiator payload layout');

  const th4 = sha256(cat(init, response, finish));
  t.equal(hex(th4), session.transcript_hash);
  t.equal(hex(hkdf(sha256, secret, th4, text('p2p-comm/2 initiator to responder'), 32)), session.initiator_to_responder);
  const r2i = hkdf(sha256, secret, th4, text('p2p-comm/2 responder to initiator'), 32);
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

t.test('the published agent card: the project code reproduces it and reads it back', async (t) => {
  const v = vectors.agent_card;
  const signer = { ...identityFromSeed(bytes(v.identity_seed)), peerId: v.peer_id };
  const card = normalizeAgentCard(v.card_input);
  t.same(card, v.card, 'a2a_set_card normalizes the SDK-style input to the published card');
  const signed = signCard(card, signer, DEFAULT_AGENT_CARD_LIMITS.maxCardBytes);
  t.same(signed, v.signed_card);
  t.equal(Buffer.from(encodeCard(signed)).toString('utf8'), v.body_utf8, 'the 0x27 body is the JCS text of the signed card');
  t.same(decodeCard(text(v.body_utf8), v.peer_id, DEFAULT_AGENT_CARD_LIMITS), v.signed_card, 'and the receiver takes it as sent');
  t.equal(decodeCard(text(v.body_utf8), vectors.responder.peer_id, DEFAULT_AGENT_CARD_LIMITS), 'bad_header', 'as anyone else’s, never');
});

t.test('the published agent card, read as docs/protocol.md §15 says with noble', async (t) => {
  const v = vectors.agent_card;
  const publicKey = ed25519.getPublicKey(bytes(v.identity_seed));
  t.equal(peerIdFromPublicKey(publicKey), v.peer_id, 'kid is the signer’s peer id');
  t.equal(v.protected_header_utf8, `{"alg":"EdDSA","kid":"${v.peer_id}","typ":"JOSE"}`, 'the one protected header');
  const b64u = (data: string): string => Buffer.from(data, 'utf8').toString('base64url');
  t.equal(v.protected, b64u(v.protected_header_utf8), 'protected = base64url(header), unpadded');
  t.same(v.signed_card.supportedInterfaces, [{ url: `p2p-comm://${v.peer_id}`, protocolBinding: 'urn:p2p-comm:a2a:v1', protocolVersion: '1.0' }]);
  const { signatures, ...payload } = v.signed_card;
  t.same(signatures, [{ protected: v.protected, signature: v.signature }], 'exactly one signature: protected and signature, no unprotected header');
  t.same(JSON.parse(v.jcs_utf8), payload, 'the JCS text is the card without its signatures');
  t.equal(v.signing_input_ascii, `${v.protected}.${b64u(v.jcs_utf8)}`, 'signing input = protected "." base64url(JCS)');
  t.ok(v.signing_input_ascii.startsWith('eyJ'), 'it starts eyJ, as no other input the identity key signs does');
  const signature = Buffer.from(v.signature, 'base64url');
  t.equal(signature.length, 64);
  t.ok(ed25519.verify(signature, text(v.signing_input_ascii), publicKey), 'noble verifies the card signature');
  t.equal(hex(ed25519.sign(text(v.signing_input_ascii), bytes(v.identity_seed))), hex(signature), 'the same deterministic signature');
  t.same(JSON.parse(v.body_utf8), v.signed_card, 'the 0x27 body is the signed card in UTF-8 JSON');
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

interface LeafVector {
  message_id: string;
  created_at_ms: number;
  type: 'text' | 'json';
  correlation_id: string | null;
  payload_utf8: string;
  encoded: string;
}
interface BatchVector {
  name: string;
  leaves: LeafVector[];
  leaf_hashes: string[];
  root: string;
  signing_input: string;
  signature: string;
  encoded: string;
  proofs: { index: number; path: string[]; encoded: string }[];
}
const batches = vectors.batches as BatchVector[];
/** Batches go from the initiator (Alice) to the responder (Bob), signed at this time. */
const BATCH_TIME_MS = vectors.batch_time_ms as number;

t.test('the batch vectors cover an odd batch and a batch of one', async (t) => {
  t.same([vectors.batch_sender, vectors.batch_recipient], ['initiator', 'responder']);
  t.same(
    batches.map((b) => b.leaves.length),
    [5, 1],
  );
});

for (const v of batches) {
  t.test(`${v.name}: the project code reproduces the published leaves, batch and proofs`, async (t) => {
    const sender = identityFromSeed(bytes(vectors.initiator.identity_seed));
    const recipient = identityFromSeed(bytes(vectors.responder.identity_seed));
    const leaves = v.leaves.map((leaf) =>
      encodeLeaf({ messageId: bytes(leaf.message_id), createdAt: leaf.created_at_ms, type: leaf.type, correlationId: leaf.correlation_id, payload: text(leaf.payload_utf8) }),
    );
    t.same(leaves.map(hex), v.leaves.map((leaf) => leaf.encoded));
    for (const leaf of v.leaves) {
      const decoded = decodeLeaf(bytes(leaf.encoded), 1024);
      t.same([hex(decoded.messageId), decoded.createdAt, decoded.type, decoded.correlationId, Buffer.from(decoded.payload).toString('utf8')], [
        leaf.message_id,
        leaf.created_at_ms,
        leaf.type,
        leaf.correlation_id,
        leaf.payload_utf8,
      ]);
    }
    const tree = MerkleTree.fromLeaves(leaves);
    t.same(leaves.map((_, n) => hex(tree.leafHash(n))), v.leaf_hashes);
    t.equal(hex(tree.root), v.root);
    t.equal(hex(signBatch(leaves, sender, recipient.publicKey, BATCH_TIME_MS)), v.encoded);
    const batch = decodeBatch(bytes(v.encoded));
    t.equal(hex(batchSigningInput(batch.header, tree.root)), v.signing_input);
    t.equal(checkBatch(batch.header, MerkleTree.fromLeaves(batch.leaves)), null);
    for (const proof of v.proofs) {
      t.equal(hex(encodeMessageProof(messageProof(batch.header, tree, proof.index))), proof.encoded, `proof ${proof.index}`);
      t.equal(checkMessage(leaves[proof.index] as Uint8Array, decodeMessageProof(bytes(proof.encoded))), null);
    }
  });

  t.test(`${v.name}: an independent implementation (noble, RFC 6962/9162) reads them as documented`, async (t) => {
    const senderPublic = ed25519.getPublicKey(bytes(vectors.initiator.identity_seed));
    const recipientPublic = ed25519.getPublicKey(bytes(vectors.responder.identity_seed));
    // Each leaf by offsets: message_id [16] | created_at u64 | type u8 | correlation_len u8 | correlation | payload.
    for (const leaf of v.leaves) {
      const encoded = bytes(leaf.encoded);
      const view = new DataView(encoded.buffer, encoded.byteOffset);
      const correlationLength = encoded[25] as number;
      t.equal(hex(encoded.subarray(0, 16)), leaf.message_id);
      t.equal(view.getBigUint64(16), BigInt(leaf.created_at_ms));
      t.equal(encoded[24], leaf.type === 'text' ? 1 : 2);
      t.equal(Buffer.from(encoded.subarray(26, 26 + correlationLength)).toString('latin1'), leaf.correlation_id ?? '');
      t.equal(Buffer.from(encoded.subarray(26 + correlationLength)).toString('utf8'), leaf.payload_utf8, 'the payload is the rest of the leaf');
    }
    const leaves = v.leaves.map((leaf) => bytes(leaf.encoded));
    t.same(leaves.map((leaf) => hex(referenceLeafHash(leaf))), v.leaf_hashes, 'leaf hash = SHA-256(0x00 | leaf)');
    const root = referenceRoot(leaves);
    t.equal(hex(root), v.root, 'root = RFC 6962 MTH with 0x01 for inner nodes');

    const time = new Uint8Array(8);
    new DataView(time.buffer).setBigUint64(0, BigInt(BATCH_TIME_MS));
    const count = Uint8Array.of(leaves.length >> 8, leaves.length & 0xff);
    const signingInput = cat(text('P2P-COMM-BATCH2-ED25519-SHA256'), Uint8Array.of(0), senderPublic, recipientPublic, time, count, root);
    t.equal(hex(signingInput), v.signing_input, 'tag | 0x00 | sender | recipient | time u64 | leaf_count u16 | root');
    t.equal(hex(ed25519.sign(signingInput, bytes(vectors.initiator.identity_seed))), v.signature, 'Ed25519 is deterministic: the same signature');

    // The batch, read by offsets: header [138], then (length u32 | leaf) per leaf.
    const encoded = bytes(v.encoded);
    const header = encoded.subarray(0, 138);
    t.equal(hex(header), hex(cat(senderPublic, recipientPublic, time, count, bytes(v.signature))), 'sender | recipient | time | leaf_count | signature');
    let at = 138;
    for (const leaf of leaves) {
      const length = new DataView(encoded.buffer, encoded.byteOffset + at, 4).getUint32(0);
      t.equal(hex(encoded.subarray(at + 4, at + 4 + length)), hex(leaf));
      at += 4 + length;
    }
    t.equal(at, encoded.length, 'nothing after the last leaf');

    for (const proof of v.proofs) {
      const path = referencePath(proof.index, leaves);
      t.same(path.map(hex), proof.path, `PATH(${proof.index}, D[${leaves.length}])`);
      const stored = bytes(proof.encoded);
      t.equal(hex(stored.subarray(0, 138)), hex(header), 'a proof starts with the batch header');
      const index = new DataView(stored.buffer, stored.byteOffset + 138, 2).getUint16(0);
      t.equal(index, proof.index, 'then the index u16');
      const storedPath = Array.from({ length: (stored.length - 140) / 32 }, (_, step) => stored.subarray(140 + 32 * step, 172 + 32 * step));
      t.same(storedPath.map(hex), proof.path, 'then the path, nearest sibling first');
      t.ok(referenceVerify(referenceLeafHash(leaves[index] as Uint8Array), index, leaves.length, storedPath, root), 'RFC 9162 verifies the inclusion');
      t.ok(ed25519.verify(stored.subarray(74, 138), signingInput, senderPublic), 'and noble the signature over the root it leads to');
    }
  });
}

t.test('the published A2A batch: the project code reproduces it; noble reads the leaf types and verifies the signature as §16 says', async (t) => {
  const v = vectors.a2a_batch as Omit<BatchVector, 'name' | 'proofs' | 'leaves'> & { leaves: (Omit<LeafVector, 'type'> & { type: 'a2a_request' | 'a2a_response' })[] };
  const sender = identityFromSeed(bytes(vectors.initiator.identity_seed));
  const recipient = identityFromSeed(bytes(vectors.responder.identity_seed));
  const leaves = v.leaves.map((leaf) =>
    encodeLeaf({ messageId: bytes(leaf.message_id), createdAt: leaf.created_at_ms, type: leaf.type, correlationId: leaf.correlation_id, payload: text(leaf.payload_utf8) }),
  );
  t.same(leaves.map(hex), v.leaves.map((leaf) => leaf.encoded));
  t.equal(hex(signBatch(leaves, sender, recipient.publicKey, BATCH_TIME_MS)), v.encoded);
  const [request, response] = v.leaves.map((leaf) => decodeLeaf(bytes(leaf.encoded), 1024));
  t.same(decodeRequestPayload(request?.payload as Uint8Array), {
    method: 'SendMessage',
    params: { message: { messageId: 'msg-1', contextId: 'ctx-1', role: 'ROLE_USER', parts: [{ text: 'Which day suits you?' }] } },
    service: {},
    expiresAt: BATCH_TIME_MS + 86_400_000,
  });
  t.same(decodeResponsePayload(response?.payload as Uint8Array), { seq: 0, kind: 'result', result: { task: { id: 'task-1', contextId: 'ctx-1', status: { state: 'TASK_STATE_COMPLETED' } } } });
  t.equal(response?.correlationId, v.leaves[0]?.message_id, 'the answer names its request by the request envelope’s id');

  const encodedLeaves = v.leaves.map((leaf) => bytes(leaf.encoded));
  t.same(encodedLeaves.map((leaf) => leaf[24]), [3, 4], 'type byte 3 a2a_request, 4 a2a_response');
  nobleVerifiesBatch(t, v, encodedLeaves, 'noble verifies the batch signature');
});

t.test('the published file batch: the project code reproduces it; noble reads the leaf types, the chunk header and the signature as §9 says', async (t) => {
  type FileLeafVector = Omit<LeafVector, 'type' | 'payload_utf8'> & { type: 'file_offer' | 'file_control' | 'file_chunk'; payload_hex: string };
  const v = vectors.file_batch as Omit<BatchVector, 'name' | 'proofs' | 'leaves'> & { leaves: FileLeafVector[] };
  const sender = identityFromSeed(bytes(vectors.initiator.identity_seed));
  const recipient = identityFromSeed(bytes(vectors.responder.identity_seed));
  const leaves = v.leaves.map((leaf) =>
    encodeLeaf({ messageId: bytes(leaf.message_id), createdAt: leaf.created_at_ms, type: leaf.type, correlationId: leaf.correlation_id, payload: bytes(leaf.payload_hex) }),
  );
  t.same(leaves.map(hex), v.leaves.map((leaf) => leaf.encoded));
  t.equal(hex(signBatch(leaves, sender, recipient.publicKey, BATCH_TIME_MS)), v.encoded);
  const [offer, control, chunk] = v.leaves.map((leaf) => decodeLeaf(bytes(leaf.encoded), 1 << 20));
  const data = text('Q3 numbers\n');
  t.same(decodeFileOffer(offer?.payload as Uint8Array), {
    name: 'q3.txt',
    size: data.length,
    sha256: hex(sha256(data)),
    chunkSize: 262_144,
    mediaType: 'text/plain',
    description: 'Q3 numbers we discussed',
  });
  t.same(decodeFileControl(control?.payload as Uint8Array), { action: 'cancel', reason: 'user' });
  t.equal(control?.correlationId, v.leaves[0]?.message_id, 'a control names its transfer by the offer’s message id');
  t.same(decodeFileChunk(chunk?.payload as Uint8Array), { transferId: bytes(v.leaves[0]?.message_id as string), index: 0, data });

  const encodedLeaves = v.leaves.map((leaf) => bytes(leaf.encoded));
  t.same(encodedLeaves.map((leaf) => leaf[24]), [5, 6, 7], 'type bytes 5 file_offer, 6 file_control, 7 file_chunk');
  const chunkPayload = bytes(v.leaves[2]?.payload_hex as string);
  t.equal(hex(chunkPayload.subarray(0, 16)), v.leaves[0]?.message_id, 'transfer_id [16]: the offer’s message id');
  t.equal(new DataView(chunkPayload.buffer, chunkPayload.byteOffset).getUint32(16), 0, 'index u32, big-endian');
  t.equal(hex(sha256(chunkPayload.subarray(20))), JSON.parse(Buffer.from(bytes(v.leaves[0]?.payload_hex as string)).toString('utf8')).sha256, 'the one chunk is the file the offer hashed');
  nobleVerifiesBatch(t, v, encodedLeaves, 'noble verifies the batch signature, which covers the offer’s sha256');
});

/**
 * A published batch read by an independent implementation: leaf hashes and
 * root as RFC 6962, the signing input as §9 writes it, the signature
 * verified by noble and found in the batch header.
 */
function nobleVerifiesBatch(
  t: Test,
  v: { leaf_hashes: string[]; root: string; signing_input: string; signature: string; encoded: string },
  encodedLeaves: Uint8Array[],
  verified: string,
): void {
  t.same(encodedLeaves.map((leaf) => hex(referenceLeafHash(leaf))), v.leaf_hashes);
  const root = referenceRoot(encodedLeaves);
  t.equal(hex(root), v.root);
  const time = new Uint8Array(8);
  new DataView(time.buffer).setBigUint64(0, BigInt(BATCH_TIME_MS));
  const senderPublic = ed25519.getPublicKey(bytes(vectors.initiator.identity_seed));
  const recipientPublic = ed25519.getPublicKey(bytes(vectors.responder.identity_seed));
  const signingInput = cat(text('P2P-COMM-BATCH2-ED25519-SHA256'), Uint8Array.of(0), senderPublic, recipientPublic, time, Uint8Array.of(0, encodedLeaves.length), root);
  t.equal(hex(signingInput), v.signing_input);
  t.ok(ed25519.verify(bytes(v.signature), signingInput, senderPublic), verified);
  t.equal(hex(bytes(v.encoded).subarray(74, 138)), v.signature, 'the signature in the batch header');
}

t.test('the published receipt: the project code reproduces it, and noble reads it as documented', async (t) => {
  const v = vectors.receipt;
  const acker = identityFromSeed(bytes(vectors.responder.identity_seed));
  const sender = identityFromSeed(bytes(vectors.initiator.identity_seed));
  const session = bytes(vectors.session.transcript_hash);
  const codes = { refused: AckStatus.REFUSED, deferred: AckStatus.DEFERRED } as const;
  const reasons = { bad_payload: AckReason.BAD_PAYLOAD, inbox_full: AckReason.INBOX_FULL } as const;
  const exceptions = (v.exceptions as { message_id: string; status: keyof typeof codes; reason: keyof typeof reasons }[]).map((e) => ({
    messageId: bytes(e.message_id),
    status: codes[e.status],
    reason: reasons[e.reason],
  }));
  const receipt = { firstBatch: v.first_batch, lastBatch: v.last_batch, exceptions };
  t.equal(hex(signReceipt(receipt, acker, sender.publicKey, session)), v.encoded);
  t.same(openReceipt(bytes(v.encoded), { acker: acker.publicKey, sender: sender.publicKey, session }), receipt);
  const covered = batches.flatMap((b) => b.leaves.map((leaf) => leaf.message_id));
  t.ok(exceptions.every((e) => covered.includes(hex(e.messageId))), 'its exceptions name messages of the batches it covers');

  // By offsets: first u32 | last u32 | count u16 | (id [16] | status u8 | reason u8) × count | signature [64].
  const encoded = bytes(v.encoded);
  const view = new DataView(encoded.buffer, encoded.byteOffset);
  t.same([view.getUint32(0), view.getUint32(4), view.getUint16(8)], [v.first_batch, v.last_batch, 2]);
  t.equal(encoded.length, 10 + 2 * 18 + 64);
  const entries = encoded.subarray(10, 10 + 2 * 18);
  t.same([entries[16], entries[17], entries[34], entries[35]], [3, 8, 4, 9], 'refused bad_payload, deferred inbox_full');
  const count = Uint8Array.of(0, 2);
  const signingInput = cat(
    text('P2P-COMM-RECEIPT2-ED25519-SHA256'),
    Uint8Array.of(0),
    ed25519.getPublicKey(bytes(vectors.responder.identity_seed)),
    ed25519.getPublicKey(bytes(vectors.initiator.identity_seed)),
    session,
    encoded.subarray(0, 8),
    count,
    sha256(entries),
  );
  t.equal(hex(signingInput), v.signing_input, 'tag | 0x00 | acker | sender | session | first | last | count | SHA-256(exceptions)');
  t.ok(ed25519.verify(encoded.subarray(encoded.length - 64), signingInput, acker.publicKey), 'noble verifies the receipt');
  t.equal(hex(ed25519.sign(signingInput, bytes(vectors.responder.identity_seed))), hex(encoded.subarray(encoded.length - 64)), 'the same deterministic signature');
});
