import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrnoException } from '../common/atomic-file';
import { P2pError } from '../common/errors';
import { quoteUntrusted } from '../common/quote-text';
import type { FileService } from '../files/file-service';
import { FILES_CAPABILITY } from '../files/file-service';
import type { SendFileRequest, SendFileResult } from '../files/file-sender';
import { bytesDone, isFinal, type Transfer, type TransferDirection, type TransferState } from '../files/transfer-store';
import type { NodeContext, OperationHandler } from './context';

/**
 * The file operations (design §3.4): offer a file to a paired peer, list
 * transfers, accept or decline an offer, withdraw a transfer, and read a
 * received file. Bytes cross the host protocol in base64 parts of bounded
 * size both ways, so no call carries a whole file; the file itself lives
 * in files/outgoing (the user puts it there) or files/incoming (the
 * extension writes it there once its SHA-256 matched the offer).
 */

const DEFAULT_LIST_LIMIT = 100;

/** Characters of base64, with its padding: Buffer.from would skip anything else silently. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const sendFile: OperationHandler = async (input, node) => {
  const peer = input['peer'] as string;
  // Refused now rather than after the hash: a file for a peer that cannot take it would only fail later.
  node.messenger.assertSendable(peer);
  const hello = node.messenger.helloOf(peer);
  if (hello !== undefined && !hello.capabilities.includes(FILES_CAPABILITY)) {
    throw new P2pError('PEER_UNSUPPORTED', `${peer} runs a p2p-comm without file transfers (its hello lacks ${FILES_CAPABILITY}); it cannot take a file until it is updated`);
  }
  const request: SendFileRequest = {
    peer,
    name: input['name'] as string | undefined,
    mediaType: input['media_type'] as string | undefined,
    description: input['description'] as string | undefined,
    correlationId: input['correlation_id'] as string | undefined,
    ttlSeconds: input['ttl_seconds'] as number | undefined,
  };
  // The schema lets exactly one of the two through.
  const source = input['source'] as { folder: string } | { upload: UploadInput };
  const result = 'folder' in source ? await node.files.sender.sendFromFolder({ ...request, path: source.folder }) : await upload(node.files, request, source.upload);
  if ('uploadId' in result) return { data: { upload_id: result.uploadId, received_bytes: result.receivedBytes }, message: null };
  return { data: { transfer_id: result.transferId, state: result.state, size: result.size, name: result.name }, message: null };
};

interface UploadInput {
  id?: string;
  offset: number;
  data: string;
  done: boolean;
}

async function upload(files: FileService, request: SendFileRequest, part: UploadInput): Promise<SendFileResult> {
  if (!BASE64.test(part.data)) throw new P2pError('INVALID_INPUT', 'input.source.upload.data is not base64 (A-Z, a-z, 0-9, +, / and = padding, in groups of 4)', { path: '/source/upload/data', rule: 'base64' });
  // The schema bounds the text to 1 MiB, so a part is at most 768 KiB.
  const data = Buffer.from(part.data, 'base64');
  // The name is what the peer is shown, and an upload has no file name of its own: the last part must say it.
  if (part.done && request.name === undefined) {
    throw new P2pError('INVALID_INPUT', 'the last part of an upload (done: true) must give name: the file name the peer is shown', { path: '/name', rule: 'required' });
  }
  // Only the last part's name is used: the earlier parts need none.
  return files.sender.upload({ ...request, name: request.name ?? '' }, { uploadId: part.id, offset: part.offset, data, done: part.done });
}

export const files: OperationHandler = async (input, node) => {
  const peer = input['peer'] as string;
  const direction = input['direction'] as TransferDirection | undefined;
  const state = input['state'] as TransferState | undefined;
  const after = input['after'] === undefined ? null : parseTime(input['after'] as string);
  const limit = (input['limit'] as number | undefined) ?? DEFAULT_LIST_LIMIT;
  const hashing = node.files.sender
    .hashingTransfers()
    .filter((entry) => entry.peerId === peer)
    .map((entry) => hashingEntry(entry));
  const recorded = node.files.transfers.list({ peerId: peer, ...(direction === undefined ? {} : { direction }) }).map(describeTransfer);
  const listed = [...recorded, ...(direction === 'incoming' ? [] : hashing)]
    .filter((entry) => (state === undefined || entry['state'] === state) && (after === null || entry['offered_at'] === null || Date.parse(entry['offered_at'] as string) > after))
    .slice(0, limit);
  return { data: { transfers: listed }, message: null };
};

export const acceptFile: OperationHandler = async (input, node) => {
  const transfer = await node.files.receiver.accept(input['peer'] as string, input['transfer_id'] as string);
  return { data: { transfer_id: transfer.transferId, state: transfer.state, reserved_bytes: transfer.offer.size - bytesDone(transfer) }, message: null };
};

export const cancelFile: OperationHandler = async (input, node) => {
  const peer = input['peer'] as string;
  const transferId = input['transfer_id'] as string;
  const transfer = node.files.transfers.get(peer, transferId);
  if (transfer === undefined) {
    if (node.files.sender.hashingTransfers().some((entry) => entry.peerId === peer && entry.transferId === transferId)) {
      throw new P2pError('CONFLICT', `transfer ${transferId} is still being hashed; cancel it once files lists it as offered`);
    }
    throw new P2pError('NOT_FOUND', `no file transfer ${quoteUntrusted(transferId)} with ${peer} is kept here; see files`);
  }
  const ended = transfer.direction === 'incoming' ? await node.files.receiver.decline(peer, transferId) : await node.files.sender.cancel(peer, transferId);
  return { data: { transfer_id: ended.transferId, state: ended.state }, message: null };
};

export const fetchFile: OperationHandler = async (input, node) => {
  const peer = input['peer'] as string;
  const transferId = input['transfer_id'] as string;
  const offset = input['offset'] as number;
  const length = input['length'] as number;
  const transfer = node.files.transfers.get(peer, transferId);
  if (transfer === undefined || transfer.direction !== 'incoming') {
    throw new P2pError('NOT_FOUND', `no file received from ${peer} as transfer ${quoteUntrusted(transferId)} is kept here; see files`);
  }
  if (transfer.state !== 'received' || transfer.storedAs === null) {
    throw new P2pError('CONFLICT', `the file ${quoteUntrusted(transfer.offer.name)} of transfer ${transferId} is ${transfer.state}; only a received file, its SHA-256 checked, can be read`);
  }
  const { size, sha256 } = transfer.offer;
  if (offset > size) throw new P2pError('INVALID_INPUT', `offset ${offset} is past the end of the file (${size} bytes)`, { path: '/offset', rule: 'maximum' });
  const data = await readReceived(node.files.folders.incoming, transfer, offset, length);
  return { data: { data: data.toString('base64'), offset, eof: offset + data.length >= size, size, sha256 }, message: null };
};

/** Reads from files/incoming what the transfer stored there; a file moved, replaced or changed since is refused, not read. */
async function readReceived(incoming: string, transfer: Transfer, offset: number, length: number): Promise<Buffer> {
  const path = join(incoming, transfer.storedAs as string);
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ELOOP')) {
      throw new P2pError('NOT_FOUND', `incoming/${quoteUntrusted(transfer.storedAs as string)} is no longer there (moved or deleted since it was received)`);
    }
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile() || stats.size !== transfer.offer.size) {
      throw new P2pError(
        'FILE_SOURCE_CHANGED',
        `incoming/${quoteUntrusted(transfer.storedAs as string)} changed since it was received (${stats.size} bytes now, ${transfer.offer.size} received); it is no longer the file the peer sent`,
      );
    }
    const buffer = Buffer.alloc(Math.min(length, transfer.offer.size - offset));
    let read = 0;
    while (read < buffer.length) {
      const { bytesRead } = await handle.read(buffer, read, buffer.length - read, offset + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return buffer.subarray(0, read);
  } finally {
    await handle.close();
  }
}

function parseTime(text: string): number {
  const time = Date.parse(text);
  if (Number.isNaN(time)) throw new P2pError('INVALID_INPUT', `after is not a time: give an ISO 8601 time such as 2026-11-30T10:00:00Z`, { path: '/after', rule: 'format' });
  return time;
}

function describeTransfer(transfer: Transfer): Record<string, unknown> {
  const { offer } = transfer;
  return {
    transfer_id: transfer.transferId,
    peer: transfer.peerId,
    direction: transfer.direction,
    name: offer.name,
    size: offer.size,
    sha256: offer.sha256,
    media_type: offer.mediaType,
    description: offer.description,
    correlation_id: transfer.correlationId,
    state: transfer.state,
    reason: transfer.reason,
    bytes_done: bytesDone(transfer),
    chunks_done: transfer.chunksDone.size,
    chunks_total: transfer.chunkCount,
    offered_at: new Date(transfer.offeredAt).toISOString(),
    updated_at: new Date(transfer.updatedAt).toISOString(),
    expires_at: new Date(transfer.expiresAt).toISOString(),
    path: transfer.storedAs === null ? null : `incoming/${transfer.storedAs}`,
    offer_proof: transfer.proof === null ? null : Buffer.from(transfer.proof).toString('base64'),
  };
}

/** A file still being hashed: not in files.log yet, so only what the request said is known. */
function hashingEntry(entry: { peerId: string; transferId: string; name: string; size: number; bytesDone: number }): Record<string, unknown> {
  return {
    transfer_id: entry.transferId,
    peer: entry.peerId,
    direction: 'outgoing',
    name: entry.name,
    size: entry.size,
    sha256: null,
    media_type: null,
    description: null,
    correlation_id: null,
    state: 'hashing',
    reason: null,
    bytes_done: entry.bytesDone,
    chunks_done: 0,
    chunks_total: null,
    offered_at: null,
    updated_at: null,
    expires_at: null,
    path: null,
    offer_proof: null,
  };
}

/** `status.files`: transfers not ended each way, incoming bytes accepted and not received, and the chunk counters since start. */
export function fileStatus(node: NodeContext): Record<string, number> {
  const transfers = node.files.transfers;
  const open = (direction: TransferDirection): number => transfers.list({ direction }).filter((transfer) => !isFinal(transfer.state)).length;
  const stats = node.files.stats();
  return {
    incoming: open('incoming'),
    outgoing: open('outgoing') + node.files.sender.hashingTransfers().length,
    pending_bytes: transfers.pendingIncomingBytes(),
    chunks_sent: stats.chunksSent,
    chunks_resent: stats.chunksResent,
    chunks_duplicate: stats.chunksDuplicate,
  };
}
