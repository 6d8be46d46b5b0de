import type { WebSocket } from 'ws';
import { decodeDecision, encodeDecision, MSG_DECISION, DecisionResult, type Decision } from './decision';
import { FrameError, FrameQueue } from './frame-queue';
import {
  HandshakeError,
  INIT_BYTES,
  InitiatorHandshake,
  MAX_HANDSHAKE_MESSAGE_BYTES,
  ResponderHandshake,
  type PeerProof,
  type StaticIdentity,
} from './handshake';
import type { InitiatorPayload, ResponderPayload } from './handshake-payload';
import { CloseCode, SecureChannel, type ChannelOptions } from './secure-channel';

/**
 * Runs the handshake over a fresh WebSocket, then hands the socket to a
 * SecureChannel. The whole exchange, decision included, must finish within
 * `handshakeTimeoutMs` of `startedAt`, or the socket is closed. `startedAt`
 * is when the connection began (the TCP accept, or the start of the dial),
 * so that the WebSocket upgrade counts against the same deadline.
 */
export interface HandshakeOptions extends ChannelOptions {
  handshakeTimeoutMs: number;
}

export interface ChannelOutcome<P> {
  decision: Decision;
  peer: PeerProof<P>;
  /** Open only when the decision is SESSION_OPEN. */
  channel: SecureChannel | null;
}

export type Failure = HandshakeError | FrameError;

/**
 * What an initiator adds to a pair request once it is stored (decision 2):
 * one session message, sent before the connection closes. p2p-comm sends
 * its agent card so (docs/protocol.md §15).
 */
export interface RequestFollowUp {
  type: number;
  body: Uint8Array;
}

export interface AcceptOutcome extends ChannelOutcome<InitiatorPayload> {
  /**
   * After "request stored", when the caller asked to read what follows the
   * request: the channel, still open, for the caller to read from and close.
   */
  requestChannel: SecureChannel | null;
}

function abort(socket: WebSocket, error: unknown): never {
  socket.close(CloseCode.HANDSHAKE_FAILED, 'handshake failed');
  setTimeout(() => socket.terminate(), 1000).unref();
  throw error;
}

export async function initiateChannel(
  socket: WebSocket,
  identity: StaticIdentity,
  expectedPeer: Uint8Array,
  payload: InitiatorPayload,
  remoteAddress: string,
  options: HandshakeOptions,
  startedAt = Date.now(),
  followUp: RequestFollowUp | null = null,
  /**
   * Runs once the responder is proven and before message 3 leaves: a
   * responder that proved another key than `expectedPeer`, with a chain
   * that certifies it, is followed here (the trust store pins the new key
   * first); throwing ends the handshake as failed.
   */
  checkResponder: ((responder: PeerProof<ResponderPayload>) => void) | null = null,
): Promise<ChannelOutcome<ResponderPayload>> {
  const deadline = startedAt + options.handshakeTimeoutMs;
  const frames = new FrameQueue(socket, deadline);
  let channel: SecureChannel;
  let responder: PeerProof<ResponderPayload>;
  try {
    const handshake = new InitiatorHandshake(identity, expectedPeer, payload);
    socket.send(handshake.start(), { binary: true });
    const finished = handshake.finish(await frames.next(MAX_HANDSHAKE_MESSAGE_BYTES));
    responder = finished.responder;
    checkResponder?.(responder);
    socket.send(finished.finish, { binary: true });
    channel = new SecureChannel(
      socket,
      finished.keys,
      { publicKey: responder.publicKey, displayName: responder.payload.displayName },
      'initiator',
      remoteAddress,
      options,
      frames.detach(),
    );
  } catch (error) {
    frames.detach();
    abort(socket, error);
  }
  const decision = await awaitDecision(channel, deadline);
  if (decision.result !== DecisionResult.SESSION_OPEN) {
    // Sealed and written before the close frame: a responder that reads it gets it; one that closed already drops it.
    if (decision.result === DecisionResult.REQUEST_STORED && followUp !== null) channel.send(followUp.type, followUp.body);
    channel.close(CloseCode.DECISION, 'not a session');
    return { decision, peer: responder, channel: null };
  }
  return { decision, peer: responder, channel };
}

function awaitDecision(channel: SecureChannel, deadline: number): Promise<Decision> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new FrameError('timeout', 'no decision from the peer in time')), deadline - Date.now());
    const onMessage = (type: number, body: Uint8Array): void => {
      const decision = type === MSG_DECISION ? decodeDecision(body) : null;
      finish(decision ?? new HandshakeError('malformed', 'first session message is not a valid decision'));
    };
    const onClose = (): void => finish(new FrameError('closed', 'peer closed the connection before deciding'));
    const finish = (outcome: Decision | Error): void => {
      clearTimeout(timer);
      channel.setMessageHandler(null);
      channel.off('close', onClose);
      if (outcome instanceof Error) {
        channel.close(CloseCode.HANDSHAKE_FAILED, 'no valid decision');
        reject(outcome);
      } else {
        resolve(outcome);
      }
    };
    channel.on('close', onClose);
    channel.setMessageHandler(onMessage);
  });
}

/**
 * `decide` sees the initiator's proven identity and request, and answers
 * with the decision; for anything but SESSION_OPEN the connection closes
 * right after the decision is sent, unless `readAfterRequest` asks to read
 * what the initiator adds to a stored request (`requestChannel`).
 */
export async function acceptChannel(
  socket: WebSocket,
  identity: StaticIdentity,
  payload: ResponderPayload,
  remoteAddress: string,
  decide: (initiator: PeerProof<InitiatorPayload>, remoteAddress: string) => Decision | Promise<Decision>,
  options: HandshakeOptions,
  startedAt = Date.now(),
  readAfterRequest = false,
): Promise<AcceptOutcome> {
  const frames = new FrameQueue(socket, startedAt + options.handshakeTimeoutMs);
  let finished: ReturnType<ResponderHandshake['finish']>;
  try {
    const handshake = new ResponderHandshake(identity, payload);
    socket.send(handshake.respond(await frames.next(INIT_BYTES)), { binary: true });
    finished = handshake.finish(await frames.next(MAX_HANDSHAKE_MESSAGE_BYTES));
  } catch (error) {
    frames.detach();
    abort(socket, error);
  }
  const channel = new SecureChannel(
    socket,
    finished.keys,
    { publicKey: finished.initiator.publicKey, displayName: finished.initiator.payload.displayName },
    'responder',
    remoteAddress,
    options,
    frames.detach(),
  );
  let decision: Decision;
  try {
    decision = await decide(finished.initiator, remoteAddress);
  } catch (error) {
    channel.close(CloseCode.HANDSHAKE_FAILED, 'no decision');
    throw error;
  }
  channel.send(MSG_DECISION, encodeDecision(decision));
  if (decision.result === DecisionResult.REQUEST_STORED && readAfterRequest) {
    return { decision, peer: finished.initiator, channel: null, requestChannel: channel };
  }
  if (decision.result !== DecisionResult.SESSION_OPEN) {
    channel.close(CloseCode.DECISION, 'not a session');
    return { decision, peer: finished.initiator, channel: null, requestChannel: null };
  }
  return { decision, peer: finished.initiator, channel, requestChannel: null };
}

export function failureReason(error: unknown): string {
  if (error instanceof HandshakeError || error instanceof FrameError) return error.reason;
  return 'internal';
}
