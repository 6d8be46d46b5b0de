import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnLineProcess, waitForEvent, type LineProcess, type LineProcessOptions } from './line-process';
import { BINARY, isScript, tempDir } from './extension';
import { LOOPBACK_ENV, startNode, type TestNode } from './node';
import { repositoryRoot } from './repository-root';
import type { Teardown } from './teardown';

/**
 * Two hosts behind NAT routers, and an "internet" between the routers with
 * DHT bootstrap nodes and a relay, built from network namespaces:
 *
 *   host A 10.1.0.2 ── 10.1.0.1 router A 198.51.100.2 ──┐
 *                                                         public: DHT nodes 192.0.2.1-4,
 *   host B 10.2.0.2 ── 10.2.0.1 router B 203.0.113.2 ───┘         relay 192.0.2.10
 *
 * Each router masquerades its host behind its public address: "cone" keeps
 * the host's source port, so the address the DHT nodes see for a socket is
 * the one a peer can punch towards; "symmetric" picks a random port per
 * destination (--random-fully), which defeats that. Like a home router,
 * each drops whatever arrives unsolicited for itself (see routerRules).
 * The public namespace routes between the routers but knows nothing of the
 * 10.x networks: hosts reach each other only through NAT, as over the
 * internet.
 *
 * Everything lives in namespaces created here, named after this process so
 * that parallel runs never meet; the veth pairs are created directly inside
 * them, so the root namespace's interfaces and routes are never touched.
 * The teardown (registered before anything is created) kills the processes
 * started here and deletes the namespaces, whatever failed.
 *
 * Root only (namespaces, iptables).
 */

export type NatKind = 'cone' | 'symmetric';
export type Side = 'a' | 'b';

export const NAT_ADDRESSES = {
  /** One address per DHT bootstrap node: hyperdht judges its own NAT from how several nodes see it. */
  bootstrapHosts: ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'],
  relayHost: '192.0.2.10',
  a: { host: '10.1.0.2', routerLan: '10.1.0.1', routerWan: '198.51.100.2', publicSide: '198.51.100.1' },
  b: { host: '10.2.0.2', routerLan: '10.2.0.1', routerWan: '203.0.113.2', publicSide: '203.0.113.1' },
} as const;

/** The UDP port every DHT node of the topology (and the relay) binds. */
export const DHT_PORT = 49737;

/** UDP bytes (IP headers included) counted by iptables since the topology was built. */
export interface UdpCounters {
  /** Bytes each router forwarded to the other router's public address: a hole-punched path. */
  direct: { aToB: number; bToA: number };
  /** Bytes between each router and the relay's address, counted in the public namespace: a relayed path. */
  relay: { fromA: number; toA: number; fromB: number; toB: number };
}

export interface NatTopology {
  readonly namespaces: { public: string; routerA: string; routerB: string; hostA: string; hostB: string };
  hostNamespace(side: Side): string;
  /** Spawns `command args` inside namespace `ns` (through `ip netns exec`); stopped at teardown. */
  spawn(ns: string, command: string, args: readonly string[], options?: LineProcessOptions): LineProcess;
  /** Runs a command inside namespace `ns` to its end; rejects with its stderr unless it exits 0. */
  run(ns: string, command: string, args: readonly string[]): Promise<string>;
  counters(): Promise<UdpCounters>;
}

/** `ip` by absolute path: a self-contained node binary is started with no node directory on its PATH, and `ip` must not depend on PATH either. */
export const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((path) => existsSync(path)) ?? 'ip';

const ROOT = repositoryRoot();
const DHT_FIXTURE = join(ROOT, 'test', 'fixtures', 'dht-bootstrap.mjs');
const HOST_CLI = join(ROOT, 'dist', 'p2p-comm-host');

let topologies = 0;
const NAMESPACE_PREFIX = 'p2pc';

/**
 * Namespaces (and what still runs in them) of runs whose process is gone:
 * a test killed outright never ran its teardown. A namespace of a live
 * process is never touched, so parallel runs are safe.
 */
async function removeLeftoverNamespaces(): Promise<void> {
  const listed = await ip(['netns', 'list']);
  for (const [, name, pid] of listed.matchAll(new RegExp(`^(${NAMESPACE_PREFIX}(\\d+)n\\d+-[a-z]+)`, 'gm'))) {
    if (isAlive(Number(pid))) continue;
    const pids = await ip(['netns', 'pids', name as string]).catch(() => '');
    for (const leftover of pids.split('\n').filter((line) => line !== '')) {
      try {
        process.kill(Number(leftover), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await ip(['netns', 'delete', name as string]).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why this machine cannot build the topology, or undefined when it can. */
export function natTopologyObstacle(): string | undefined {
  if (process.platform !== 'linux') return 'the NAT topology needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'the NAT topology is made of network namespaces and iptables rules, which needs root: run as root (CI does)';
  if (!['/usr/sbin/iptables', '/sbin/iptables', '/usr/bin/iptables'].some((path) => existsSync(path))) {
    return 'the NAT topology needs iptables: apt-get install iptables (.ci/run does)';
  }
  return undefined;
}

/**
 * `wanFirewall: false` builds routers that, unlike a home router, accept
 * unsolicited packets addressed to themselves: a probe that arrives before
 * this side's own then takes the port its mapping needs (see routerRules),
 * which spoils hole punching even between cone NATs.
 */
export async function createNatTopology(t: Teardown, nat: { a: NatKind; b: NatKind; wanFirewall?: boolean }): Promise<NatTopology> {
  await removeLeftoverNamespaces();
  topologies += 1;
  const prefix = `${NAMESPACE_PREFIX}${process.pid}n${topologies}`;
  const namespaces = { public: `${prefix}-pub`, routerA: `${prefix}-ra`, routerB: `${prefix}-rb`, hostA: `${prefix}-ha`, hostB: `${prefix}-hb` };
  const processes = new Set<LineProcess>();
  t.teardown(async () => {
    await Promise.all([...processes].map((child) => child.stop('SIGKILL')));
    // Deleting a namespace destroys its veth ends, and with them their peers.
    await ip(['-force', '-batch', '-'], Object.values(namespaces).map((ns) => `netns delete ${ns}`).join('\n')).catch(() => undefined);
  });

  const run = (ns: string, command: string, args: readonly string[], input?: string): Promise<string> => execute(IP, ['netns', 'exec', ns, command, ...args], input);
  await ip(['-batch', '-'], Object.values(namespaces).map((ns) => `netns add ${ns}`).join('\n'));
  await ip(
    ['-batch', '-'],
    [
      `link add wan netns ${namespaces.routerA} type veth peer name ra netns ${namespaces.public}`,
      `link add wan netns ${namespaces.routerB} type veth peer name rb netns ${namespaces.public}`,
      `link add lan netns ${namespaces.routerA} type veth peer name eth0 netns ${namespaces.hostA}`,
      `link add lan netns ${namespaces.routerB} type veth peer name eth0 netns ${namespaces.hostB}`,
    ].join('\n'),
  );
  const { a, b, relayHost, bootstrapHosts } = NAT_ADDRESSES;
  await Promise.all([
    inNamespace(namespaces.public, [
      'link set lo up',
      // On loopback: the public namespace delivers to these addresses locally and routes their replies out to the routers.
      ...[...bootstrapHosts, relayHost].map((address) => `addr add ${address}/32 dev lo`),
      `addr add ${a.publicSide}/30 dev ra`,
      'link set ra up',
      `addr add ${b.publicSide}/30 dev rb`,
      'link set rb up',
    ]),
    ...(['a', 'b'] as const).flatMap((side) => {
      const addresses = NAT_ADDRESSES[side];
      const router = side === 'a' ? namespaces.routerA : namespaces.routerB;
      const host = side === 'a' ? namespaces.hostA : namespaces.hostB;
      return [
        inNamespace(router, [
          'link set lo up',
          `addr add ${addresses.routerWan}/30 dev wan`,
          'link set wan up',
          `addr add ${addresses.routerLan}/24 dev lan`,
          'link set lan up',
          `route add default via ${addresses.publicSide}`,
        ]),
        inNamespace(host, ['link set lo up', `addr add ${addresses.host}/24 dev eth0`, 'link set eth0 up', `route add default via ${addresses.routerLan}`]),
      ];
    }),
  ]);
  await Promise.all(
    [namespaces.public, namespaces.routerA, namespaces.routerB].map((ns) => run(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'])),
  );
  await Promise.all([
    run(namespaces.routerA, 'iptables-restore', [], routerRules(nat.a, b.routerWan, nat.wanFirewall ?? true)),
    run(namespaces.routerB, 'iptables-restore', [], routerRules(nat.b, a.routerWan, nat.wanFirewall ?? true)),
    run(namespaces.public, 'iptables-restore', [], PUBLIC_RULES),
  ]);

  return {
    namespaces,
    hostNamespace: (side) => (side === 'a' ? namespaces.hostA : namespaces.hostB),
    spawn(ns, command, args, options = {}) {
      const child = spawnLineProcess(IP, ['netns', 'exec', ns, command, ...args], options);
      processes.add(child);
      return child;
    },
    run: (ns, command, args) => run(ns, command, args),
    async counters() {
      const [routerA, routerB, publicCounts] = await Promise.all(
        [namespaces.routerA, namespaces.routerB, namespaces.public].map(async (ns) => countersByComment(await run(ns, 'iptables-save', ['-c', '-t', 'filter']))),
      );
      const count = (counts: Map<string, number> | undefined, name: string): number => counts?.get(name) ?? 0;
      return {
        direct: { aToB: count(routerA, 'to_peer_router'), bToA: count(routerB, 'to_peer_router') },
        relay: {
          fromA: count(publicCounts, 'relay_from_a'),
          toA: count(publicCounts, 'relay_to_a'),
          fromB: count(publicCounts, 'relay_from_b'),
          toB: count(publicCounts, 'relay_to_b'),
        },
      };
    },
  };

  function inNamespace(ns: string, commands: readonly string[]): Promise<string> {
    return ip(['-n', ns, '-batch', '-'], commands.join('\n'));
  }
}

/**
 * A router's NAT, and a counter of what it forwards to the other router's
 * public address. Counting happens in FORWARD, before the source is
 * rewritten; the destination is the peer router's address either way.
 */
function routerRules(kind: NatKind, peerRouterWan: string, wanFirewall: boolean): string {
  return [
    '*nat',
    `-A POSTROUTING -o wan -j MASQUERADE${kind === 'symmetric' ? ' --random-fully' : ''}`,
    'COMMIT',
    '*filter',
    // As a home router: nothing unsolicited from the internet reaches the router itself. Accepting it would let
    // conntrack record a probe that arrives before this side's own (a new "connection" to the router), and the
    // mapping this side then needs would collide with it and get another port.
    ...(wanFirewall ? ['-A INPUT -i wan -j DROP'] : []),
    `-A FORWARD -o wan -d ${peerRouterWan}/32 -p udp -m comment --comment to_peer_router`,
    'COMMIT',
    '',
  ].join('\n');
}

/** What the relay exchanges with each router; the relay's own DHT traffic with the bootstrap nodes stays on this namespace's loopback and is not counted. */
const PUBLIC_RULES = [
  '*filter',
  `-A INPUT -i ra -d ${NAT_ADDRESSES.relayHost}/32 -p udp -m comment --comment relay_from_a`,
  `-A INPUT -i rb -d ${NAT_ADDRESSES.relayHost}/32 -p udp -m comment --comment relay_from_b`,
  `-A OUTPUT -o ra -s ${NAT_ADDRESSES.relayHost}/32 -p udp -m comment --comment relay_to_a`,
  `-A OUTPUT -o rb -s ${NAT_ADDRESSES.relayHost}/32 -p udp -m comment --comment relay_to_b`,
  'COMMIT',
  '',
].join('\n');

/** Bytes per rule comment, from `iptables-save -c` lines such as `[12:3456] -A FORWARD ... --comment to_peer_router`. */
function countersByComment(saved: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of saved.matchAll(/^\[(\d+):(\d+)\] .* --comment "?([a-z_]+)"?$/gm)) {
    counts.set(match[3] as string, Number(match[2]));
  }
  return counts;
}

function ip(args: readonly string[], input?: string): Promise<string> {
  return execute(IP, args, input);
}

function execute(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(command, args, { encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolvePromise(stdout);
    });
    // A command that exits without reading its input closes the pipe: its exit status is what counts.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

/** The bootstrap DHT nodes, on their addresses in the public namespace; resolves with their `host:port` list once all are up. */
export async function startBootstrapNodes(topology: NatTopology): Promise<string[]> {
  const nodes = topology.spawn(topology.namespaces.public, process.execPath, [
    DHT_FIXTURE,
    'bootstrap',
    '--hosts',
    NAT_ADDRESSES.bootstrapHosts.join(','),
    '--port',
    String(DHT_PORT),
  ]);
  const ready = await waitForEvent(nodes, 'ready');
  return ready['bootstrap'] as string[];
}

/**
 * `p2p-comm-host relay` (the built one) on the relay's address in the
 * public namespace; resolves with its public key, hex, once it is ready.
 */
export async function startRelay(t: Teardown, topology: NatTopology, bootstrap: readonly string[]): Promise<{ publicKey: string; process: LineProcess }> {
  const relay = topology.spawn(topology.namespaces.public, process.execPath, [
    HOST_CLI,
    'relay',
    '--host',
    NAT_ADDRESSES.relayHost,
    '--port',
    String(DHT_PORT),
    '--bootstrap',
    bootstrap.join(','),
    '--host-dir',
    tempDir(t, 'p2p-comm-relay-'),
    '--json',
  ]);
  const ready = JSON.parse(await relay.waitForLine((line) => line.startsWith('{'), 'the relay ready line')) as { public_key: string };
  return { publicKey: ready.public_key, process: relay };
}

export interface NamespacedNodeOptions {
  /** `host:port` DHT bootstrap nodes (P2P_COMM_DHT_BOOTSTRAP). */
  bootstrap: readonly string[];
  /** Relay public keys, hex (P2P_COMM_RELAYS); none by default. */
  relays?: readonly string[];
  dataDir?: string;
  env?: Record<string, string>;
}

/**
 * The built p2p-comm node (the script under this Node, or a self-contained
 * executable) inside a host's namespace, spoken to over stdio as Nexus
 * does: `ip netns exec` replaces itself with the node, so the process the
 * host holds is the node itself.
 */
export async function startNodeInNamespace(t: Teardown, topology: NatTopology, side: Side, options: NamespacedNodeOptions): Promise<TestNode> {
  const command = isScript(BINARY) ? [process.execPath, BINARY] : [BINARY];
  return startNode(t, {
    binary: IP,
    args: ['netns', 'exec', topology.hostNamespace(side), ...command],
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    env: {
      ...LOOPBACK_ENV,
      P2P_COMM_LISTEN_HOST: NAT_ADDRESSES[side].host,
      P2P_COMM_MDNS: 'off',
      P2P_COMM_DHT: 'on',
      P2P_COMM_DHT_HOST: NAT_ADDRESSES[side].host,
      P2P_COMM_DHT_BOOTSTRAP: options.bootstrap.join(','),
      ...(options.relays === undefined || options.relays.length === 0 ? {} : { P2P_COMM_RELAYS: options.relays.join(',') }),
      ...options.env,
    },
  });
}
