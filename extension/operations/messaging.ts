import { fingerprintOf } from '../common/peer-id';
import { decodeContent } from '../messaging/payload';
import type { StoredMessage } from '../store/inbox';
import type { MessageType } from '../wire/message-leaf';
import type { NodeContext, OperationHandler } from './context';

const DEFAULT_RECEIVE_LIMIT = 100;

export const send: OperationHandler = async (input, node) => {
  const { messageId, state, size } = await node.messenger.send({
    peer: input['peer'] as string,
    type: input['type'] as MessageType,
    content: input['content'],
    correlationId: (input['correlation_id'] as string | undefined) ?? null,
    ttlSeconds: (input['ttl_seconds'] as number | undefined) ?? null,
  });
  return { data: { message_id: messageId, state, size }, message: null };
};

/**
 * Who sent a message, as far as this node can vouch for it: the peer id and
 * fingerprint are proven (every stored message passed the signature check
 * against the key of that peer id when it arrived); the name is only what
 * the peer calls itself. Carried by each message, so that a plugin handing
 * one message on (to a model, say) hands its provenance with it.
 */
interface MessageSender {
  peer: string;
  fingerprint: string;
  /** What the peer says its name is; anyone can choose any name. Null when this node keeps no record of the peer any more. */
  self_chosen_name: string | null;
  signature: 'verified';
}

function senderOf(peerId: string, node: NodeContext): MessageSender {
  return {
    peer: peerId,
    // The key the peer signs with now: after a rotation, not the one its id names.
    fingerprint: fingerprintOf(node.trust.keyOf(peerId)),
    self_chosen_name: node.trust.get(peerId)?.displayName ?? null,
    signature: 'verified',
  };
}

function describe(message: StoredMessage, from: MessageSender): Record<string, unknown> {
  // Checked on arrival, so it decodes; null would mean the inbox file was altered.
  const content = decodeContent(message.type, message.content);
  return {
    message_id: message.messageId,
    from,
    cursor: message.cursor,
    type: message.type,
    content: content === null ? null : content.value,
    correlation_id: message.correlationId,
    sent_at: message.sentAt.toISOString(),
    received_at: message.receivedAt.toISOString(),
  };
}

export const receive: OperationHandler = async (input, node) => {
  const peer = input['peer'] as string;
  const after = (input['after'] as number | undefined) ?? 0;
  const messages = await node.messenger.receive(
    peer,
    after,
    (input['limit'] as number | undefined) ?? DEFAULT_RECEIVE_LIMIT,
    (input['wait_ms'] as number | undefined) ?? 0,
  );
  const last = messages[messages.length - 1];
  const from = senderOf(peer, node);
  return {
    data: { messages: messages.map((message) => describe(message, from)), next_cursor: last === undefined ? after : last.cursor },
    message: null,
  };
};

export const ack: OperationHandler = async (input, node) => ({
  data: { acked: await node.messenger.ack(input['peer'] as string, input['through'] as number) },
  message: null,
});

export const messageStatus: OperationHandler = async (input, node) => {
  const message = node.messenger.status(input['message_id'] as string);
  return {
    data: {
      message_id: message.messageId,
      peer: message.peerId,
      state: message.reportedState,
      updated_at: message.updatedAt.toISOString(),
      reason: message.reason,
      attempts: message.attempts,
      expires_at: message.expiresAt.toISOString(),
    },
    message: null,
  };
};
