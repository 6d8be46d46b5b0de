import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import t from 'tap';
import { decodeGroupControl, decodeGroupMessage, encodeGroupControl, encodeGroupMessage, type GroupEnvelope, signGroupEnvelope, verifyGroupEnvelope } from '../../extension/wire/group-payload';
import {
  type EpochStatement,
  epochStatementHash,
  groupIdOf,
  groupSigningInput,
  type JoinStatement,
  signEpochStatement,
  signJoinStatement,
  verifyEpochStatement,
  verifyMemberStatement,
} from '../../extension/wire/group-statement';
import { identityFromSeed } from '../helpers/fixed-identity';
import { referenceBase32, referenceJcs } from '../helpers/groups';

/** docs/vectors/groups-v1.json: the vectors docs/protocol.md §18 publishes. */
const vectors = JSON.parse(readFileSync(join(__dirname, '..', '..', 'docs', 'vectors', 'groups-v1.json'), 'utf8'));
const bytes = (hex: string): Uint8Array => Buffer.from(hex, 'hex');
const hex = (value: Uint8Array): string => Buffer.from(value).toString('hex');
const [alice, bob, carol] = vectors.members as { seed: string; public: string; peer_id: string }[];
const statements = (vectors.group_epoch_statements as { statement: EpochStatement; signing_input: string; hash: string }[]).map((v) => v.statement);
const unsigned = <T extends { sig: string }>(object: T): Omit<T, 'sig'> => {
  const { sig: _sig, ...rest } = object;
  return rest;
};

t.test('the project code reproduces the published group id, statements, join, envelope and payloads', async (t) => {
  const v = vectors.group_id;
  t.equal(groupIdOf(v.creator, bytes(v.nonce)), v.group_id);
  const creator = identityFromSeed(bytes(alice!.seed));
  t.equal(hex(creator.publicKey), alice!.public);
  for (const [i, published] of (vectors.group_epoch_statements as { statement: EpochStatement; signing_input: string; hash: string }[]).entries()) {
    const statement = published.statement;
    t.same(signEpochStatement(unsigned(statement), creator), statement, `epoch ${i}: the same deterministic signature`);
    t.equal(hex(groupSigningInput(statement)), published.signing_input);
    t.equal(epochStatementHash(statement), published.hash);
    t.equal(verifyEpochStatement(statement, creator.publicKey, i === 0 ? null : statements[i - 1]!), null, `epoch ${i} verifies`);
  }
  const joined: JoinStatement = vectors.group_join.statement;
  t.same(signJoinStatement(unsigned(joined), identityFromSeed(bytes(carol!.seed))), joined);
  t.equal(verifyMemberStatement(joined, v.group_id, carol!.peer_id, bytes(carol!.public)), null);
  const envelope: GroupEnvelope = vectors.group_envelope.envelope;
  t.same(signGroupEnvelope(unsigned(envelope), identityFromSeed(bytes(carol!.seed))), envelope);
  t.equal(hex(groupSigningInput(envelope)), vectors.group_envelope.signing_input);
  t.equal(verifyGroupEnvelope(envelope, statements[2]!), null);
  t.equal(Buffer.from(encodeGroupControl({ kind: 'epochs', epochs: [statements[1]!] })).toString('utf8'), vectors.group_control_payload);
  t.same(decodeGroupControl(Buffer.from(vectors.group_control_payload)), { kind: 'epochs', epochs: [statements[1]] });
  t.equal(Buffer.from(encodeGroupMessage({ envelope, relay: [bob!.peer_id] })).toString('utf8'), vectors.group_message_payload);
  t.same(decodeGroupMessage(Buffer.from(vectors.group_message_payload)), { envelope, relay: [bob!.peer_id] });
});

t.test('an independent implementation (noble) reads the published vectors as docs/protocol.md §18 says', async (t) => {
  const v = vectors.group_id;
  t.equal(hex(ed25519.getPublicKey(bytes(alice!.seed))), alice!.public);
  t.equal(v.hash_input, hex(Buffer.concat([Buffer.from('p2p-comm group id v1\0', 'utf8'), bytes(alice!.public), bytes(v.nonce)])));
  t.equal(`grp-${referenceBase32(nobleSha256(bytes(v.hash_input)).subarray(0, 20))}`, v.group_id);
  const signed = [
    ...statements.map((statement) => ({ object: statement, seed: alice!.seed })),
    { object: vectors.group_join.statement as JoinStatement, seed: carol!.seed },
    { object: vectors.group_envelope.envelope as GroupEnvelope, seed: carol!.seed },
  ];
  for (const { object, seed } of signed) {
    const { sig, ...rest } = object as { sig: string };
    const input = Buffer.from(`p2p-comm group v1\0${referenceJcs(rest)}`, 'utf8');
    t.equal(hex(ed25519.sign(input, bytes(seed))), hex(Buffer.from(sig, 'base64url')), `${(object as { t: string }).t}: the same signature over label, 0x00, JCS`);
    t.ok(ed25519.verify(Buffer.from(sig, 'base64url'), input, ed25519.getPublicKey(bytes(seed))));
  }
  for (let i = 1; i < statements.length; i += 1) {
    t.equal(statements[i]!.prev, hex(nobleSha256(Buffer.from(referenceJcs(statements[i - 1]), 'utf8'))), `epoch ${i} names the SHA-256 of epoch ${i - 1}'s JCS`);
  }
  t.equal(vectors.group_envelope.jcs, referenceJcs(vectors.group_envelope.envelope));
});
