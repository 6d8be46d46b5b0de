import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import HyperDHT from 'hyperdht';
import { DHT_ON_NOTICE } from '../../extension/operations/identity';
import type { ExtensionProcess } from '../../permissions/host/extension-process';
import { BINARY, isScript, startExtension, tempDir } from '../helpers/extension';
import { eventually } from '../helpers/node';

/**
 * What a node started with the default DHT configuration sends, counted in
 * a network namespace nothing can leave:
 *
 *   node's namespace: lo, veth 10.213.0.2/24, default route via 10.213.0.1
 *     └── sink namespace: 10.213.0.1, no forwarding, no other interface
 *
 * Every packet the node sends off loopback goes down the veth into the
 * sink, which drops it (it is for none of its addresses and it forwards
 * nothing). iptables counters on the node namespace's OUTPUT count the
 * packets by destination; DNS queries would go to a resolver address
 * behind the sink (the namespace's own resolv.conf) and be counted too.
 * IPv6 is off in both namespaces, so those IPv4 counters see everything.
 *
 * Nothing answers: the node keeps pinging the bootstrap nodes (by IP: it
 * never looks their names up) and never learns of a DHT node.
 *
 * Root only (namespaces, iptables); the test fails, and says so, otherwise.
 */

const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((path) => existsSync(path));
const IPTABLES = ['/usr/sbin/iptables', '/sbin/iptables', '/usr/bin/iptables'].find((path) => existsSync(path));
const RESOLVER = '192.0.2.53';

/** hyperdht's public bootstrap nodes, `ip@host:port`. */
const PUBLIC_BOOTSTRAP = HyperDHT.BOOTSTRAP.map((entry) => {
  const match = /^([0-9.]+)@([a-z0-9.-]+):([0-9]+)$/.exec(entry);
  if (match === null) throw new Error(`hyperdht lists a bootstrap node as ${entry}: this test reads ip@host:port`);
  return { ip: match[1] as string, host: match[2] as string, port: Number(match[3]) };
});

function execute(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
    });
  });
}

interface IsolatedNamespace {
  name: string;
  /** Packets counted so far by each counting rule, by its comment. */
  counters(): Promise<Record<string, number>>;
}

let namespaces = 0;

async function isolatedNamespace(t: Test): Promise<IsolatedNamespace> {
  if (process.platform !== 'linux') throw new Error('this test counts packets in a Linux network namespace; it runs on Linux only');
  if (process.getuid?.() !== 0) throw new Error('this test creates network namespaces and iptables rules, which needs root: run it as root (CI does)');
  if (IP === undefined) throw new Error('this test needs the ip command: apt-get install iproute2');
  if (IPTABLES === undefined) throw new Error('this test needs iptables: apt-get install iptables (.ci/run does)');
  namespaces += 1;
  const name = `p2pdht${process.pid}n${namespaces}`;
  const sink = `${name}-sink`;
  const resolvConfDir = join('/etc/netns', name);
  t.teardown(async () => {
    await execute(IP, ['netns', 'delete', name]).catch(() => undefined);
    await execute(IP, ['netns', 'delete', sink]).catch(() => undefined);
    rmSync(resolvConfDir, { recursive: true, force: true });
  });
  const ip = (args: string[]) => execute(IP, args);
  const inside = (ns: string, command: string, args: string[]) => execute(IP, ['netns', 'exec', ns, command, ...args]);
  await ip(['netns', 'add', name]);
  await ip(['netns', 'add', sink]);
  for (const ns of [name, sink]) {
    // Before any interface exists: no IPv6 address, so nothing IPv6 can be sent at all.
    await inside(ns, process.execPath, [
      '-e',
      "for (const c of ['all', 'default']) require('fs').writeFileSync(`/proc/sys/net/ipv6/conf/${c}/disable_ipv6`, '1')",
    ]);
  }
  await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  await ip(['-n', name, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1', 'netns', sink]);
  await ip(['-n', name, 'addr', 'add', '10.213.0.2/24', 'dev', 'v0']);
  await ip(['-n', sink, 'addr', 'add', '10.213.0.1/24', 'dev', 'v1']);
  await ip(['-n', name, 'link', 'set', 'v0', 'up']);
  await ip(['-n', sink, 'link', 'set', 'v1', 'up']);
  await ip(['-n', name, 'route', 'add', 'default', 'via', '10.213.0.1']);
  // `ip netns exec` puts /etc/netns/<name>/resolv.conf in place of /etc/resolv.conf.
  mkdirSync(resolvConfDir, { recursive: true });
  writeFileSync(join(resolvConfDir, 'resolv.conf'), `nameserver ${RESOLVER}\n`);

  const rules: [string, string[]][] = [
    ...PUBLIC_BOOTSTRAP.map(({ ip: address, host, port }): [string, string[]] => [`bootstrap ${host}`, ['-p', 'udp', '-d', address, '--dport', String(port)]]),
    ['dns', ['-p', 'udp', '--dport', '53']],
    ['udp', ['-p', 'udp']],
    ['tcp', ['-p', 'tcp']],
    ['all', []],
  ];
  for (const [comment, match] of rules) {
    await inside(name, IPTABLES, ['-w', '-A', 'OUTPUT', '-o', 'v0', ...match, '-m', 'comment', '--comment', comment]);
  }
  return {
    name,
    async counters() {
      const listed = await inside(name, IPTABLES, ['-w', '-S', 'OUTPUT', '-v']);
      const counts: Record<string, number> = {};
      for (const [, comment, packets] of listed.matchAll(/--comment "?([^"\n]+?)"? -c ([0-9]+) [0-9]+$/gm)) counts[comment as string] = Number(packets);
      return counts;
    },
  };
}

/** Env of a node with every setting at its default but LAN discovery, which would multicast and is not what is counted here. */
function defaultEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('P2P_COMM_')));
  return { ...env, P2P_COMM_MDNS: 'off', ...extra };
}

interface NamespacedNode {
  extension: ExtensionProcess;
  stderr: string[];
  call(operation: string): Promise<Record<string, unknown>>;
}

async function startInNamespace(t: Test, ns: IsolatedNamespace, env: NodeJS.ProcessEnv): Promise<NamespacedNode> {
  if (IP === undefined) throw new Error('the ip command is missing');
  const stderr: string[] = [];
  const { extension } = await startExtension(t, {
    binary: IP,
    args: ['netns', 'exec', ns.name, ...(isScript(BINARY) ? [process.execPath, BINARY] : [BINARY])],
    env,
    dataDir: join(tempDir(t), 'node'),
    isolatedNamespace: true,
    onStderrLine: (line) => stderr.push(line),
    onRequest: (method) => {
      if (method !== 'event.publish') throw new Error(`Unknown IPC method: ${method}`);
      return { event_id: 'e' };
    },
  });
  return {
    extension,
    stderr,
    async call(operation) {
      const response = await extension.execute(operation, {});
      if (response.error !== undefined) throw new Error(`${operation} failed: ${response.error.code} ${response.error.message}`);
      return (response.result as { data: Record<string, unknown> }).data;
    },
  };
}

const sum = (counts: Record<string, number>, prefix: string): number =>
  Object.entries(counts)
    .filter(([comment]) => comment.startsWith(prefix))
    .reduce((total, [, packets]) => total + packets, 0);

t.test('a default start joins the public DHT: it pings the bootstrap nodes by IP, looks nothing up, and says so', async (t) => {
  const ns = await isolatedNamespace(t);
  const node = await startInNamespace(t, ns, defaultEnv());
  const sent = await eventually(async () => {
    const counts = await ns.counters();
    return PUBLIC_BOOTSTRAP.every(({ host }) => (counts[`bootstrap ${host}`] ?? 0) >= 1) ? counts : undefined;
  }, 'a packet to every public bootstrap node', 30_000);
  const dht = (await node.call('status'))['dht'] as Record<string, unknown>;
  t.comment(`DHT status: ${JSON.stringify(dht)}`);
  t.comment(`packets sent by then: ${JSON.stringify(sent)}`);
  t.match(dht, { mode: 'on', bootstrap: 'public', known_nodes: 0, public_address: null }, 'on, on the public bootstrap, knowing no DHT node: none answered');
  for (const { host, ip: address, port } of PUBLIC_BOOTSTRAP) {
    t.ok((sent[`bootstrap ${host}`] ?? 0) >= 1, `UDP to ${host}'s address ${address}:${port}: ${sent[`bootstrap ${host}`]} packets`);
  }
  t.equal(sent['dns'] ?? 0, 0, 'no DNS query: the bootstrap nodes are reached by IP');
  t.equal(sent['udp'], sum(sent, 'bootstrap '), 'every UDP packet went to a bootstrap node');
  t.equal(sent['tcp'], 0, 'no TCP');
  t.equal(sent['all'], sent['udp'], 'nothing but UDP');

  const identity = await node.call('identity');
  t.equal(identity['dht'], DHT_ON_NOTICE, 'identity carries the DHT notice');
  t.match(identity['dht'], /^DHT: on\. .*learn its IP address/, 'it says the DHT is on and what that reveals');
  t.match(identity['dht'], /P2P_COMM_DHT=connect/, 'how to only dial out');
  t.match(identity['dht'], /P2P_COMM_DHT=off/, 'how to turn it off');
  t.ok(node.stderr.some((line) => line.endsWith(` p2p-comm info ${DHT_ON_NOTICE}`)), 'the log says it at start too');
  t.match(identity['link'], /[?&]dht=[A-Za-z0-9_-]{214}(&|$)/, 'the pairing link carries the DHT key');
  const exit = await node.extension.shutdown();
  t.same({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, 'it shuts down on its own, with the DHT still trying');
});

t.test('with P2P_COMM_DHT=off, a node sends nothing at all, from start to shutdown', async (t) => {
  const ns = await isolatedNamespace(t);
  const node = await startInNamespace(t, ns, defaultEnv({ P2P_COMM_DHT: 'off' }));
  await eventually(async () => ((await node.call('status'))['listening'] as { active: boolean }).active, 'the node listening');
  const dht = (await node.call('status'))['dht'] as Record<string, unknown>;
  t.match(dht, { mode: 'off', listening: false, public_key: null, error: null });
  const identity = await node.call('identity');
  t.match(identity['dht'], /^DHT: off \(P2P_COMM_DHT=off\)/, 'identity says the DHT is off');
  t.notMatch(identity['link'], /dht=/, 'and the link carries no DHT key');
  const exit = await node.extension.shutdown();
  t.equal(exit.code, 0, 'a clean shutdown');
  const sent = await ns.counters();
  t.comment(`packets sent: ${JSON.stringify(sent)}`);
  t.equal(sent['udp'], 0, 'no UDP');
  t.equal(sent['all'], 0, 'nothing at all');
});
