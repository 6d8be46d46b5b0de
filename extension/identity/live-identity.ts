import {
  prepareRotation,
  recordConfirmed,
  retireExpiredKeys,
  type NodeIdentity,
  type PreparedRotation,
  type RetiringKey,
  type RotationOptions,
} from './node-identity';
import type { RotationStatement } from '../wire/key-rotation';

/**
 * The node's identity as its parts hold it: one object for the node's
 * life whose keys follow a rotation, and the one owner of the identity
 * file. Every change (a rotation, a confirmation, a retired seed) goes
 * through here and replaces the state it came from, so no part can write
 * the file from a state a rotation already left behind.
 */
export class LiveIdentity implements NodeIdentity {
  private current: NodeIdentity;
  private rotating = false;

  constructor(loaded: NodeIdentity) {
    this.current = loaded;
  }

  get publicKey(): Uint8Array {
    return this.current.publicKey;
  }

  get peerId(): string {
    return this.current.peerId;
  }

  get rootKey(): Uint8Array {
    return this.current.rootKey;
  }

  get fingerprint(): string {
    return this.current.fingerprint;
  }

  get keyChain(): readonly RotationStatement[] {
    return this.current.keyChain;
  }

  get retiring(): readonly RetiringKey[] {
    return this.current.retiring;
  }

  get confirmed(): Readonly<Record<string, number>> {
    return this.current.confirmed;
  }

  get dhtSeed(): Uint8Array {
    return this.current.dhtSeed;
  }

  readonly sign = (message: Uint8Array): Uint8Array => this.current.sign(message);

  /** Whether a rotation's next file waits for its commit. */
  get rotationUnderWay(): boolean {
    return this.rotating;
  }

  /**
   * The first step of a rotation (node-identity.ts); the keys change here
   * only once it is committed. A commit that throws still ends the
   * rotation: the node holds whichever identity the file holds, so memory
   * and disk never disagree about the key.
   */
  prepareRotation(options: Partial<RotationOptions> = {}): PreparedRotation {
    const prepared = prepareRotation(this.current, options);
    this.rotating = true;
    return {
      next: prepared.next,
      commit: () => {
        try {
          prepared.commit();
          this.current = prepared.next;
        } catch (error) {
          if (prepared.inPlace()) this.current = prepared.next;
          else prepared.abandon();
          throw error;
        } finally {
          this.rotating = false;
        }
      },
      abandon: () => {
        try {
          prepared.abandon();
        } finally {
          this.rotating = false;
        }
      },
      inPlace: () => prepared.inPlace(),
    };
  }

  /** A peer proved, by opening a session, that it pinned the chain up to `seq`. */
  recordConfirmed(peerId: string, seq: number): void {
    // Lazy by design: a confirmation lost to a rotation under way only means the chain is sent once more.
    if (this.rotating || (this.current.confirmed[peerId] ?? 0) >= seq) return;
    this.current = recordConfirmed(this.current, peerId, seq);
  }

  /** Erases the seeds whose retire time has come; whether any was. Waits for a rotation under way to end. */
  retireExpired(now: Date): boolean {
    if (this.rotating) return false;
    const before = this.current;
    this.current = retireExpiredKeys(before, now);
    return this.current !== before;
  }
}
