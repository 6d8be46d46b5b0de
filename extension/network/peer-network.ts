import type { Duplex } from 'node:stream';
import type HyperDHT from 'hyperdht';
import type { WebSocket } from 'ws';
import type { NetworkConfig } from '../config';
import type { EventOutbox } from '../events/outbox';
import type { LiveIdentity } from '../identity/live-identity';
import { fingerprintOf } from '../common/peer-id';
import type { Profile } from '../identity/profile';
import type { Logger } from '../log';
import type { RefusalCounters } from '../metrics/refusals';
import type { Consent } from '../pairing/consent';
import { claimedPeerId } from '../pairing/peer-keys';
import { Backoff } from '../common/backoff';
import { dial } from '../transport/dial';
import { PeerServer } from '../transport/peer-server';
import type { PendingRequests } from '../trust/pending-requests';
import type { TrustStore } from '../trust/trust-store';
import { acceptChannel, failureReason, initiateChannel, type HandshakeOptions } from '../wire/channel-handshake';
import { type Decision, DecisionResult, RefusalReason, refusalName } from '../wire/decision';
import { HandshakeError, type ChainMismatch, type PeerProof } from '../wire/handshake';
import { checkRevocationNotice, signRevocationNotice } from '../wire/revocation-notice';
import { MSG_AGENT_CARD, MSG_REVOCATION } from '../wire/session-messages';
import { Intent, type InitiatorPayload, type ResponderPayload } from '../wire/handshake-payload';
import { verifyKeyChain, type RotationStatement } from '../wire/key-rotation';
import { CloseCode, type SecureChannel } from '../wire/secure-channel';
import { advertisedAddresses, formatAddress } from './addresses';
import { persistPort, readPersistedPort } from './listen-port';
import { RefusalBudgets } from './refusal-budgets';
import { keepExisting } from './survivor';
import { DhtReach } from './dht-reach';
import { RotationFollow } from './rotation-follow';
import { isDhtAddress } from '../common/dht-address';
import { DhtDialError, type DhtDialFailure } from '../transport/dht/dht-node';
import { DhtSocket } from '../transport/dht/dht-socket';

export interface PeerNetworkDeps {
  dataDir: string;
  identity: LiveIdentity;
  profile: Profile;
  trust: TrustStore;
  pending: PendingRequests;
  consent: Consent;
  outbox: EventOutbox;
  refusals: RefusalCounters;
  logger: Logger;
  config: NetworkConfig;
  /** Where LAN discovery last heard the peer, if it did: one more address to try, proven like any other by the handshake. */
  discoveredAddress: (peerId: string) => string | null;
  /** Largest accepted difference between a revocation notice's timestamp and our clock. */
  clockSkewMs: number;
  /** hyperdht, loaded when the DHT starts (its native addons are prepared first). */
  loadHyperDht: () => typeof HyperDHT;
  /** Longest this node keeps a pairing connection open after storing the request, for the requester's agent card. */
  requestCardWaitMs: number;
}

/** How a session's bytes travel: TCP to the peer's address, UDP hole-punched through the DHT, or through a blind relay. */
export type PeerPath = 'direct' | 'holepunched' | 'relayed';

/** What one connection attempt to a peer achieved. */
export type AttemptOutcome =
  | 'connected'
  | 'request_delivered'
  | 'rejected'
  | 'not_trusted_by_peer'
  | 'revoked_by_peer'
  | 'busy'
  | 'key_mismatch'
  | 'unreachable'
  | 'needs_relay'
  | 'nothing_to_do';

const SESSION_REQUEST_ID = new Uint8Array(16);
/** Hole punches that give up in a row before a peer is reported as needing a relay (a postponed punch passes; a spoilt one repeats). */
const PUNCH_ABORTS_BEFORE_RELAY_NEEDED = 3;
/** Longest a stopping node waits for its peers to answer its close frames. */
const SESSION_CLOSE_WAIT_MS = 500;

/** Told about sessions as they open, carry messages and close (messaging plugs in here). */
export interface SessionListener {
  opened(peerId: string): void;
  message(peerId: string, type: number, body: Uint8Array): void;
  closed(peerId: string): void;
  /** The peer revoked this node: nothing will reach it any more. */
  revokedByPeer(peerId: string): void;
}

/**
 * What travels with a pairing request once it is stored: the requester's
 * agent card (agent cards plug in here). Only the requester sends one: this
 * node tells a stranger nothing about itself.
 */
export interface RequestCardListener {
  /** The body this node sends once a pair request of its own is stored (empty: no card). */
  cardForRequest(): Uint8Array;
  /** What a requester sent once its request was stored here. */
  cardWithRequest(peerId: string, body: Uint8Array): void;
}

/**
 * The node's connections: one listening server, at most one session per
 * peer, and a retry schedule (exponential backoff with jitter) for every
 * trusted peer that is not connected and every pairing request not yet
 * answered.
 */
export class PeerNetwork {
  private server: PeerServer | null = null;
  private boundPort: number | null = null;
  private listenError: string | null = null;
  private readonly sessions = new Map<string, SecureChannel>();
  private readonly backoffs = new Map<string, Backoff>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Map<string, Promise<AttemptOutcome>>();
  private readonly handshakeOptions: HandshakeOptions;
  private readonly listenBackoff = new Backoff({ baseMs: 500, maxMs: 30_000 });
  private listenRetry: NodeJS.Timeout | null = null;
  private listener: SessionListener | null = null;
  private requestCards: RequestCardListener | null = null;
  private closing = false;
  private readonly refusalBudgets: RefusalBudgets;
  /** The DHT stream under each session that runs over one; sessions absent here run over TCP. */
  private readonly dhtStreams = new WeakMap<SecureChannel, DhtSocket>();
  /** Peers this node has logged that a relay is needed for, since their last session. */
  private readonly toldNeedsRelay = new Set<string>();
  /** Hole punches to a peer that gave up in a row, since its last session. */
  private readonly punchAborts = new Map<string, number>();
  /** Sessions whose hello already taught the peer's DHT key. */
  private readonly dhtBindingLearned = new WeakSet<SecureChannel>();
  readonly dht: DhtReach;
  /** This node's key rotation as its peers see it. */
  readonly rotation: RotationFollow;
  /** While a rotation swaps the key: no handshakes, no dials. */
  private paused = false;

  constructor(private readonly deps: PeerNetworkDeps) {
    const { transport, maxMessagesPerKey, refusalBudget } = deps.config;
    this.refusalBudgets = new RefusalBudgets(refusalBudget);
    this.dht = new DhtReach({
      identity: deps.identity,
      trust: deps.trust,
      pending: deps.pending,
      refusals: deps.refusals,
      logger: deps.logger,
      config: deps.config.dht,
      strangerBurst: deps.config.consentBurst,
      strangerPerMinute: deps.config.consentPerMinute,
      loadHyperDht: deps.loadHyperDht,
      onConnection: (socket) => this.acceptDhtConnection(socket),
    });
    this.rotation = new RotationFollow({
      identity: deps.identity,
      network: { pause: (code, reason) => this.pause(code, reason), resume: () => this.resume() },
      dht: this.dht,
      outbox: deps.outbox,
      logger: deps.logger,
    });
    this.handshakeOptions = {
      handshakeTimeoutMs: transport.handshakeTimeoutMs,
      keepaliveIntervalMs: transport.keepaliveIntervalMs,
      maxMessagesPerKey,
    };
  }

  setSessionListener(listener: SessionListener): void {
    this.listener = listener;
  }

  setRequestCardListener(listener: RequestCardListener): void {
    this.requestCards = listener;
  }

  /** Sends on the peer's open session; false when there is none (the caller keeps the message). */
  /** The body may come in parts, sent as their concatenation (see SecureChannel.send). */
  sendTo(peerId: string, type: number, body: Uint8Array | readonly Uint8Array[]): boolean {
    return this.sessions.get(peerId)?.send(type, body) === true;
  }

  /**
   * Listens, then reaches out to every trusted peer and every unanswered
   * request. The DHT is joined alongside, not waited for: peers it alone
   * reaches are retried with the usual backoff until it is up.
   */
  async start(): Promise<void> {
    await this.listen();
    if (this.closing) return;
    void this.dht.start();
    this.rotation.scheduleRetirement();
    for (const peer of this.deps.trust.list()) if (peer.state === 'trusted') this.scheduleAttempt(peer.peerId, 0);
    for (const request of this.deps.pending.outgoing()) if (request.state !== 'rejected') this.scheduleAttempt(request.peerId, 0);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.rotation.close();
    if (this.listenRetry !== null) clearTimeout(this.listenRetry);
    for (const timer of this.retryTimers.values()) clearTimeout(timer);
    this.retryTimers.clear();
    await this.closeSessions(CloseCode.SHUTDOWN, 'node shutting down');
    await Promise.all([this.server?.close(), this.dht.close()]);
  }

  /** Closes every session with `code` and waits (a little) for the peers to answer the close frames. */
  private async closeSessions(code: number, reason: string): Promise<void> {
    const closed = [...this.sessions.values()].map((channel) => new Promise<void>((resolve) => channel.once('close', () => resolve())));
    for (const channel of this.sessions.values()) channel.close(code, reason);
    // Peers learn of the close from the close frame, before the streams under it go (a DHT stream goes at once).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closed), new Promise<void>((resolve) => (timer = setTimeout(resolve, SESSION_CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** For a rotation: nothing new starts, and what is open closes with `code`. */
  private async pause(code: number, reason: string): Promise<void> {
    this.paused = true;
    await this.closeSessions(code, reason);
  }

  /** After a rotation: sessions closed by it are called again on their retry schedule, under the new key. */
  private resume(): void {
    this.paused = false;
  }

  /** The port this node listens on; null while it is not listening. */
  listeningPort(): number | null {
    return this.boundPort;
  }

  /** host:port addresses a peer can use to reach this node. */
  addresses(): string[] {
    if (this.boundPort === null) return [];
    return advertisedAddresses(this.deps.config.listenHost, this.boundPort, this.deps.config.advertiseHost);
  }

  /** The open session's id (its handshake transcript hash), or null when there is none. */
  sessionIdOf(peerId: string): Uint8Array | null {
    const session = this.sessions.get(peerId);
    return session?.isOpen === true ? session.sessionId : null;
  }

  isOnline(peerId: string): boolean {
    return this.sessions.get(peerId)?.isOpen === true;
  }

  /** How the live session with a peer travels; null when there is none. */
  pathOf(peerId: string): PeerPath | null {
    const channel = this.sessions.get(peerId);
    if (channel === undefined || !channel.isOpen) return null;
    const stream = this.dhtStreams.get(channel);
    return stream === undefined ? 'direct' : this.dht.pathOf(stream);
  }

  /**
   * What a peer's hello said about reaching it through the DHT. A DHT key
   * is kept as its DHT address once both signatures hold (its identity's,
   * and the key's own); one that does not hold is refused input, charged
   * like any other. No key means the peer does not announce itself (DHT
   * `connect` or `off`, or a version before the DHT): a DHT address kept
   * for it, such as the key an incoming connection came from, is dropped,
   * so nobody searches the DHT for it at every retry.
   */
  learnDhtBinding(peerId: string, binding: Uint8Array | null): void {
    const channel = this.sessions.get(peerId);
    // Once per session: a peer repeating hellos with fresh keys must not rewrite the trust store each time.
    if (channel === undefined || this.dhtBindingLearned.has(channel)) return;
    this.dhtBindingLearned.add(channel);
    const { trust } = this.deps;
    // The binding is signed by the key the peer holds now, which a rotation moved away from the one its id names.
    const address = binding === null ? null : this.dht.addressFromBinding(binding, trust.keyOf(peerId));
    if (binding !== null && address === null) return this.refuse(peerId, 'bad_dht_key_binding');
    const peer = trust.get(peerId);
    if (peer?.state !== 'trusted') return;
    if (address === null) trust.forgetDhtAddress(peerId);
    else if (!peer.addresses.includes(address)) trust.recordSeen(peerId, { address });
  }

  /** Who opened the live session with a peer: `outbound` when this node dialled. */
  direction(peerId: string): 'outbound' | 'inbound' | null {
    const channel = this.sessions.get(peerId);
    if (channel === undefined || !channel.isOpen) return null;
    return channel.role === 'initiator' ? 'outbound' : 'inbound';
  }

  status(): { listening: Record<string, unknown>; connections: Record<string, unknown>; dht: Record<string, unknown> } {
    const paths: Record<PeerPath, number> = { direct: 0, holepunched: 0, relayed: 0 };
    for (const peerId of this.sessions.keys()) {
      const path = this.pathOf(peerId);
      if (path !== null) paths[path] += 1;
    }
    return {
      dht: this.dht.status(),
      listening: {
        active: this.boundPort !== null,
        host: this.deps.config.listenHost,
        port: this.boundPort,
        addresses: this.addresses(),
        error: this.listenError,
      },
      connections: {
        active: this.sessions.size,
        tcp: this.server?.connections ?? 0,
        retrying: this.retryTimers.size,
        paths,
      },
    };
  }

  /**
   * Makes one attempt now (or joins the one under way) and keeps retrying
   * in the background if it did not settle the matter.
   */
  attemptNow(peerId: string): Promise<AttemptOutcome> {
    this.cancelRetry(peerId);
    return this.attempt(peerId);
  }

  /**
   * Tells a peer this node just revoked, on its live session if there is
   * one, with a signed notice, then closes. Returns whether the notice went
   * out; a peer that was offline learns it when it next asks for a session.
   */
  announceRevocation(peerId: string): boolean {
    const { identity, trust } = this.deps;
    const sent = this.isOnline(peerId) && this.sendTo(peerId, MSG_REVOCATION, signRevocationNotice(identity, trust.keyOf(peerId), Date.now()));
    this.disconnect(peerId, CloseCode.REVOKED, 'trust revoked');
    return sent;
  }

  /** Closes the peer's session over input an honest peer never sends; the peer stays trusted and may connect again. */
  closeSession(peerId: string, code: number, reason: string): void {
    this.sessions.get(peerId)?.close(code, reason);
  }

  /** Ends the session with a peer that is no longer trusted and stops reaching out to it. */
  disconnect(peerId: string, code: number, reason: string): void {
    this.cancelRetry(peerId);
    this.backoffs.delete(peerId);
    this.refusalBudgets.forget(peerId);
    this.forgetPunchFailures(peerId);
    this.dht.forgetSessionKey(peerId);
    this.sessions.get(peerId)?.close(code, reason);
  }

  /**
   * Counts input from a session peer that was refused and, unless the
   * refusal is not the peer's doing (`charged` false), takes it from the
   * peer's budget. A peer past its budget has its session closed and is kept away
   * for a while: its handshakes are answered "busy" and this node does not
   * reach out to it until then. That is counted and published once per
   * offence, never per refused message.
   */
  refuse(peerId: string, reason: string, charged = true): void {
    this.deps.refusals.count('network', reason);
    if (!charged || this.refusalBudgets.charge(peerId) || !this.isOnline(peerId)) return;
    const backoffMs = this.refusalBudgets.penalize(peerId);
    this.deps.refusals.count('network', 'session_closed_too_many_refusals');
    this.deps.logger.warn(`${peerId} sent more refused input than its budget allows; closing its session and keeping it away for ${backoffMs} ms`);
    this.deps.outbox.enqueue({
      type: 'p2p.peer.misbehaving',
      subject: peerId,
      data: { peer: peerId, reason: 'too_many_refusals', backoff_ms: backoffMs, until: new Date(Date.now() + backoffMs).toISOString() },
    });
    this.sessions.get(peerId)?.close(CloseCode.MISBEHAVING, 'too many refused messages');
  }

  /**
   * Listens on the configured or persisted port. If that port is taken
   * (another program, or a lingering socket after a restart) the node keeps
   * trying with backoff rather than moving: peers have the old port stored.
   */
  private async listen(): Promise<void> {
    const { config, dataDir, logger } = this.deps;
    let port: number;
    try {
      port = config.listenPort ?? readPersistedPort(dataDir) ?? 0;
    } catch (error) {
      this.listenError = (error as Error).message;
      logger.error(this.listenError);
      return;
    }
    const server = new PeerServer({
      host: config.listenHost,
      port,
      limits: config.transport,
      onConnection: (socket, ip, acceptedAt, stream) => void this.acceptIncoming(socket, ip, acceptedAt, stream),
      onRefused: (reason) => this.deps.refusals.count('network', reason),
    });
    try {
      const bound = await server.listen();
      if (this.closing) {
        await server.close();
        return;
      }
      this.server = server;
      this.boundPort = bound.port;
      this.listenError = null;
      if (config.listenPort === null && port === 0) persistPort(dataDir, bound.port);
      logger.info(`listening on ${formatAddress(config.listenHost, bound.port)}`);
    } catch (error) {
      this.listenError = `cannot listen on ${formatAddress(config.listenHost, port)}: ${(error as Error).message}`;
      logger.error(`${this.listenError}; retrying`);
      if (this.closing) return;
      const timer = setTimeout(() => void this.listen(), this.listenBackoff.next());
      timer.unref();
      this.listenRetry = timer;
    }
  }

  /**
   * A DHT connection that passed the firewall goes through the same server
   * as a TCP one: caps and rate per DHT key (the IP seen is a NAT's or a
   * relay's), upgrade deadline, handshake.
   */
  private acceptDhtConnection(socket: DhtSocket): void {
    if (this.server === null || this.closing) {
      socket.destroy();
      return;
    }
    this.server.acceptStream(socket);
  }

  private async acceptIncoming(socket: WebSocket, ip: string, acceptedAt: number, stream: Duplex): Promise<void> {
    const { identity, profile, consent, refusals, logger } = this.deps;
    if (this.paused) {
      // The key is being replaced: the caller retries, and then gets the new key and its chain.
      socket.close(CloseCode.KEY_ROTATED, 'key rotation under way');
      return;
    }
    const signedWith = identity.publicKey;
    const keyChain = this.rotation.chainToAnswer();
    const overDht = stream instanceof DhtSocket;
    // Over the DHT, the address is the key the connection came from, and the way back too, whatever port the payload names.
    const reachBack = (payload: InitiatorPayload): string | null => (overDht ? ip : listenAddressOf(ip, payload));
    try {
      const outcome = await acceptChannel(
        socket,
        identity,
        { displayName: profile.displayName, ...(keyChain === undefined ? {} : { keyChain }) },
        overDht ? ip : formatAddress(ip, 0),
        (initiator) => {
          // The decision and what the session sends once adopted (the hello) leave in one write, uncorked below.
          stream.cork();
          return this.keptAway(consent.keys.peerIdOf(initiator.publicKey, initiator.payload.keyChain)) ?? consent.decide(initiator, reachBack(initiator.payload));
        },
        this.handshakeOptions,
        acceptedAt,
        this.requestCards !== null,
      );
      // The decision took the chain's root as the initiator's id, after checking the key against it.
      const peerId = consent.keys.peerIdOf(outcome.peer.publicKey, outcome.peer.payload.keyChain);
      if (outcome.requestChannel !== null) this.readRequestCard(peerId, outcome.requestChannel);
      if (outcome.channel !== null) {
        if (!this.mayOpenSession(peerId)) {
          outcome.channel.close(CloseCode.REVOKED, 'revoked');
          return;
        }
        if (overDht) {
          this.dhtStreams.set(outcome.channel, stream);
          this.dht.rememberSessionKey(peerId, ip);
        }
        this.adopt(peerId, outcome.channel, signedWith);
      }
    } catch (error) {
      refusals.count('network', `handshake_${failureReason(error)}`);
      logger.debug(`incoming handshake from ${ip} refused: ${(error as Error).message}`);
    } finally {
      // Not corked when the handshake failed before the decision: then a no-op.
      stream.uncork();
    }
  }

  /**
   * Waits for the one message a requester sends once its request is
   * stored, its agent card, then closes the connection (4000). A requester
   * that sends none (an earlier build closes at once) costs at most
   * `requestCardWaitMs` of an open connection; anything else is counted
   * and dropped. A stranger has no refusal budget (that is for paired
   * peers); the consent rate limit bounds how often this happens.
   */
  private readRequestCard(peerId: string, channel: SecureChannel): void {
    const done = (): void => channel.close(CloseCode.DECISION, 'not a session');
    const timer = setTimeout(done, this.deps.requestCardWaitMs);
    channel.once('close', () => clearTimeout(timer));
    channel.setMessageHandler((type, body) => {
      if (type === MSG_AGENT_CARD) this.requestCards?.cardWithRequest(peerId, body);
      else this.deps.refusals.count('network', `request_unexpected_message_type_${type}`);
      done();
    });
  }

  /** A peer serving a penalty for refused input is told the node is busy, whatever it asks for. */
  private keptAway(peerId: string): Decision | null {
    if (this.refusalBudgets.remainingMs(peerId) === 0) return null;
    this.deps.refusals.count('network', 'session_kept_away');
    return { result: DecisionResult.REFUSED, reason: RefusalReason.BUSY };
  }

  private attempt(peerId: string): Promise<AttemptOutcome> {
    const running = this.inFlight.get(peerId);
    if (running !== undefined) return running;
    const attempt = this.reachOut(peerId).finally(() => this.inFlight.delete(peerId));
    this.inFlight.set(peerId, attempt);
    return attempt;
  }

  /** One round over the peer's known addresses, then the next retry is scheduled if needed. */
  private async reachOut(peerId: string): Promise<AttemptOutcome> {
    if (this.closing) return 'nothing_to_do';
    if (this.isOnline(peerId)) return 'connected';
    if (this.paused) {
      this.scheduleRetry(peerId);
      return 'busy';
    }
    if (this.refusalBudgets.remainingMs(peerId) > 0) {
      // Kept away for refused input: not called either, until the penalty is over.
      this.scheduleRetry(peerId);
      return 'busy';
    }
    const plan = this.planFor(peerId);
    if (plan === null) return 'nothing_to_do';
    let outcome: AttemptOutcome = 'unreachable';
    for (const address of plan.addresses) {
      outcome = isDhtAddress(address) ? await this.tryDht(peerId, address, plan.payload) : await this.handshake(peerId, address, plan.payload, undefined);
      if (outcome !== 'unreachable' && outcome !== 'key_mismatch' && outcome !== 'needs_relay') break;
    }
    const request = this.deps.pending.findOutgoingByPeer(peerId);
    if (request !== undefined && outcome !== 'connected') {
      this.deps.pending.updateOutgoing(request.requestId, {
        attempts: request.attempts + 1,
        lastError: outcome === 'request_delivered' ? null : outcome,
        ...(outcome === 'request_delivered' ? { state: 'delivered' as const } : {}),
        ...(outcome === 'rejected' ? { state: 'rejected' as const } : {}),
      });
    }
    // Retried while there is still something to ask for: not after a rejection or a revocation.
    if (outcome !== 'connected' && this.planFor(peerId) !== null) this.scheduleRetry(peerId);
    return outcome;
  }

  /**
   * Known direct addresses first, then the one LAN discovery heard (only a
   * claim), then the DHT: hole punching, and a relay if that fails.
   */
  private planFor(peerId: string): { addresses: readonly string[]; payload: InitiatorPayload } | null {
    const { trust, pending, profile, discoveredAddress } = this.deps;
    const listenPort = this.boundPort ?? 0;
    const discovered = discoveredAddress(peerId);
    const trusted = trust.get(peerId);
    if (trusted?.state === 'trusted') {
      return {
        addresses: this.dialingOrder(withAddress(trusted.addresses, discovered)),
        payload: withChain({ intent: Intent.SESSION, requestId: SESSION_REQUEST_ID, listenPort, displayName: profile.displayName }, this.rotation.chainToSend(peerId, Intent.SESSION)),
      };
    }
    const request = pending.findOutgoingByPeer(peerId);
    if (request === undefined || request.state === 'rejected') return null;
    const known = [request.address, request.dhtAddress].filter((address): address is string => address !== null);
    const addresses = this.dialingOrder(withAddress(known, discovered));
    if (addresses.length === 0) return null;
    return {
      addresses,
      payload: withChain(
        { intent: Intent.PAIR_REQUEST, requestId: Buffer.from(request.requestId, 'hex'), listenPort, displayName: profile.displayName },
        this.rotation.chainToSend(peerId, Intent.PAIR_REQUEST),
      ),
    };
  }

  /** Direct addresses before DHT ones; without a running DHT, only the direct ones. */
  private dialingOrder(addresses: readonly string[]): string[] {
    const direct = addresses.filter((address) => !isDhtAddress(address));
    return this.dht.enabled ? [...direct, ...addresses.filter(isDhtAddress)] : direct;
  }

  /**
   * Reaches a peer through the DHT: a hole-punched connection first, then
   * each configured relay in turn (hyperdht would pick one at random, and a
   * dead one would fail the attempt). Without relays, a punch that cannot
   * work (both NATs change ports per destination), or that has given up
   * PUNCH_ABORTS_BEFORE_RELAY_NEEDED times in a row, ends as `needs_relay`.
   */
  private async tryDht(peerId: string, address: string, payload: InitiatorPayload): Promise<AttemptOutcome> {
    let failure: DhtDialFailure = 'unreachable';
    for (const relay of [null, ...this.dht.relays]) {
      try {
        return await this.handshake(peerId, address, payload, await this.dht.dial(address, relay));
      } catch (error) {
        failure = error instanceof DhtDialError ? error.reason : 'unreachable';
        this.deps.logger.debug(`${peerId}${relay === null ? '' : ' through a relay'}: ${(error as Error).message}`);
        // Nobody announces under that key: no relay can find it either.
        if (failure === 'peer_not_found') return 'unreachable';
      }
    }
    if (this.dht.relays.length > 0) return 'unreachable';
    const aborts = failure === 'holepunch_aborted' ? (this.punchAborts.get(peerId) ?? 0) + 1 : 0;
    if (aborts > 0) this.punchAborts.set(peerId, aborts);
    if (failure !== 'holepunch_failed' && aborts < PUNCH_ABORTS_BEFORE_RELAY_NEEDED) return 'unreachable';
    // Said once per peer until a session opens, not at every retry.
    if (!this.toldNeedsRelay.has(peerId)) {
      this.toldNeedsRelay.add(peerId);
      this.deps.logger.info(
        `${peerId}: hole punching failed, as it does when both NATs change ports per destination, or a router answers ` +
          'unsolicited packets itself; a relay is needed: set P2P_COMM_RELAYS (docs/reach.md)',
      );
    }
    return 'needs_relay';
  }

  /** A session opened, or the peer is no longer called: its punches start counting again. */
  private forgetPunchFailures(peerId: string): void {
    this.toldNeedsRelay.delete(peerId);
    this.punchAborts.delete(peerId);
  }

  /**
   * The key the dialed peer must prove: for a pair request, the one its link
   * gave (a revoked pairing's record may hold an older key); otherwise the
   * one this node holds now, which follows the peer's rotations.
   */
  private expectedKey(peerId: string, intent: Intent): Uint8Array {
    const request = intent === Intent.PAIR_REQUEST ? this.deps.pending.findOutgoingByPeer(peerId) : undefined;
    return request?.publicKey ?? this.deps.trust.keyOf(peerId);
  }

  /**
   * The WebSocket (over TCP to `address`, or over an open DHT `stream`) and
   * the handshake. The DHT connection had its own deadline
   * (P2P_COMM_DHT_CONNECT_TIMEOUT_MS); the handshake's starts here.
   */
  private async handshake(peerId: string, address: string, payload: InitiatorPayload, stream: DhtSocket | undefined): Promise<AttemptOutcome> {
    const { identity, refusals, logger } = this.deps;
    const startedAt = Date.now();
    const signedWith = identity.publicKey;
    let socket: WebSocket;
    try {
      socket = await dial(address, this.deps.config.transport, stream);
    } catch (error) {
      logger.debug(`${peerId}: ${(error as Error).message}`);
      stream?.destroy();
      return 'unreachable';
    }
    // A channel the handshake opened and nothing took over yet: closed if what follows it throws.
    let unadopted: SecureChannel | null = null;
    try {
      const followUp = payload.intent === Intent.PAIR_REQUEST && this.requestCards !== null ? { type: MSG_AGENT_CARD, body: this.requestCards.cardForRequest() } : null;
      let pairingChain: RotationStatement[] = [];
      const checkResponder = (responder: PeerProof<ResponderPayload>): void => {
        pairingChain = this.followResponder(peerId, responder);
      };
      const expected = this.expectedKey(peerId, payload.intent);
      const outcome = await initiateChannel(socket, identity, expected, payload, address, this.handshakeOptions, startedAt, followUp, checkResponder);
      const { decision, channel } = outcome;
      unadopted = channel;
      if (decision.result === DecisionResult.SESSION_OPEN && channel !== null) {
        if (!this.mayOpenSession(peerId)) {
          channel.close(CloseCode.REVOKED, 'revoked');
          return 'nothing_to_do';
        }
        this.onSessionOpened(peerId, address, outcome.peer, pairingChain);
        if (stream !== undefined) this.dhtStreams.set(channel, stream);
        this.adopt(peerId, channel, signedWith);
        unadopted = null;
        return 'connected';
      }
      if (decision.result === DecisionResult.REQUEST_STORED) return 'request_delivered';
      logger.info(`${peerId} refused the connection: ${refusalName(decision.reason)}`);
      switch (decision.reason) {
        case RefusalReason.REJECTED:
          return 'rejected';
        case RefusalReason.NOT_TRUSTED:
          return 'not_trusted_by_peer';
        case RefusalReason.REVOKED:
          this.revokedByPeer(peerId);
          return 'revoked_by_peer';
        default:
          return 'busy';
      }
    } catch (error) {
      unadopted?.close(CloseCode.HANDSHAKE_FAILED, 'handshake failed');
      if (error instanceof HandshakeError && error.reason === 'key_mismatch' && error.presentedKey !== null) {
        this.reportKeyMismatch(peerId, error.presentedKey, address, error.chain ?? 'none');
        return 'key_mismatch';
      }
      refusals.count('network', `handshake_${failureReason(error)}`);
      logger.info(`${peerId} at ${address}: handshake failed: ${(error as Error).message}`);
      return 'unreachable';
    }
  }

  /**
   * Whether a session that a handshake just opened may be kept: the peer is
   * trusted, or this node asked to pair with it. A handshake runs for a
   * while; a revocation made meanwhile must not be undone by the session it
   * was racing (the initiator would otherwise take the open session as the
   * peer's consent and pair again).
   */
  private mayOpenSession(peerId: string): boolean {
    return this.deps.trust.isTrusted(peerId) || this.deps.pending.findOutgoingByPeer(peerId) !== undefined;
  }

  /**
   * Before message 3: the responder's key is the one this node expected,
   * or one its chain (verified by the handshake, holding the expected key)
   * certifies. A known peer's record then follows the chain (the new key
   * is pinned, durably, before this node says anything more); for a peer
   * this node only asked to pair with, the chain must root at its id. The
   * chain is returned for the pairing this session may complete.
   */
  private followResponder(peerId: string, responder: PeerProof<ResponderPayload>): RotationStatement[] {
    const { trust, consent } = this.deps;
    const mismatch = (chain: ChainMismatch): HandshakeError =>
      new HandshakeError('key_mismatch', 'the node at this address proved a key its chain does not certify for this peer', responder.publicKey, chain);
    const statements = responder.payload.keyChain;
    if (trust.stateOf(peerId) !== undefined) {
      // Also when the key is the one expected: a pair request to a revoked peer expects its link's key, which may be one the record already left.
      const refused = consent.keys.follow(peerId, responder.publicKey, statements);
      if (refused !== null) throw mismatch(refused);
      // Names the record's root when a revoked peer is paired again (the pinned key is then its end).
      return statements ?? [];
    }
    if (claimedPeerId(responder.publicKey, statements) !== peerId) throw mismatch('other_root');
    if (statements === undefined) return [];
    // A pairing pins the chain with the key: it is verified here even when the link already named the current key.
    if (responder.keyChain === undefined) {
      const verdict = verifyKeyChain(statements);
      if (!verdict.ok) throw mismatch(`invalid_${verdict.refusal}`);
    }
    return statements;
  }

  private onSessionOpened(peerId: string, address: string, responder: PeerProof<ResponderPayload>, pairingChain: readonly RotationStatement[]): void {
    const { trust, consent } = this.deps;
    const displayName = consent.acceptableName(responder.payload.displayName);
    if (trust.isTrusted(peerId)) {
      trust.recordSeen(peerId, { address, displayName });
    } else {
      // We asked to pair and the peer opened a session: it had consented too.
      consent.completePairing(responder.publicKey, displayName, [address], pairingChain);
    }
  }

  private reportKeyMismatch(peerId: string, presentedKey: Uint8Array, address: string, chain: ChainMismatch): void {
    const { consent, logger } = this.deps;
    logger.warn(`${address} claimed to be ${peerId} but proved another key (${fingerprintOf(presentedKey)}, key chain: ${chain}); refused`);
    consent.keys.mismatch(peerId, presentedKey, address, chain, this.expectedKey(peerId, Intent.PAIR_REQUEST));
  }

  /**
   * Keeps one session per peer (see survivor.ts for which). A session whose
   * handshake this node signed with a key it has since replaced is closed
   * (4008): the peer would check everything sent on it against that key.
   */
  private adopt(peerId: string, channel: SecureChannel, signedWith: Uint8Array): void {
    if (this.paused || Buffer.compare(signedWith, this.deps.identity.publicKey) !== 0) {
      channel.close(CloseCode.KEY_ROTATED, 'key rotated');
      return;
    }
    this.rotation.sessionOpened(peerId);
    const existing = this.sessions.get(peerId);
    if (existing !== undefined && existing.isOpen) {
      const myId = this.deps.identity.peerId;
      const side = (c: SecureChannel) => ({ openedBy: c.role === 'initiator' ? myId : peerId });
      const keepOld = keepExisting(side(existing), side(channel));
      const loser = keepOld ? channel : existing;
      this.sessions.set(peerId, keepOld ? existing : channel);
      loser.close(CloseCode.DUPLICATE, 'duplicate connection');
      if (keepOld) return;
    } else {
      this.sessions.set(peerId, channel);
      const stream = this.dhtStreams.get(channel);
      const path = stream === undefined ? 'direct' : this.dht.pathOf(stream);
      this.deps.outbox.enqueue({ type: 'p2p.peer.connected', subject: peerId, data: { peer: peerId, path } });
    }
    this.backoffs.get(peerId)?.reset();
    this.forgetPunchFailures(peerId);
    channel.on('refused', (reason) => this.deps.refusals.count('network', `session_${reason}`));
    channel.on('close', (code) => this.onChannelClosed(peerId, channel, code));
    this.listener?.opened(peerId);
    channel.setMessageHandler((type, body) => {
      if (type === MSG_REVOCATION) this.receiveRevocation(peerId, body);
      else if (this.listener === null) this.deps.refusals.count('network', `unknown_message_type_${type}`);
      else this.listener.message(peerId, type, body);
    });
  }

  /** A notice that is not the session peer revoking this node, recently and in its own hand, changes nothing. */
  private receiveRevocation(peerId: string, body: Uint8Array): void {
    const { identity, trust, logger, clockSkewMs } = this.deps;
    const refusal = checkRevocationNotice(body, { revoker: trust.keyOf(peerId), me: identity.publicKey, now: Date.now(), clockSkewMs });
    if (refusal !== null) {
      this.refuse(peerId, `revocation_notice_${refusal}`);
      logger.warn(`${peerId} sent a revocation notice that does not hold (${refusal}); ignored`);
      return;
    }
    this.revokedByPeer(peerId);
  }

  /** The peer revoked this node (its notice, or its REVOKED decision): stop reaching out, and let messaging give up. */
  private revokedByPeer(peerId: string): void {
    const { consent, logger } = this.deps;
    try {
      if (!consent.endedByPeer(peerId)) return;
    } catch (error) {
      logger.error(`cannot record that ${peerId} revoked this node: ${(error as Error).message}`);
      return;
    }
    logger.info(`${peerId} revoked the pairing with this node; no longer reaching out to it`);
    this.disconnect(peerId, CloseCode.REVOKED, 'revoked by the peer');
    this.listener?.revokedByPeer(peerId);
  }

  private onChannelClosed(peerId: string, channel: SecureChannel, code: number): void {
    if (this.sessions.get(peerId) !== channel) return;
    this.sessions.delete(peerId);
    this.listener?.closed(peerId);
    this.deps.outbox.enqueue({ type: 'p2p.peer.disconnected', subject: peerId, data: { peer: peerId, code } });
    if (!this.closing && this.deps.trust.isTrusted(peerId)) this.scheduleRetry(peerId);
  }

  private scheduleRetry(peerId: string): void {
    let backoff = this.backoffs.get(peerId);
    if (backoff === undefined) {
      backoff = new Backoff({ baseMs: this.deps.config.reconnectBaseMs, maxMs: this.deps.config.reconnectMaxMs });
      this.backoffs.set(peerId, backoff);
    }
    // A peer kept away for refused input is not called back before its penalty is over.
    this.scheduleAttempt(peerId, Math.max(backoff.next(), this.refusalBudgets.remainingMs(peerId)));
  }

  private cancelRetry(peerId: string): void {
    clearTimeout(this.retryTimers.get(peerId));
    this.retryTimers.delete(peerId);
  }

  private scheduleAttempt(peerId: string, delayMs: number): void {
    if (this.closing || this.retryTimers.has(peerId)) return;
    const timer = setTimeout(() => {
      this.retryTimers.delete(peerId);
      void this.attempt(peerId);
    }, delayMs);
    timer.unref();
    this.retryTimers.set(peerId, timer);
  }
}

function listenAddressOf(ip: string, payload: InitiatorPayload): string | null {
  return payload.listenPort === 0 ? null : formatAddress(ip, payload.listenPort);
}

function withChain(payload: InitiatorPayload, keyChain: RotationStatement[] | undefined): InitiatorPayload {
  return keyChain === undefined ? payload : { ...payload, keyChain };
}

function withAddress(addresses: readonly string[], extra: string | null): readonly string[] {
  return extra === null || addresses.includes(extra) ? addresses : [...addresses, extra];
}
