import { P2pError } from '../../common/errors';
import { fingerprintOf } from '../../common/peer-id';
import { safetyNumber } from '../../common/safety-number';
import { changesSinceArrival } from '../../pairing/request-changes';
import type { PendingIncoming, PendingOutgoing, PendingRequest } from '../../trust/pending-requests';
import { agentCardOf } from '../a2a';
import type { NodeContext } from '../context';
import { accept, reject } from '../pairing';
import type { ResourceRow, ResourceType } from './resource-type';

/**
 * `requests`: pairing requests other people sent (answered with a
 * decision, which is the person's consent) and those this node sent. The
 * name and address are those the request arrived with, the ones accepting
 * pins; later claims are shown beside them.
 */
function commonFields(request: PendingRequest, node: NodeContext): ResourceRow {
  return {
    id: request.requestId,
    self_chosen_name: request.displayName,
    fingerprint: fingerprintOf(request.publicKey),
    peer: request.peerId,
    safety_number: safetyNumber(node.identity.publicKey, request.publicKey),
    address: request.address,
    created_at: request.createdAt.toISOString(),
    expires_at: request.expiresAt.toISOString(),
  };
}

function incomingRow(request: PendingIncoming, node: NodeContext): ResourceRow {
  return {
    ...commonFields(request, node),
    direction: 'incoming',
    state: 'waiting_for_you',
    changes_since_arrival: changesSinceArrival(request),
    agent_card: agentCardOf(node, request.peerId),
    agent_card_changes: node.cards.cardOf(request.peerId)?.changes ?? 0,
    attempts: null,
    last_error: null,
  };
}

function outgoingRow(request: PendingOutgoing, node: NodeContext): ResourceRow {
  return {
    ...commonFields(request, node),
    direction: 'outgoing',
    state: request.state,
    changes_since_arrival: null,
    agent_card: null,
    agent_card_changes: null,
    attempts: request.attempts,
    last_error: request.lastError,
  };
}

/** The fields of the row the person looked at that name whom they answer: each must still be this request's. */
const SHOWN_IDENTITY = ['peer', 'fingerprint', 'self_chosen_name'] as const;

/**
 * Nexus's form sends the row back with the decision. If the row the person
 * read names another peer (a stale view, or a forged call), the decision is
 * not theirs to apply to this request.
 */
function checkShownIdentity(request: PendingIncoming, data: Record<string, unknown>, node: NodeContext): void {
  const current = incomingRow(request, node);
  const differing = SHOWN_IDENTITY.find((field) => data[field] !== undefined && data[field] !== current[field]);
  if (differing !== undefined) {
    throw new P2pError(
      'PEER_MISMATCH',
      `the ${differing} sent with this decision is not that of request ${request.requestId}; nothing was decided. Refresh the list and compare the fingerprint again`,
    );
  }
}

export const requestResource: ResourceType = {
  rows(node) {
    return [
      ...node.pending.incoming().map((request) => incomingRow(request, node)),
      ...node.pending.outgoing().map((request) => outgoingRow(request, node)),
    ];
  },

  row(id, node) {
    const incoming = node.pending.findIncoming(id);
    if (incoming !== undefined) return incomingRow(incoming, node);
    const outgoing = node.pending.findOutgoing(id);
    return outgoing === undefined ? undefined : outgoingRow(outgoing, node);
  },

  async update(id, data, node) {
    const request = node.pending.findIncoming(id);
    if (request === undefined) {
      if (node.pending.findOutgoing(id) !== undefined) {
        throw new P2pError('NOT_AVAILABLE', 'you sent this request: the other person accepts or rejects it. To withdraw it, delete the peer under Peers');
      }
      throw new P2pError('NOT_FOUND', `no pending request ${id}; it may have been answered or expired: refresh the list`);
    }
    const decision = data['decision'] as 'accept' | 'reject' | undefined;
    if (decision === undefined) {
      throw new P2pError('INVALID_INPUT', 'choose a decision, accept or reject, after comparing the fingerprint with the one the other person gives you');
    }
    checkShownIdentity(request, data, node);
    const outcome =
      decision === 'accept' ? await accept({ request_id: id, peer: request.peerId }, node) : await reject({ request_id: id }, node);
    return { data: { id, decision, ...(outcome.data as Record<string, unknown>) }, message: outcome.message };
  },

  unavailable: {
    create: 'a pairing request is made by adding a peer with its pairing link, under Peers',
    delete: 'answer an incoming request with the decision "reject" instead; a request you sent is withdrawn by deleting the peer under Peers',
  },
};
