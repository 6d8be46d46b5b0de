import { isIP } from 'node:net';
import { TokenBucket } from '../common/token-bucket';
import { formatAddress } from '../network/addresses';
import { decodeTxt, type TxtRefusal } from './txt-record';

/** One mDNS announcement of a p2p-comm service, as heard. */
export interface Announcement {
  /** The TXT strings as received. */
  txt: readonly Uint8Array[];
  /**
   * The UDP source of the announcement. It is the address used to reach
   * the node: the A records of an announcement list every address of the
   * announcing machine, most of them useless (or unreachable) from here.
   */
  source: string;
  /** The port in the SRV record. */
  port: number;
  /** The TTL the announcement claims, in seconds. */
  ttlSeconds: number;
}

/** A node heard on the LAN. Every field but the address is its own unauthenticated claim. */
export interface DiscoveredPeer {
  peerId: string;
  fingerprint: string;
  displayName: string;
  /** host:port: the source of the latest announcement with the announced port. */
  address: string;
  firstSeen: Date;
  lastSeen: Date;
  expiresAt: Date;
}

export type TableRefusal =
  | TxtRefusal
  | 'own_announcement'
  | 'table_full'
  | 'rate_limited_source'
  | 'rate_limited_global'
  | 'bad_source'
  | 'bad_port'
  | 'bad_ttl';

export type AnnounceOutcome = { accepted: true; peer: DiscoveredPeer } | { accepted: false; reason: TableRefusal };

export interface DiscoveryTableOptions {
  ownPeerId: string;
  /** Entries kept; new ids beyond are refused. Also the number of source addresses whose rate is tracked. */
  maxPeers: number;
  /** Cap on the TTL an announcement may claim. */
  maxTtlSeconds: number;
  sourceRate: { burst: number; perSecond: number };
  globalRate: { burst: number; perSecond: number };
  now?: () => number;
}

/**
 * The nodes heard on the LAN, by peer id. Bounded in size and in the rate
 * at which announcements are taken (per source address and overall), so
 * a flood costs a fixed amount of memory and work; every refusal is
 * counted by reason. Pure logic: the clock is injected, no sockets.
 */
export class DiscoveryTable {
  private readonly entries = new Map<string, DiscoveredPeer>();
  private readonly sourceBuckets = new Map<string, TokenBucket>();
  private readonly globalBucket: TokenBucket;
  private readonly refusalCounts = new Map<TableRefusal, number>();
  private readonly now: () => number;

  constructor(private readonly options: DiscoveryTableOptions) {
    this.now = options.now ?? Date.now;
    this.globalBucket = new TokenBucket(options.globalRate.burst, options.globalRate.perSecond, this.now);
  }

  /** Adds or refreshes the announcing node; a later announcement of the same id replaces the address. */
  announce(announcement: Announcement): AnnounceOutcome {
    if (isIP(announcement.source) === 0) return this.refuse('bad_source');
    // Rate before decoding: decoding (a SHA-256 per record) is the work a flood would buy.
    if (!this.sourceBucket(announcement.source).take()) return this.refuse('rate_limited_source');
    if (!this.globalBucket.take()) return this.refuse('rate_limited_global');
    if (!Number.isInteger(announcement.port) || announcement.port < 1 || announcement.port > 65535) return this.refuse('bad_port');
    if (!Number.isFinite(announcement.ttlSeconds) || announcement.ttlSeconds <= 0) return this.refuse('bad_ttl');
    const decoded = decodeTxt(announcement.txt);
    if (!decoded.ok) return this.refuse(decoded.reason);
    const { peerId, fingerprint, displayName } = decoded.record;
    if (peerId === this.options.ownPeerId) return this.refuse('own_announcement');
    this.prune();
    const existing = this.entries.get(peerId);
    if (existing === undefined && this.entries.size >= this.options.maxPeers) return this.refuse('table_full');
    const now = this.now();
    const ttlMs = Math.min(announcement.ttlSeconds, this.options.maxTtlSeconds) * 1000;
    const peer: DiscoveredPeer = {
      peerId,
      fingerprint,
      displayName,
      address: formatAddress(announcement.source, announcement.port),
      firstSeen: existing?.firstSeen ?? new Date(now),
      lastSeen: new Date(now),
      expiresAt: new Date(now + ttlMs),
    };
    this.entries.set(peerId, peer);
    return { accepted: true, peer };
  }

  /**
   * A goodbye withdraws the announcement it answers: the entry goes only if
   * it still holds that announcement's address, so a goodbye for an old
   * address cannot remove a node that has since announced a new one.
   */
  withdraw(announcement: Announcement): boolean {
    const decoded = decodeTxt(announcement.txt);
    if (!decoded.ok) return false;
    const entry = this.entries.get(decoded.record.peerId);
    if (entry === undefined || entry.address !== formatAddress(announcement.source, announcement.port)) return false;
    this.entries.delete(decoded.record.peerId);
    return true;
  }

  get(peerId: string): DiscoveredPeer | undefined {
    this.prune();
    return this.entries.get(peerId);
  }

  list(): DiscoveredPeer[] {
    this.prune();
    return [...this.entries.values()];
  }

  size(): number {
    this.prune();
    return this.entries.size;
  }

  refusals(): Record<string, number> {
    return Object.fromEntries(this.refusalCounts);
  }

  private prune(): void {
    const now = this.now();
    for (const [peerId, entry] of this.entries) {
      if (entry.expiresAt.getTime() <= now) this.entries.delete(peerId);
    }
  }

  /**
   * One bucket per source address, at most maxPeers of them: beyond, the
   * oldest is forgotten. Spoofed sources could thus reset a bucket, which
   * the global bucket still bounds.
   */
  private sourceBucket(source: string): TokenBucket {
    let bucket = this.sourceBuckets.get(source);
    if (bucket === undefined) {
      if (this.sourceBuckets.size >= this.options.maxPeers) {
        const oldest = this.sourceBuckets.keys().next();
        if (oldest.done !== true) this.sourceBuckets.delete(oldest.value);
      }
      bucket = new TokenBucket(this.options.sourceRate.burst, this.options.sourceRate.perSecond, this.now);
      this.sourceBuckets.set(source, bucket);
    }
    return bucket;
  }

  private refuse(reason: TableRefusal): { accepted: false; reason: TableRefusal } {
    this.refusalCounts.set(reason, (this.refusalCounts.get(reason) ?? 0) + 1);
    return { accepted: false, reason };
  }
}
