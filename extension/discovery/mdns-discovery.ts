import type { DiscoveryConfig, DiscoveryMode } from '../config';
import type { Logger } from '../log';
import { DiscoveryTable, type Announcement, type DiscoveredPeer } from './discovery-table';
import { encodeTxt } from './txt-record';

/** `_p2p-comm._tcp.local` */
const SERVICE_TYPE = 'p2p-comm';

/** What discovery reads of a service the mDNS browser reports. */
export interface HeardService {
  port: number;
  ttl?: number;
  /** The UDP source of the packet that announced it. */
  referer?: { address: string };
  /** The TXT strings as received (bonjour-service sets this; its decoded `txt` would hide duplicates). */
  rawTxt?: unknown;
}

export interface ServiceBrowser {
  /** `up`, `txt-update` and `srv-update`: a service announced or changed; `down`: its goodbye. */
  on(event: 'up' | 'txt-update' | 'srv-update' | 'down', listener: (service: HeardService) => void): void;
  stop(): void;
  /** Services the browser holds (it never forgets one on its own). */
  readonly serviceCount: number;
}

export interface Advertisement {
  /** True once the announcement is out (after probing that the name is free). */
  readonly published: boolean;
  /** Sends its goodbye and stops announcing. */
  stop(): void;
}

export interface ServiceToPublish {
  name: string;
  type: string;
  protocol: 'tcp';
  port: number;
  host: string;
  txt: Record<string, string>;
}

/** The mDNS responder and querier on one multicast socket (bonjour-service in production). */
export interface MdnsResponder {
  publish(service: ServiceToPublish): Advertisement;
  find(query: { type: string; protocol: 'tcp' }): ServiceBrowser;
  /** Sends goodbyes (TTL 0) for everything published, then calls back. */
  unpublishAll(done: () => void): void;
  destroy(done: () => void): void;
}

/** Creates the responder; `onError` hears every socket error and warning instead of the process crashing on them. */
export type CreateResponder = (networkInterface: string | null, onError: (error: Error, severity: 'error' | 'warning') => void) => MdnsResponder;

export interface DiscoveryStatus {
  enabled: boolean;
  mode: DiscoveryMode;
  interface: string | null;
  advertising: boolean;
  browsing: boolean;
  peers_seen: number;
  refusals: Record<string, number>;
  errors: number;
  last_error: string | null;
}

export interface MdnsDiscoveryDeps {
  config: DiscoveryConfig;
  identity: { peerId: string; fingerprint: string };
  displayName: () => string;
  logger: Logger;
  createResponder: CreateResponder;
  now?: () => number;
}

/**
 * A browser holding this many services per table entry is being flooded
 * with names: it is dropped (bonjour-service keeps every service it hears)
 * and the next requery starts a fresh one.
 */
const BROWSER_SERVICES_PER_PEER = 2;

/**
 * Zero-config LAN discovery: announces this node as `_p2p-comm._tcp` with
 * its TXT record and lists the nodes that announce themselves. It finds,
 * never trusts: a listed node is a claim until a handshake proves its key.
 * In mode `off` no responder is created at all, so nothing is ever sent.
 */
export class MdnsDiscovery {
  private readonly table: DiscoveryTable;
  private responder: MdnsResponder | null = null;
  private advertisement: Advertisement | null = null;
  private browser: ServiceBrowser | null = null;
  private requeryTimer: NodeJS.Timeout | null = null;
  private port: number | null = null;
  private browserOverflows = 0;
  private errors = 0;
  private lastError: string | null = null;
  private closed = false;

  constructor(private readonly deps: MdnsDiscoveryDeps) {
    const { config, identity, now } = deps;
    this.table = new DiscoveryTable({
      ownPeerId: identity.peerId,
      maxPeers: config.maxPeers,
      maxTtlSeconds: config.maxTtlSeconds,
      sourceRate: config.sourceRate,
      globalRate: config.globalRate,
      ...(now === undefined ? {} : { now }),
    });
  }

  /** Whether this node lists others (modes `on` and `browse`). */
  get browses(): boolean {
    return this.deps.config.mode === 'on' || this.deps.config.mode === 'browse';
  }

  private get advertises(): boolean {
    return this.deps.config.mode === 'on' || this.deps.config.mode === 'advertise';
  }

  /** Starts once the node listens: the announcement carries `port`, null when the node is not listening. */
  start(port: number | null): void {
    if (this.deps.config.mode === 'off' || this.closed || this.responder !== null) return;
    this.responder = this.deps.createResponder(this.deps.config.interface, (error, severity) => this.onError(error, severity));
    if (this.advertises) {
      if (port === null) this.deps.logger.warn('not announcing this node on the LAN: it is not listening (see status.listening.error)');
      else this.publish(port);
    }
    if (this.browses) {
      this.browse();
      this.requeryTimer = setInterval(() => this.browse(), this.deps.config.requeryMs);
      this.requeryTimer.unref();
    }
  }

  /** Announces again so that the LAN sees a new display name. */
  readvertise(): void {
    if (this.advertisement === null || this.port === null) return;
    this.advertisement.stop();
    this.publish(this.port);
  }

  peers(): DiscoveredPeer[] {
    return this.table.list();
  }

  find(peerId: string): DiscoveredPeer | undefined {
    return this.table.get(peerId);
  }

  status(): DiscoveryStatus {
    const { mode, interface: networkInterface } = this.deps.config;
    return {
      enabled: mode !== 'off',
      mode,
      interface: networkInterface,
      advertising: this.advertisement?.published === true,
      browsing: this.browser !== null,
      peers_seen: this.table.size(),
      refusals: { ...this.table.refusals(), ...(this.browserOverflows > 0 ? { browser_overflow: this.browserOverflows } : {}) },
      errors: this.errors,
      last_error: this.lastError,
    };
  }

  /** Says goodbye (other nodes drop this one at once rather than at its TTL), then closes the socket. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.requeryTimer !== null) clearInterval(this.requeryTimer);
    this.browser?.stop();
    this.browser = null;
    this.advertisement = null;
    const responder = this.responder;
    if (responder === null) return;
    this.responder = null;
    await new Promise<void>((resolve) => responder.unpublishAll(resolve));
    await new Promise<void>((resolve) => responder.destroy(resolve));
  }

  private publish(port: number): void {
    if (this.responder === null) return;
    const { identity, displayName } = this.deps;
    this.port = port;
    this.advertisement = this.responder.publish({
      name: identity.peerId,
      type: SERVICE_TYPE,
      protocol: 'tcp',
      port,
      // Not the machine's host name: the announcement reveals no more than docs/discovery.md says.
      host: `${identity.peerId}.local`,
      txt: encodeTxt({ peerId: identity.peerId, fingerprint: identity.fingerprint, displayName: displayName() }),
    });
  }

  /**
   * A fresh browser asks the network again, and each node that answers is
   * reported anew, which keeps its entry alive: a browser reports a node
   * only once, however often it announces itself.
   */
  private browse(): void {
    if (this.responder === null) return;
    this.browser?.stop();
    const browser = this.responder.find({ type: SERVICE_TYPE, protocol: 'tcp' });
    const heard = (service: HeardService) => this.onHeard(browser, service);
    browser.on('up', heard);
    browser.on('txt-update', heard);
    browser.on('srv-update', heard);
    browser.on('down', (service) => this.table.withdraw(announcementOf(service)));
    this.browser = browser;
  }

  private onHeard(browser: ServiceBrowser, service: HeardService): void {
    const announcement = announcementOf(service);
    const outcome = this.table.announce(announcement);
    if (!outcome.accepted && outcome.reason !== 'own_announcement') {
      this.deps.logger.debug(`mDNS announcement from ${announcement.source} refused: ${outcome.reason}`);
    }
    if (browser === this.browser && browser.serviceCount > BROWSER_SERVICES_PER_PEER * this.deps.config.maxPeers) {
      this.browserOverflows += 1;
      this.deps.logger.warn(`mDNS: ${browser.serviceCount} services announced, a flood; listening paused until the next requery`);
      browser.stop();
      this.browser = null;
    }
  }

  private onError(error: Error, severity: 'error' | 'warning'): void {
    this.errors += 1;
    this.lastError = error.message;
    // Warnings include every undecodable packet anyone sends: not worth a log line each.
    if (severity === 'error') this.deps.logger.warn(`mDNS: ${error.message}`);
    else this.deps.logger.debug(`mDNS: ${error.message}`);
  }
}

function announcementOf(service: HeardService): Announcement {
  const raw = service.rawTxt;
  return {
    txt: Array.isArray(raw) && raw.every((entry) => entry instanceof Uint8Array) ? raw : [],
    source: service.referer?.address ?? '',
    port: service.port,
    ttlSeconds: service.ttl ?? Number.NaN,
  };
}
