import type { EventOutbox } from '../events/outbox';
import type { LiveIdentity } from '../identity/live-identity';
import type { RotationOptions } from '../identity/node-identity';
import type { Logger } from '../log';
import { Intent } from '../wire/handshake-payload';
import type { RotationStatement } from '../wire/key-rotation';
import { CloseCode } from '../wire/secure-channel';
import type { DhtReach } from './dht-reach';

/**
 * Told to peers in the hello. A node always takes a chain in a handshake;
 * the capability tells a rotated node which peers will follow it.
 */
export const KEY_ROTATION_CAPABILITY = 'key-rotation-v1';

/** What the rotation needs of the network around it. */
export interface RotatingNetwork {
  /** No new handshakes and no dials; every session closed with `code`; resolves once they are closed. */
  pause(code: number, reason: string): Promise<void>;
  resume(): void;
}

export interface RotationFollowDeps {
  identity: LiveIdentity;
  network: RotatingNetwork;
  dht: DhtReach;
  outbox: EventOutbox;
  logger: Logger;
  now?: () => Date;
}

export interface RotationResult {
  oldFingerprint: string;
  fingerprint: string;
  seq: number;
  retireAt: Date;
}

/** Longest a timer waits in one go (setTimeout's limit is about 24.8 days; a grace period may be longer). */
const LONGEST_TIMER_MS = 2 ** 31 - 1;
/** A key past its retire time that could not be erased yet (a rotation under way, a failed write) is tried again this much later. */
const RETIRE_RETRY_MS = 60_000;

/**
 * This node's side of key rotation in the network (docs/protocol.md §19):
 * which chain its handshakes carry, which peers confirmed its current key,
 * the rotation itself (sessions closed with 4008 before the key changes, so
 * that nothing in flight is checked against a key the peer does not know
 * yet), and the erasure of replaced keys once their grace period is over.
 */
export class RotationFollow {
  private retireTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly deps: RotationFollowDeps) {}

  /**
   * The chain message 3 carries: to a peer that has not confirmed the
   * current key, and with every pair request (the peer may know nothing
   * of this node but the key its link named). An unrotated node sends none.
   */
  chainToSend(peerId: string, intent: Intent): RotationStatement[] | undefined {
    const chain = this.deps.identity.keyChain;
    if (chain.length === 0) return undefined;
    if (intent !== Intent.PAIR_REQUEST && (this.deps.identity.confirmed[peerId] ?? 0) >= chain.length) return undefined;
    return [...chain];
  }

  /** The chain message 2 carries: the whole chain once rotated, since a responder cannot know who calls. */
  chainToAnswer(): RotationStatement[] | undefined {
    const chain = this.deps.identity.keyChain;
    return chain.length === 0 ? undefined : [...chain];
  }

  /** A session opened under the current key: the peer pinned it (or followed the chain to it). */
  sessionOpened(peerId: string): void {
    const { identity, logger } = this.deps;
    if (identity.keyChain.length === 0) return;
    try {
      identity.recordConfirmed(peerId, identity.keyChain.length);
    } catch (error) {
      // Only costs the chain being sent once more.
      logger.warn(`could not record that ${peerId} follows this node's current key: ${(error as Error).message}`);
    }
  }

  /**
   * Replaces this node's key: the next identity file is written, the
   * network paused and every session closed (4008), the file renamed into
   * place and the new key taken, then the network resumes; the DHT then
   * listens under the new key (and the old one, until it retires) in the
   * background. Peers reconnect and learn the chain from the handshake.
   */
  async rotate(options: Partial<RotationOptions> = {}): Promise<RotationResult> {
    const { identity, network, outbox, logger } = this.deps;
    const oldFingerprint = identity.fingerprint;
    const oldKey = identity.publicKey;
    const prepared = identity.prepareRotation({ ...options, ...(this.deps.now === undefined ? {} : { clock: { now: this.deps.now } }) });
    let failure: { error: unknown } | null = null;
    try {
      await network.pause(CloseCode.KEY_ROTATED, 'key rotated');
      prepared.commit();
    } catch (error) {
      failure = { error };
      // A commit that threw settled the rotation itself (LiveIdentity); a failed pause left the next file waiting.
      if (identity.rotationUnderWay) prepared.abandon();
    } finally {
      // Whatever failed, the node takes handshakes again, under whichever key it now holds.
      network.resume();
    }
    if (failure !== null) {
      if (Buffer.compare(identity.publicKey, oldKey) === 0) throw failure.error;
      logger.warn(`the new key is in place (the identity file holds it), but writing it ended with an error: ${(failure.error as Error).message}; check the disk of the data folder`);
    }
    // The swap is done: the DHT's announcement under the new key can take seconds, and is not what the caller waits for.
    this.followOnDht();
    this.scheduleRetirement();
    const seq = identity.keyChain.length;
    const retireAt = identity.retiring.at(-1)?.retireAt ?? new Date();
    logger.info(`this node's key was rotated (key ${seq}); fingerprint now ${identity.fingerprint}, the previous key retires at ${retireAt.toISOString()}`);
    outbox.enqueue({ type: 'p2p.identity.rotated', subject: identity.peerId, data: { old_fingerprint: oldFingerprint, fingerprint: identity.fingerprint, seq } });
    return { oldFingerprint, fingerprint: identity.fingerprint, seq, retireAt };
  }

  /** Erases the seeds whose grace period is over now, and again whenever the next one ends. */
  scheduleRetirement(): void {
    if (this.retireTimer !== null) clearTimeout(this.retireTimer);
    this.retireTimer = null;
    if (this.closed) return;
    const { identity, logger } = this.deps;
    const now = this.now();
    try {
      if (identity.retireExpired(now)) {
        logger.info('a replaced key reached the end of its grace period: its seed is erased and its DHT address no longer listened under');
        this.followOnDht();
      }
    } catch (error) {
      logger.warn(`could not erase a retired key yet: ${(error as Error).message}; trying again later`);
    }
    const next = Math.min(...identity.retiring.map((key) => key.retireAt.getTime()));
    if (!Number.isFinite(next)) return;
    const due = next - now.getTime();
    const timer = setTimeout(() => this.scheduleRetirement(), due <= 0 ? RETIRE_RETRY_MS : Math.min(due, LONGEST_TIMER_MS));
    timer.unref();
    this.retireTimer = timer;
  }

  /**
   * Moves the DHT to the identity's keys, in the background. A failure is
   * logged, never left as an unhandled rejection (which ends the process):
   * it costs reach through the DHT under the new key, not the rotation.
   */
  private followOnDht(): void {
    this.deps.dht.followIdentity().catch((error: unknown) => {
      if (this.closed) return;
      this.deps.logger.warn(`the DHT could not follow this node's key: ${(error as Error).message}; peers still reach it at its other addresses`);
    });
  }

  close(): void {
    this.closed = true;
    if (this.retireTimer !== null) clearTimeout(this.retireTimer);
    this.retireTimer = null;
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}
