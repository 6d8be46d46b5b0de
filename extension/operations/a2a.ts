import { P2pError } from '../common/errors';
import type { StoredPeerCard } from '../a2a/card-store';
import { contiguousAnswers, type Exchange, isEnded, taskSnapshotOf } from '../a2a/exchange-store';
import { type A2aAnswer, type A2aErrorObject, type A2aMethod, type A2aResponsePayload, SERVICE_EXTENSIONS } from '../wire/a2a-payload';
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

/** Sends one A2A JSON-RPC request to a paired peer (docs/a2a.md "Binding"); its answers are read with a2a_task. */
export const a2aSend: OperationHandler = async (input, node) => {
  const peerId = input['peer'] as string;
  const request = input['request'] as { method: A2aMethod; params: Record<string, unknown> };
  const extensions = input['a2a_extensions'] as string | undefined;
  const { exchange, reattached } = await node.a2a.send(
    peerId,
    request.method,
    request.params,
    extensions === undefined ? {} : { [SERVICE_EXTENSIONS]: extensions },
    (input['ttl_seconds'] as number | undefined) ?? null,
  );
  return {
    data: { peer: peerId, request_id: exchange.requestId, state: node.a2a.requestState(exchange), reattached },
    message: reattached ? 'this message was sent before with the same params: this is that request, nothing was sent again' : null,
  };
};

/** The answers to a request this node sent, after a seq, in order; by request id or by the task they name. */
export const a2aTask: OperationHandler = async (input, node) => {
  const peerId = input['peer'] as string;
  const after = (input['after'] as number | undefined) ?? -1;
  const limit = (input['limit'] as number | undefined) ?? 100;
  const find = (): Exchange => callingExchange(node, peerId, input);
  await node.a2a.settle(find());
  let exchange = find();
  if (contiguousAnswers(exchange).length <= after + 1 && !isEnded(exchange)) {
    await node.a2a.waitForChange((input['wait_ms'] as number | undefined) ?? 0);
    exchange = find();
  }
  const all = contiguousAnswers(exchange);
  const answers = all.filter((stored) => stored.seq > after).slice(0, limit);
  const last = answers[answers.length - 1];
  return {
    data: {
      peer: peerId,
      request_id: exchange.requestId,
      method: exchange.request.method,
      state: node.a2a.requestState(exchange),
      reason: exchange.failure,
      task: taskSnapshotOf(exchange),
      answers: answers.map((stored) => ({ seq: stored.seq, kind: stored.answer.kind, body: bodyOf(stored.answer), received_at: stored.receivedAt.toISOString() })),
      next: last?.seq ?? after,
      ended: isEnded(exchange) && (last === undefined || last.seq === all[all.length - 1]?.seq),
    },
    message: null,
  };
};

/** The requests a peer sent that this node's agent has not finished answering, in the order they came. */
export const a2aServe: OperationHandler = async (input, node) => {
  const peerId = input['peer'] as string;
  const after = (input['after'] as number | undefined) ?? 0;
  const limit = (input['limit'] as number | undefined) ?? 16;
  await node.a2a.expireUnclaimed(peerId);
  const pending = (): Exchange[] => node.a2a.servingAfter(peerId, after).slice(0, limit);
  let requests = pending();
  if (requests.length === 0) {
    await node.a2a.waitForChange((input['wait_ms'] as number | undefined) ?? 0);
    requests = pending();
  }
  return {
    data: {
      peer: peerId,
      requests: requests.map((exchange) => ({
        request_id: exchange.requestId,
        cursor: exchange.cursor,
        method: exchange.request.method,
        params: exchange.request.params,
        a2a_extensions: exchange.request.service[SERVICE_EXTENSIONS] ?? null,
        claimed: exchange.claimed,
        answered_seq: highestSeq(exchange),
        expires_at: new Date(exchange.request.expiresAt).toISOString(),
      })),
      next_cursor: requests[requests.length - 1]?.cursor ?? after,
    },
    message: null,
  };
};

/** Records and sends one answer of this node's agent to a peer's request, or claims the request. */
export const a2aRespond: OperationHandler = async (input, node) => {
  const peerId = input['peer'] as string;
  const requestId = input['request_id'] as string;
  if (input['claim'] === true) {
    await node.a2a.claim(peerId, requestId);
    return { data: { peer: peerId, request_id: requestId, outcome: 'claimed' }, message: null };
  }
  const seq = input['seq'];
  if (typeof seq !== 'number') throw new P2pError('INVALID_INPUT', 'an answer names its seq (0 for the first answer); or send claim: true alone');
  const response = responseOf(seq, input);
  const outcome = await node.a2a.respond(peerId, requestId, response);
  return { data: { peer: peerId, request_id: requestId, outcome }, message: outcome === 'repeat' ? 'this answer was recorded before; nothing was sent again' : null };
};

function callingExchange(node: NodeContext, peerId: string, input: Record<string, unknown>): Exchange {
  const requestId = input['request_id'] as string | undefined;
  const taskId = input['task_id'] as string | undefined;
  if ((requestId === undefined) === (taskId === undefined)) throw new P2pError('INVALID_INPUT', 'name the request with request_id or with task_id, one of the two');
  const exchange = requestId !== undefined ? node.a2a.calling(peerId, requestId) : node.a2a.callingByTask(peerId, taskId as string);
  if (exchange === undefined) {
    throw new P2pError('NOT_FOUND', `no A2A request ${requestId !== undefined ? requestId : `about task ${taskId}`} to ${peerId} is kept here (or it is older than the retention)`);
  }
  return exchange;
}

function responseOf(seq: number, input: Record<string, unknown>): A2aResponsePayload {
  const given = ['event', 'result', 'error'].filter((key) => input[key] !== undefined);
  if (given.length > 1) throw new P2pError('INVALID_INPUT', `an answer is one of event, result and error, not ${given.join(' and ')}`);
  if (input['event'] !== undefined) {
    if (input['end'] === true) throw new P2pError('INVALID_INPUT', 'an event does not end the answers: send the end (end: true alone) as the next seq');
    return { seq, kind: 'event', event: input['event'] as Record<string, unknown> };
  }
  if (input['result'] !== undefined) return { seq, kind: 'result', result: input['result'] as Record<string, unknown> };
  if (input['error'] !== undefined) return { seq, kind: 'error', error: input['error'] as A2aErrorObject };
  if (input['end'] !== true) throw new P2pError('INVALID_INPUT', 'an answer holds event, result or error, or is the end of a stream (end: true)');
  return { seq, kind: 'end' };
}

function bodyOf(answer: A2aAnswer): unknown {
  if (answer.kind === 'event') return answer.event;
  if (answer.kind === 'result') return answer.result;
  if (answer.kind === 'error') return answer.error;
  return null;
}

function highestSeq(exchange: Exchange): number | null {
  const seqs = [...exchange.answers.keys()];
  return seqs.length === 0 ? null : Math.max(...seqs);
}
