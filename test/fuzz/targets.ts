import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { crc32 } from 'node:zlib';
import { DEFAULT_AGENT_CARD_LIMITS, normalizeAgentCard } from '../../extension/a2a/agent-card';
import {
  BindingPayloadError,
  decodeRequestPayload,
  decodeResponsePayload,
  encodeRequestPayload,
  encodeResponsePayload,
} from '../../extension/wire/a2a-payload';
import { CARDS_FILE_NAME, CardStore } from '../../extension/a2a/card-store';
import { EXCHANGES_FILE_NAME, ExchangeStore } from '../../extension/a2a/exchange-store';
import { decodeCard, encodeCard, signCard } from '../../extension/a2a/signed-card';
import { decodeTxt, encodeTxt } from '../../extension/discovery/txt-record';
import { P2pError } from '../../extension/common/errors';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { NewlineMessageReader } from '../../extension/host/line-reader';
import { RequestIdMap } from '../../extension/host/request-ids';
import { parsePairingLink, printPairingLink } from '../../extension/common/pairing-link';
import { InboxStore } from '../../extension/store/inbox';
import { OutboxStore } from '../../extension/store/outbox';
import { TrustStore, TRUST_FILE_NAME } from '../../extension/trust/trust-store';
import { IDENTITY_FILE_NAME, loadOrCreateIdentity, prepareRotation } from '../../extension/identity/node-identity';
import { decodeDecision } from '../../extension/wire/decision';
import { HandshakeError, InitiatorHandshake, ResponderHandshake } from '../../extension/wire/handshake';
import {
  decodeFileChunk,
  decodeFileControl,
  decodeFileOffer,
  encodeFileChunk,
  encodeFileControl,
  encodeFileOffer,
  FilePayloadError,
} from '../../extension/wire/file-payload';
import { decodeInitiatorPayload, decodeResponderPayload, encodeInitiatorPayload, encodeResponderPayload, Intent, PayloadError } from '../../extension/wire/handshake-payload';
import {
  decodeKeyChain,
  encodeKeyChain,
  encodeRotationStatement,
  extendKeyChain,
  KeyChainFormatError,
  verifyKeyChain,
  type RotationStatement,
} from '../../extension/wire/key-rotation';
import { decodeGroupControl, decodeGroupMessage, encodeGroupControl, encodeGroupMessage, verifyGroupEnvelope } from '../../extension/wire/group-payload';
import { epochStatementHash, GroupFormatError, signInviteStatement, verifyEpochStatement } from '../../extension/wire/group-statement';
import { decodeHello, encodeHello } from '../../extension/wire/hello';
import { canonicalJson } from '../../extension/wire/jcs';
import { MerkleTree } from '../../extension/wire/merkle';
import { decodeLeaf, encodeLeaf, LeafFormatError } from '../../extension/wire/message-leaf';
import { checkMessage, decodeMessageProof, encodeMessageProof, messageProof } from '../../extension/wire/message-proof';
import { AckReason, AckStatus } from '../../extension/wire/delivery-codes';
import { openReceipt, signReceipt } from '../../extension/wire/receipt';
import { checkRevocationNotice, signRevocationNotice } from '../../extension/wire/revocation-notice';
import { SessionCipher } from '../../extension/wire/session-cipher';
import { BatchFormatError, checkBatch, decodeBatch, signBatch } from '../../extension/wire/signed-batch';
import { sdkStyleCard } from '../helpers/agent-cards';
import { addChange, createStatement, envelopeBy, groupHistory, leaveChange } from '../helpers/groups';
import { GROUP_MESSAGES_FILE_NAME, GroupMessageLog } from '../../extension/groups/group-messages';
import { GROUPS_FILE_NAME, GroupStore } from '../../extension/groups/group-store';
import { RecordWriter } from '../../extension/store/record-log';
import { throwawayIdentity } from '../helpers/raw-peer';
import { claimFor, wire } from '../helpers/txt-claims';

/**
 * One fuzz target per decoder that bytes from the network or the disk
 * reach. `run` must either decode or refuse in the documented way; any
 * other exception, or a hang, is a finding. `seeds` are valid inputs that
 * mutation starts from.
 */
export interface FuzzTarget {
  name: string;
  seeds: Uint8Array[];
  /** A promise when the target opens something that closes asynchronously: the runners wait for it, so descriptors do not pile up. */
  run(input: Uint8Array): void | Promise<void>;
}

class Finding extends Error {
  override name = 'Finding';
}

/** Runs `fn`, letting only the refusals the decoder documents through. */
function refusesOnly<T>(fn: () => T, ...allowed: (abstract new (...args: never[]) => Error)[]): T | undefined {
  try {
    return fn();
  } catch (error) {
    if (allowed.some((kind) => error instanceof kind)) return undefined;
    throw new Finding(`unexpected ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  }
}

const alice = throwawayIdentity();
const bob = throwawayIdentity();
const request = { intent: Intent.PAIR_REQUEST, requestId: new Uint8Array(16).fill(1), listenPort: 7400, displayName: 'Alice' } as const;

function handshakeSeeds(): Uint8Array[] {
  const initiator = new InitiatorHandshake(alice, bob.publicKey, request);
  const responder = new ResponderHandshake(bob, { displayName: 'Bob' });
  const m1 = initiator.start();
  const m2 = responder.respond(m1);
  return [m1, m2, initiator.finish(m2).finish];
}

const key = new Uint8Array(32).fill(7);
const sampleLeaves = [
  encodeLeaf({ messageId: new Uint8Array(16).fill(2), createdAt: 1_900_000_000_000, type: 'json', correlationId: 'c-1', payload: Buffer.from('{"a":1}') }),
  encodeLeaf({ messageId: new Uint8Array(16).fill(3), createdAt: 1_900_000_000_001, type: 'text', correlationId: null, payload: Buffer.from('hello') }),
];

const scratchDirs: string[] = [];

/** A scratch directory per target, reused across inputs (each input overwrites the file); all removed at exit. */
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2p-comm-fuzz-'));
  if (scratchDirs.length === 0) process.once('exit', () => scratchDirs.forEach((each) => rmSync(each, { recursive: true, force: true })));
  scratchDirs.push(dir);
  return dir;
}

function fileTarget(name: string, fileName: string, seeds: Uint8Array[], open: (dir: string) => { close?: () => unknown } | void): FuzzTarget {
  const dir = scratch();
  return {
    name,
    seeds,
    run: async (input) => {
      writeFileSync(join(dir, fileName), input, { mode: 0o600 });
      const opened = refusesOnly(() => open(dir), P2pError);
      await opened?.close?.();
    },
  };
}

/** A log whose records pass their checksums, so that mutation reaches the record decoder. */
function checkedLog(records: (string | Uint8Array)[]): Uint8Array {
  const parts: Uint8Array[] = [Buffer.from('P2PLOG2\n', 'latin1')];
  for (const record of records) {
    const body = typeof record === 'string' ? Buffer.from(record, 'utf8') : record;
    const header = Buffer.alloc(12);
    header.writeUInt32BE(body.length, 0);
    header.writeUInt32BE(crc32(header.subarray(0, 4)), 4);
    header.writeUInt32BE(crc32(body), 8);
    parts.push(header, body);
  }
  return Buffer.concat(parts);
}

/** One exchange of each direction, with an answer of each kind, a claim and a failure. */
function exchangeRecords(): string[] {
  const peer = peerIdFromPublicKey(bob.publicKey);
  const request = { method: 'SendMessage', params: { message: { messageId: 'm-1', parts: [{ text: 'hi' }] } }, service: {}, expiresAt: 1_900_000_000_000 };
  const [calling, serving] = ['0'.repeat(31) + '1', '0'.repeat(31) + '2'];
  const answers = [
    { kind: 'event', event: { task: { id: 't', status: { state: 'TASK_STATE_WORKING' } } } },
    { kind: 'error', error: { code: -32001, message: 'no such task' } },
  ];
  return [
    { k: 'open', dir: 'calling', peer, id: calling, at: 1, cursor: 1, request, digest: 'd' },
    { k: 'open', dir: 'serving', peer, id: serving, at: 2, cursor: 2, request, digest: 'd' },
    ...answers.map((answer, seq) => ({ k: 'answer', dir: 'calling', peer, id: calling, seq, answer, at: 3 })),
    { k: 'answer', dir: 'serving', peer, id: serving, seq: 0, answer: { kind: 'result', result: { task: { id: 't' } } }, at: 4 },
    { k: 'claim', peer, id: serving },
    { k: 'fail', peer, id: calling, reason: 'revoked' },
    { k: 'forget', dir: 'serving', peer, id: serving },
  ].map((record) => JSON.stringify(record));
}

function logSeed(records: string[]): Uint8Array {
  const parts = [Buffer.from('P2PLOG2\n', 'latin1')];
  for (const body of records) {
    const bytes = Buffer.from(body, 'latin1');
    const header = Buffer.alloc(12);
    header.writeUInt32BE(bytes.length, 0);
    parts.push(header, bytes);
  }
  return Buffer.concat(parts);
}

export function fuzzTargets(): FuzzTarget[] {
  return [
    {
      name: 'session frame',
      seeds: [new SessionCipher(key).seal(Uint8Array.of(0x20, 1, 2, 3))],
      run: (input) => {
        if (new SessionCipher(key).open(input) !== null && input.length < 17) throw new Finding('a too-short frame authenticated');
      },
    },
    {
      name: 'handshake message (responder side)',
      seeds: handshakeSeeds(),
      run: (input) => {
        const responder = new ResponderHandshake(bob, { displayName: 'Bob' });
        refusesOnly(() => responder.respond(input), HandshakeError);
        refusesOnly(() => responder.finish(input), HandshakeError);
      },
    },
    {
      name: 'handshake message (initiator side)',
      seeds: handshakeSeeds(),
      run: (input) => {
        const initiator = new InitiatorHandshake(alice, bob.publicKey, request);
        initiator.start();
        refusesOnly(() => initiator.finish(input), HandshakeError);
      },
    },
    {
      name: 'message leaf',
      seeds: sampleLeaves,
      // Strict: a leaf that decodes has one encoding, the bytes it came from.
      run: (input) =>
        refusesOnly(() => {
          if (Buffer.compare(encodeLeaf(decodeLeaf(input, 1 << 20)), input) !== 0) throw new Finding('a leaf decoded to fields that encode otherwise');
        }, LeafFormatError),
    },
    receiptTarget(),
    {
      name: 'revocation notice',
      seeds: [signRevocationNotice(alice, bob.publicKey, 1_900_000_000_000)],
      run: (input) => refusesOnly(() => checkRevocationNotice(input, { revoker: alice.publicKey, me: bob.publicKey, now: 1_900_000_000_000, clockSkewMs: 300_000 })),
    },
    {
      name: 'decision and hello',
      seeds: [Uint8Array.of(1, 0), encodeHello({ protocolVersion: 1, agent: 'Bob', capabilities: ['text'], software: 'p2p-comm/0.1.0', dhtBinding: null })],
      run: (input) => {
        refusesOnly(() => decodeDecision(input));
        refusesOnly(() => decodeHello(input, () => true));
      },
    },
    {
      name: 'pairing link',
      seeds: [Buffer.from(`p2p-comm://${peerIdFromPublicKey(alice.publicKey)}?addr=127.0.0.1%3A7400&name=Bob%20%26%20co&exp=1900000000`)],
      run: (input) => refusesOnly(() => parsePairingLink(Buffer.from(input).toString('latin1')), P2pError),
    },
    {
      name: 'mDNS TXT record',
      seeds: [Buffer.concat(wire(encodeTxt(claimFor(5))).map((entry) => Buffer.concat([Uint8Array.of(entry.length), entry])))],
      run: (input) => {
        // Entries as DNS carries them: a length byte, then that many bytes.
        const entries: Uint8Array[] = [];
        for (let at = 0; at < input.length; ) {
          const length = input[at] as number;
          entries.push(input.subarray(at + 1, at + 1 + length));
          at += 1 + length;
        }
        refusesOnly(() => decodeTxt(entries));
      },
    },
    ...signedBatchTargets(),
    jsonRpcTarget(),
    fileTarget('trusted_peers.json', 'trusted_peers.json', [Buffer.from('{"version":1,"peers":{}}'), rotatedStateFiles().trust], (dir) => void TrustStore.open(dir)),
    fileTarget('outbox log', 'outbox.log', [logSeed(['\u0001'.repeat(40)])], (dir) => OutboxStore.open(dir)),
    fileTarget('inbox log', 'inbox.log', [logSeed(['\u0004'.repeat(9)])], (dir) => InboxStore.open(dir)),
    fileTarget('a2a exchange log', EXCHANGES_FILE_NAME, [checkedLog(exchangeRecords())], (dir) => ExchangeStore.open(dir)),
    ...agentCardTargets(),
    ...bindingPayloadTargets(),
    ...filePayloadTargets(),
    ...keyRotationTargets(),
    ...groupPayloadTargets(),
    fileTarget('identity.key', IDENTITY_FILE_NAME, rotatedStateFiles().identity, (dir) => void loadOrCreateIdentity(dir)),
    ...groupStateTargets(),
  ];
}

/**
 * The agent card a peer sends (0x27), and the file cards are kept in. A
 * card may be spelled in any JSON (spacing, member order), so one that
 * passes must be the signed card itself, whatever its spelling: any other
 * content that passes is a forgery.
 */
function agentCardTargets(): FuzzTarget[] {
  const signer = { ...alice, peerId: peerIdFromPublicKey(alice.publicKey) };
  const card = signCard(normalizeAgentCard(sdkStyleCard()), signer, DEFAULT_AGENT_CARD_LIMITS.maxCardBytes);
  const body = encodeCard(card);
  const file = { version: 1, own: null, peers: { [signer.peerId]: { card, received_at: '2026-11-30T10:00:00.000Z', changes: 0 } } };
  return [
    {
      name: 'agent card',
      seeds: [body, Buffer.from(JSON.stringify(card, null, 1))],
      run: (input) =>
        refusesOnly(() => {
          const decoded = decodeCard(input, signer.peerId, DEFAULT_AGENT_CARD_LIMITS);
          if (typeof decoded === 'object' && Buffer.compare(encodeCard(decoded), body) !== 0) throw new Finding('a damaged card verified');
        }),
    },
    fileTarget('a2a_cards.json', CARDS_FILE_NAME, [Buffer.from(JSON.stringify(file))], (dir) => void CardStore.open(dir, DEFAULT_AGENT_CARD_LIMITS)),
  ];
}

/**
 * The payloads of the A2A binding's two message types. Any JSON spelling
 * decodes, so a payload that passes must keep its meaning through a fresh
 * encoding: decode(encode(decoded)) is what was decoded.
 */
function bindingPayloadTargets(): FuzzTarget[] {
  const request = encodeRequestPayload({
    method: 'SendMessage',
    params: { message: { messageId: 'm-1', contextId: 'c-1', role: 'ROLE_USER', parts: [{ text: 'hello' }] } },
    service: { 'a2a-extensions': 'https://example.org/ext' },
    expiresAt: 1_900_000_000_000,
  });
  const task = { id: 't-1', contextId: 'c-1', status: { state: 'TASK_STATE_WORKING' } };
  const responses = [
    encodeResponsePayload({ seq: 0, kind: 'event', event: { task } }),
    encodeResponsePayload({ seq: 1, kind: 'result', result: { task } }),
    encodeResponsePayload({ seq: 2, kind: 'error', error: { code: -32001, message: 'not found', data: [] } }),
    encodeResponsePayload({ seq: 3, kind: 'end' }),
  ];
  const stable = <T>(decode: (bytes: Uint8Array) => T, encode: (value: T) => Uint8Array) => (input: Uint8Array) =>
    refusesOnly(() => {
      const decoded = decode(input);
      if (JSON.stringify(decode(encode(decoded))) !== JSON.stringify(decoded)) throw new Finding('a payload changed meaning when encoded again');
    }, BindingPayloadError);
  return [
    { name: 'a2a_request payload', seeds: [request], run: stable(decodeRequestPayload, encodeRequestPayload) },
    { name: 'a2a_response payload', seeds: responses, run: stable(decodeResponsePayload, encodeResponsePayload) },
  ];
}

/**
 * The payloads of the three file message types. The JSON ones may be
 * spelled in any JSON, so one that passes must keep its meaning through a
 * fresh encoding; a chunk has one encoding, the bytes it came from.
 */
function filePayloadTargets(): FuzzTarget[] {
  const offers = [
    encodeFileOffer({ name: 'report.pdf', size: 268_435_456, sha256: 'ab'.repeat(32), chunkSize: 262_144, mediaType: 'application/pdf', description: 'Q3 numbers' }),
    encodeFileOffer({ name: 'é.txt', size: 1, sha256: '0'.repeat(64), chunkSize: 65_536, mediaType: null, description: null }),
  ];
  const controls = [encodeFileControl({ action: 'accept', reason: null }), encodeFileControl({ action: 'failed', reason: 'hash_mismatch' })];
  const chunks = [encodeFileChunk({ transferId: new Uint8Array(16).fill(3), index: 7, data: Buffer.from('chunk data') })];
  const stable = <T>(decode: (bytes: Uint8Array) => T, encode: (value: T) => Uint8Array) => (input: Uint8Array) =>
    refusesOnly(() => {
      const decoded = decode(input);
      if (JSON.stringify(decode(encode(decoded))) !== JSON.stringify(decoded)) throw new Finding('a payload changed meaning when encoded again');
    }, FilePayloadError);
  // A reason a later version may add decodes but is not one this node sends: compare by decoding, not by encoding.
  const controlStable = (input: Uint8Array) =>
    refusesOnly(() => {
      const decoded = decodeFileControl(input);
      const again = decodeFileControl(Buffer.from(JSON.stringify({ v: 1, action: decoded.action, ...(decoded.reason === null ? {} : { reason: decoded.reason }) })));
      if (JSON.stringify(again) !== JSON.stringify(decoded)) throw new Finding('a control changed meaning when encoded again');
    }, FilePayloadError);
  return [
    { name: 'file_offer payload', seeds: offers, run: stable(decodeFileOffer, encodeFileOffer) },
    { name: 'file_control payload', seeds: controls, run: controlStable },
    {
      name: 'file_chunk payload',
      seeds: chunks,
      run: (input) =>
        refusesOnly(() => {
          if (Buffer.compare(encodeFileChunk(decodeFileChunk(input)), input) !== 0) throw new Finding('a chunk decoded to fields that encode otherwise');
        }, FilePayloadError),
    },
  ];
}

/** A receipt: fixed layout and Ed25519, so one that opens and is not a seed is a forgery. */
function receiptTarget(): FuzzTarget {
  const session = new Uint8Array(32).fill(9);
  const exceptions = [
    { messageId: new Uint8Array(16).fill(4), status: AckStatus.REFUSED, reason: AckReason.ID_REUSED },
    { messageId: new Uint8Array(16).fill(5), status: AckStatus.DEFERRED, reason: AckReason.INBOX_FULL },
  ] as const;
  const seeds = [
    signReceipt({ firstBatch: 0, lastBatch: 3, exceptions: [] }, bob, alice.publicKey, session),
    signReceipt({ firstBatch: 4, lastBatch: 4, exceptions }, bob, alice.publicKey, session),
  ];
  return {
    name: 'receipt',
    seeds,
    run: (input) =>
      refusesOnly(() => {
        const opened = openReceipt(input, { acker: bob.publicKey, sender: alice.publicKey, session });
        if (typeof opened !== 'string' && !seeds.some((seed) => Buffer.compare(seed, input) === 0)) throw new Finding('a damaged receipt verified');
      }),
  };
}

/**
 * Protocol v2: a signed batch, and the proof a receiver keeps beside
 * each message. Both have no encoding freedom (fixed-width fields, a path
 * of exactly the length its index calls for, Ed25519 as OpenSSL checks it),
 * so an input that still verifies and is not one of the seeds is a forgery.
 */
function signedBatchTargets(): FuzzTarget[] {
  const leaves = [0, 1, 2, 3, 4].map((n) =>
    encodeLeaf({ messageId: new Uint8Array(16).fill(0x10 + n), createdAt: 1_900_000_000_000 + n, type: 'text', correlationId: null, payload: Buffer.from(`message ${n}`) }),
  );
  const batches = [signBatch(leaves, alice, bob.publicKey, 1_900_000_000_000), signBatch(leaves.slice(0, 1), alice, bob.publicKey, 1_900_000_000_000)];
  const { header } = decodeBatch(batches[0] as Uint8Array);
  const tree = MerkleTree.fromLeaves(leaves);
  const proofs = leaves.map((_, index) => encodeMessageProof(messageProof(header, tree, index)));
  const isSeed = (seeds: Uint8Array[], input: Uint8Array): boolean => seeds.some((seed) => Buffer.compare(seed, input) === 0);
  return [
    {
      name: 'signed batch',
      seeds: batches,
      run: (input) =>
        refusesOnly(() => {
          const batch = decodeBatch(input);
          if (checkBatch(batch.header, MerkleTree.fromLeaves(batch.leaves)) === null && !isSeed(batches, input)) throw new Finding('a damaged batch verified');
        }, BatchFormatError),
    },
    {
      name: 'message proof',
      seeds: proofs,
      run: (input) =>
        refusesOnly(() => {
          const proof = decodeMessageProof(input);
          if (checkMessage(leaves[proof.index] ?? new Uint8Array(0), proof) === null && !isSeed(proofs, input)) throw new Finding('a damaged proof verified');
        }, BatchFormatError),
    },
  ];
}

/** JSON-RPC lines: the reader must turn every line into a message or a refusal, and never buffer past its limit. */
function jsonRpcTarget(): FuzzTarget {
  return {
    name: 'JSON-RPC line',
    seeds: [Buffer.from('{"jsonrpc":"2.0","id":1,"method":"execute","params":{"operation":"status","input":{}}}\n')],
    run: (input) => {
      const stream = new PassThrough();
      let delivered = 0;
      const reader = new NewlineMessageReader(stream, {
        maxLineBytes: 4096,
        requestIds: new RequestIdMap(),
        // Refused lines that get no answer (notifications, blank lines) are still accounted for here.
        onRefused: () => {
          delivered += 1;
        },
      });
      reader.listen(() => {
        delivered += 1;
      });
      refusesOnly(() => {
        stream.write(Buffer.concat([input, Buffer.from('\n')]));
      });
      if (delivered === 0) throw new Finding('a line produced neither a message nor a refusal');
    },
  };
}

/**
 * Key rotation (docs/protocol.md §19): the key chain, and handshake
 * payloads and messages that carry one. A chain has no encoding freedom,
 * so one that still verifies must be the seed or a prefix of it (the same
 * identity before its later rotations); anything else is a forgery.
 */
function keyRotationTargets(): FuzzTarget[] {
  const signers = [alice, throwawayIdentity(), throwawayIdentity(), throwawayIdentity()];
  let chain: RotationStatement[] = [];
  for (let i = 1; i < signers.length; i += 1) chain = extendKeyChain(chain, signers[i - 1]!, signers[i]!, 1_900_000_000_000 + i);
  const block = encodeKeyChain(chain);
  const statements = chain.map(encodeRotationStatement);
  const isSeedPrefix = (accepted: RotationStatement[]): boolean =>
    accepted.every((statement, i) => Buffer.compare(encodeRotationStatement(statement), statements[i] ?? new Uint8Array(0)) === 0);
  const payloads = [encodeResponderPayload({ displayName: 'Bob', keyChain: chain }), encodeInitiatorPayload({ ...request, keyChain: chain })];
  const current = signers[signers.length - 1]!;
  const rotatedResponse = (): Uint8Array[] => {
    const initiator = new InitiatorHandshake(bob, current.publicKey, request);
    const m1 = initiator.start();
    const m2 = new ResponderHandshake(current, { displayName: 'Carol', keyChain: chain }).respond(m1);
    return [m1, m2, initiator.finish(m2).finish];
  };
  return [
    {
      name: 'key chain',
      seeds: [block, ...statements.map((statement) => Buffer.concat([Uint8Array.of(1), statement]))],
      run: (input) =>
        refusesOnly(() => {
          const verdict = verifyKeyChain(decodeKeyChain(input));
          if (verdict.ok && !isSeedPrefix(verdict.chain.statements)) throw new Finding('a damaged key chain verified');
        }, KeyChainFormatError),
    },
    {
      name: 'handshake payload with a key chain',
      seeds: payloads,
      run: (input) => {
        refusesOnly(() => decodeResponderPayload(input), PayloadError);
        refusesOnly(() => decodeInitiatorPayload(input), PayloadError);
      },
    },
    {
      name: 'handshake message with a key chain (initiator side)',
      seeds: rotatedResponse(),
      run: (input) => {
        const initiator = new InitiatorHandshake(bob, current.publicKey, request);
        initiator.start();
        refusesOnly(() => initiator.finish(input), HandshakeError);
      },
    },
    {
      name: 'pairing link with a key chain',
      seeds: [
        Buffer.from(
          printPairingLink({ peerId: peerIdFromPublicKey(alice.publicKey), addresses: ['127.0.0.1:7400'], displayName: 'Bob', dhtBinding: null, expiresAt: null, rotation: { key: current.publicKey, chain: block } }),
        ),
      ],
      run: (input) => void refusesOnly(() => parsePairingLink(Buffer.from(input).toString('latin1')), P2pError),
    },
  ];
}

/**
 * Groups (docs/protocol.md §18): the two payloads. One that decodes must
 * keep its meaning through a fresh encoding, and a statement or envelope
 * that still verifies under the seeds' keys must be one of the seeds' (its
 * JCS the same): anything else is a forgery.
 */
function groupPayloadTargets(): FuzzTarget[] {
  const { alice, bob, carol, epochs } = groupHistory();
  const [e0, e1, e2, e3] = epochs as [(typeof epochs)[0], (typeof epochs)[0], (typeof epochs)[0], (typeof epochs)[0]];
  const invite = signInviteStatement({ t: 'invite', group: e1.group, invitee: carol.peer, epoch: 1, at: 1_900_000_000_000 }, alice.identity);
  const controls = [
    encodeGroupControl({ kind: 'invite', invite, epochs: [e0, e1] }),
    encodeGroupControl({ kind: 'epochs', epochs: [e1, e2, e3] }),
    encodeGroupControl({ kind: 'join', join: addChange(e1, carol).join }),
    encodeGroupControl({ kind: 'leave', leave: leaveChange(e2, bob).leave }),
  ];
  const envelopes = [envelopeBy(carol, e2), envelopeBy(alice, e2, { type: 'json', content: { a: [1, 'b'] }, seq: 2, prev_epoch: 1 })];
  const messages = [encodeGroupMessage({ envelope: envelopes[0]!, relay: [bob.peer] }), encodeGroupMessage({ envelope: envelopes[1]!, relay: null })];
  const knownStatements = new Set(epochs.map(epochStatementHash));
  const knownEnvelopes = new Set(envelopes.map((envelope) => canonicalJson(envelope)));
  const stable = <T>(decode: (bytes: Uint8Array) => T, encode: (value: T) => Uint8Array, decoded: T): void => {
    if (JSON.stringify(decode(encode(decoded))) !== JSON.stringify(decoded)) throw new Finding('a payload changed meaning when encoded again');
  };
  return [
    {
      name: 'group_control payload',
      seeds: controls,
      run: (input) =>
        refusesOnly(() => {
          const control = decodeGroupControl(input);
          stable(decodeGroupControl, encodeGroupControl, control);
          for (const statement of 'epochs' in control ? control.epochs : []) {
            if (verifyEpochStatement(statement, alice.identity.publicKey) === null && !knownStatements.has(epochStatementHash(statement))) {
              throw new Finding('a damaged epoch statement verified');
            }
          }
        }, GroupFormatError),
    },
    {
      name: 'group_message payload',
      seeds: messages,
      run: (input) =>
        refusesOnly(() => {
          const message = decodeGroupMessage(input);
          stable(decodeGroupMessage, encodeGroupMessage, message);
          const { envelope } = message;
          if (verifyGroupEnvelope(envelope, e2) === null && !knownEnvelopes.has(canonicalJson(envelope))) throw new Finding('a damaged envelope verified');
        }, GroupFormatError),
    },
  ];
}

/**
 * State files as a rotation leaves them, so that mutation reaches the new
 * fields: identity.key before (version 1) and after (version 2) a rotation,
 * and a trust store holding a rotated peer's key_chain and retired_at.
 */
let rotatedFiles: { identity: Uint8Array[]; trust: Uint8Array } | undefined;
function rotatedStateFiles(): { identity: Uint8Array[]; trust: Uint8Array } {
  if (rotatedFiles !== undefined) return rotatedFiles;
  const identityDir = scratch();
  const unrotated = loadOrCreateIdentity(identityDir);
  const v1 = readFileSync(join(identityDir, IDENTITY_FILE_NAME));
  const rotation = prepareRotation(unrotated, { clock: { now: () => new Date(1_900_000_000_000) } });
  rotation.commit();
  const trustDir = scratch();
  const store = TrustStore.open(trustDir);
  store.trust({ publicKey: unrotated.publicKey, displayName: 'Alice', addresses: ['alice.local:7070'] });
  store.applyKeyChain(unrotated.peerId, rotation.next.keyChain);
  rotatedFiles = { identity: [v1, readFileSync(join(identityDir, IDENTITY_FILE_NAME))], trust: readFileSync(join(trustDir, TRUST_FILE_NAME)) };
  return rotatedFiles;
}

/**
 * groups.json as a creator and an invitee write it, and a group message
 * log holding each record kind, so that mutation reaches the statement
 * checks and the record decoder.
 */
function groupStateTargets(): FuzzTarget[] {
  const { alice, bob, carol, epochs } = groupHistory();
  const [e0, e1] = epochs as [(typeof epochs)[0], (typeof epochs)[0]];
  const creatorDir = scratch();
  const creator = GroupStore.open(creatorDir, alice.peer);
  creator.create(e0, alice.identity.publicKey);
  for (const statement of epochs.slice(1)) creator.recordEpoch(e0.group, statement);
  creator.takeSeq(e0.group);
  creator.recordSeen(e0.group, carol.peer, 2);
  const inviteeDir = scratch();
  const invite = signInviteStatement({ t: 'invite', group: e1.group, invitee: carol.peer, epoch: 1, at: 1_900_000_000_000 }, alice.identity);
  GroupStore.open(inviteeDir, carol.peer).addInvite(invite, [e0, e1], alice.identity.publicKey);
  const groupFiles = [readFileSync(join(creatorDir, GROUPS_FILE_NAME)), readFileSync(join(inviteeDir, GROUPS_FILE_NAME))];

  const e2 = epochs[2] as (typeof epochs)[0];
  const other = createStatement(bob);
  const stored = (slot: number, cursor: number, author: typeof bob, seq: number, statement: typeof e2): Uint8Array => {
    const json = Buffer.from(canonicalJson(envelopeBy(author, statement, { seq, prev_epoch: seq === 1 ? 0 : statement.epoch, id: slot.toString(16).padStart(32, '0') })), 'utf8');
    return new RecordWriter(1 + 24 + 64 + 4 + json.length).u8(1).uint(slot).uint(cursor).uint(1_900_000_000_000).latin1(statement.group.slice(4)).bytes(author.identity.publicKey).u32(seq).bytes(json).finish();
  };
  const log = checkedLog([
    new RecordWriter(17).u8(6).uint(10).uint(20).finish(),
    stored(11, 21, bob, 1, e2),
    stored(12, 0, carol, 2, e2),
    stored(13, 0, carol, 3, e2),
    stored(14, 22, bob, 1, other),
    new RecordWriter(18).u8(2).uint(12).uint(23).u8(1).finish(),
    new RecordWriter(41).u8(3).latin1(e2.group.slice(4)).uint(21).finish(),
    new RecordWriter(9).u8(4).uint(13).finish(),
    new RecordWriter(33).u8(5).latin1(other.group.slice(4)).finish(),
  ]);
  return [
    fileTarget('groups.json', GROUPS_FILE_NAME, groupFiles, (dir) => void GroupStore.open(dir, alice.peer)),
    fileTarget('group message log', GROUP_MESSAGES_FILE_NAME, [log], (dir) => GroupMessageLog.open(dir)),
  ];
}
