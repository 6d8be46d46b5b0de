import t from 'tap';
import { DEFAULT_DISCOVERY_CONFIG, type DiscoveryConfig, type DiscoveryMode } from '../../extension/config';
import {
  MdnsDiscovery,
  type CreateResponder,
  type HeardService,
  type MdnsResponder,
  type ServiceBrowser,
  type ServiceToPublish,
} from '../../extension/discovery/mdns-discovery';
import { encodeTxt } from '../../extension/discovery/txt-record';
import type { Logger } from '../../extension/log';
import { claimFor, wire } from '../helpers/txt-claims';

const me = claimFor(0, 'Me');
const alice = claimFor(1, 'Alice');

type Listener = (service: HeardService) => void;

/** A browser the test drives by emitting what the network would have said. */
class FakeBrowser implements ServiceBrowser {
  readonly listeners = new Map<string, Listener[]>();
  stopped = false;
  serviceCount = 0;

  on(event: string, listener: Listener): void {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
  }

  stop(): void {
    this.stopped = true;
  }

  emit(event: string, service: HeardService): void {
    if (this.stopped) return;
    for (const listener of this.listeners.get(event) ?? []) listener(service);
  }
}

/** Records every call a discovery makes on its responder, in order. */
class FakeResponder implements MdnsResponder {
  readonly calls: string[] = [];
  readonly published: ServiceToPublish[] = [];
  readonly browsers: FakeBrowser[] = [];

  publish(service: ServiceToPublish) {
    this.calls.push('publish');
    this.published.push(service);
    return { published: true, stop: () => this.calls.push('stop advertisement') };
  }

  find(query: { type: string; protocol: 'tcp' }): FakeBrowser {
    this.calls.push(`find ${query.type}.${query.protocol}`);
    const browser = new FakeBrowser();
    this.browsers.push(browser);
    return browser;
  }

  unpublishAll(done: () => void): void {
    this.calls.push('unpublishAll');
    done();
  }

  destroy(done: () => void): void {
    this.calls.push('destroy');
    done();
  }

  get browser(): FakeBrowser {
    const browser = this.browsers.at(-1);
    if (browser === undefined) throw new Error('no browser was created');
    return browser;
  }
}

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function discoveryWith(mode: DiscoveryMode, config: Partial<DiscoveryConfig> = {}) {
  const responder = new FakeResponder();
  const factoryCalls: { networkInterface: string | null; onError: Parameters<CreateResponder>[1] }[] = [];
  const createResponder: CreateResponder = (networkInterface, onError) => {
    factoryCalls.push({ networkInterface, onError });
    return responder;
  };
  const discovery = new MdnsDiscovery({
    config: { ...DEFAULT_DISCOVERY_CONFIG, mode, ...config },
    identity: { peerId: me.peerId, fingerprint: me.fingerprint },
    displayName: () => 'Me',
    logger: quiet,
    createResponder,
  });
  return { discovery, responder, factoryCalls };
}

function service(claim = alice, overrides: Partial<HeardService> = {}): HeardService {
  return { port: 4100, ttl: 120, referer: { address: '127.0.0.1' }, rawTxt: wire(encodeTxt(claim)), ...overrides };
}

t.test('off: no responder is ever created, so nothing can be sent', async (t) => {
  const { discovery, factoryCalls } = discoveryWith('off');
  discovery.start(4000);
  discovery.readvertise();
  t.equal(factoryCalls.length, 0);
  t.equal(discovery.browses, false);
  t.same(discovery.status(), {
    enabled: false,
    mode: 'off',
    interface: null,
    advertising: false,
    browsing: false,
    peers_seen: 0,
    refusals: {},
    errors: 0,
    last_error: null,
  });
  await discovery.close();
  t.equal(factoryCalls.length, 0, 'not on close either');
});

t.test('on: announces _p2p-comm._tcp with the port and TXT, and browses for the same type', async (t) => {
  const { discovery, responder, factoryCalls } = discoveryWith('on', { interface: '127.0.0.1' });
  discovery.start(4567);
  t.same(
    factoryCalls.map((call) => call.networkInterface),
    ['127.0.0.1'],
  );
  t.same(responder.calls, ['publish', 'find p2p-comm.tcp']);
  t.same(responder.published, [
    { name: me.peerId, type: 'p2p-comm', protocol: 'tcp', port: 4567, host: `${me.peerId}.local`, txt: encodeTxt(me) },
  ]);
  t.match(discovery.status(), { enabled: true, mode: 'on', interface: '127.0.0.1', advertising: true, browsing: true });
  discovery.start(4567);
  t.equal(factoryCalls.length, 1, 'a second start changes nothing');
  await discovery.close();
});

t.test('advertise: announces but does not browse; browse: browses but does not announce', async (t) => {
  const advertising = discoveryWith('advertise');
  advertising.discovery.start(4567);
  t.same(advertising.responder.calls, ['publish']);
  t.equal(advertising.discovery.browses, false);
  t.match(advertising.discovery.status(), { advertising: true, browsing: false });
  await advertising.discovery.close();

  const browsing = discoveryWith('browse');
  browsing.discovery.start(4567);
  t.same(browsing.responder.calls, ['find p2p-comm.tcp']);
  t.match(browsing.discovery.status(), { advertising: false, browsing: true });
  await browsing.discovery.close();
});

t.test('a node that is not listening browses but does not announce', async (t) => {
  const { discovery, responder } = discoveryWith('on');
  discovery.start(null);
  t.same(responder.calls, ['find p2p-comm.tcp']);
  await discovery.close();
});

t.test('announcements feed the table; goodbyes take entries out; malformed ones are counted', async (t) => {
  const { discovery, responder } = discoveryWith('on');
  discovery.start(4567);
  const browser = responder.browser;
  browser.emit('up', service());
  t.match(discovery.peers(), [{ peerId: alice.peerId, displayName: 'Alice', address: '127.0.0.1:4100' }]);
  browser.emit('srv-update', service(alice, { port: 4200 }));
  t.equal(discovery.find(alice.peerId)?.address, '127.0.0.1:4200', 'a moved port is followed');
  browser.emit('txt-update', service({ ...alice, displayName: 'Alice B' }, { port: 4200 }));
  t.equal(discovery.find(alice.peerId)?.displayName, 'Alice B');
  browser.emit('up', service(me));
  browser.emit('up', service(alice, { rawTxt: wire({ ...encodeTxt(alice), fp: me.fingerprint }) }));
  browser.emit('up', service(alice, { rawTxt: undefined }));
  browser.emit('up', service(alice, { rawTxt: ['id=not buffers'] }));
  t.same(discovery.status().refusals, { own_announcement: 1, txt_fingerprint_mismatch: 1, txt_missing_field: 2 });
  t.equal(discovery.status().peers_seen, 1);
  browser.emit('down', service(alice, { port: 4200 }));
  t.same(discovery.peers(), []);
  await discovery.close();
});

t.test('each requery starts a fresh browser, whose answers keep entries alive', async (t) => {
  const { discovery, responder } = discoveryWith('browse', { requeryMs: 5 });
  discovery.start(4567);
  const first = responder.browser;
  while (responder.browsers.length < 2) await new Promise((resolve) => setTimeout(resolve, 1));
  t.equal(first.stopped, true, 'the first one stopped');
  responder.browser.emit('up', service());
  t.equal(discovery.peers().length, 1);
  await discovery.close();
  t.equal(responder.browser.stopped, true, 'close stops the browser');
});

t.test('a browser flooded with services is dropped until the next requery', async (t) => {
  const { discovery, responder } = discoveryWith('browse', { maxPeers: 2 });
  discovery.start(4567);
  const browser = responder.browser;
  browser.serviceCount = 5;
  browser.emit('up', service());
  t.equal(browser.stopped, true);
  t.match(discovery.status(), { browsing: false, refusals: { browser_overflow: 1 } });
  await discovery.close();
});

t.test('socket errors are counted and reported, never thrown', async (t) => {
  const { discovery, factoryCalls } = discoveryWith('on');
  discovery.start(4567);
  const onError = factoryCalls[0]?.onError;
  t.doesNotThrow(() => onError?.(new Error('bind EADDRINUSE 0.0.0.0:5353'), 'error'));
  t.doesNotThrow(() => onError?.(new Error('Header must be 12 bytes'), 'warning'));
  t.match(discovery.status(), { errors: 2, last_error: 'Header must be 12 bytes' });
  await discovery.close();
});

t.test('close sends goodbyes, then destroys the responder; a start after close does nothing', async (t) => {
  const { discovery, responder, factoryCalls } = discoveryWith('on');
  discovery.start(4567);
  await discovery.close();
  t.same(responder.calls.slice(-2), ['unpublishAll', 'destroy']);
  discovery.start(4567);
  t.equal(factoryCalls.length, 1);
  t.match(discovery.status(), { advertising: false, browsing: false });
});

t.test('readvertise announces again with the current name', async (t) => {
  let name = 'Me';
  const responder = new FakeResponder();
  const discovery = new MdnsDiscovery({
    config: { ...DEFAULT_DISCOVERY_CONFIG, mode: 'advertise' },
    identity: { peerId: me.peerId, fingerprint: me.fingerprint },
    displayName: () => name,
    logger: quiet,
    createResponder: () => responder,
  });
  discovery.start(4567);
  name = 'Me, renamed';
  discovery.readvertise();
  t.same(responder.calls, ['publish', 'stop advertisement', 'publish']);
  t.equal(responder.published[1]?.txt['name'], 'Me, renamed');
  await discovery.close();
});
