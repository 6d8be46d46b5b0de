import { P2pError } from '../common/errors';
import type { StoredPeerCard } from '../a2a/card-store';
import type { NodeContext, OperationHandler } from './context';

/** A peer's card as `peers`, `requests` and `a2a_card` show it: the signed card as it arrived (any A2A client can verify it), or null. */
export function agentCardOf(node: NodeContext, peerId: string): StoredPeerCard['card'] {
  return node.cards.cardOf(peerId)?.card ?? null;
}

/**
 * Sets this node's agent card (or, with `card: null`, withdraws it). Every
 * paired peer sees it: those connected at once, the others when they next
 * connect.
 */
export const a2aSetCard: OperationHandler = async (input, node) => {
  const { card, changed, sentTo } = node.cards.setOwnCard(input['card']);
  const withdrawn = card === null;
  let message: string;
  if (!changed) message = withdrawn ? 'this node had no agent card; nothing changed' : 'the agent card was already this one; nothing changed';
  else message = `${withdrawn ? 'the agent card is withdrawn' : 'the agent card is set'}: ${sentTo} connected peer(s) were told now, the other paired peers are when they next connect`;
  return { data: { peer: node.identity.peerId, agent_card: card, changed, sent_to: sentTo }, message };
};

/** This node's own card, or the one a paired peer or a requester sent. */
export const a2aCard: OperationHandler = async (input, node) => {
  const peerId = input['peer'] as string | undefined;
  if (peerId === undefined || peerId === node.identity.peerId) {
    return { data: { peer: node.identity.peerId, agent_card: node.cards.ownCard(), received_at: null }, message: null };
  }
  if (!node.cards.keepsCardOf(peerId)) {
    throw new P2pError('NOT_FOUND', `${peerId} is neither a paired peer nor asking to pair with this node; see peers and requests`);
  }
  const stored = node.cards.cardOf(peerId);
  const card = stored?.card ?? null;
  return {
    data: { peer: peerId, agent_card: card, received_at: stored !== undefined && card !== null ? stored.receivedAt.toISOString() : null },
    message: card === null ? 'this peer has sent no agent card (yet); a node from before agent cards never does' : null,
  };
};
