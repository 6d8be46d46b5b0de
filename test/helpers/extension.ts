import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import type { Test } from 'tap';
import { ExtensionProcess, type ExtensionProcessOptions, type RpcResponse } from '../../permissions/host/extension-process';
import { manifest } from '../../extension/common/manifest';
import { DATA_DIR_LOCK_FILE_NAME } from '../../extension/data-dir-lock';
import { repositoryRoot } from './repository-root';
import type { Teardown } from './teardown';

/**
 * The binary under test, as a host installs it: P2P_COMM_TEST_BINARY (e.g.
 * dist/nexus/x86_64-unknown-linux-gnu/extension, from `npm run package`), by
 * default the built script (`npm test` builds it first).
 */
export const BINARY = resolve(process.env['P2P_COMM_TEST_BINARY'] ?? join(repositoryRoot(), 'dist', 'p2p-comm'));

/** A script needs the node on PATH; any other binary (a single-file executable) embeds its own. */
export function isScript(binary: string): boolean {
  const head = Buffer.alloc(2);
  const fd = openSync(binary, 'r');
  try {
    readSync(fd, head, 0, 2, 0);
  } finally {
    closeSync(fd);
  }
  return head.toString('latin1') === '#!';
}

/** PATH less every directory that holds a `node`. */
export function pathWithoutNode(path: string): string {
  return path
    .split(delimiter)
    .filter((dir) => dir !== '' && !existsSync(join(dir, 'node')))
    .join(delimiter);
}

/**
 * Tests listen on loopback only, announce nothing on the LAN and stay off
 * the DHT: tests that use discovery or the DHT turn it on themselves, on
 * 127.0.0.1 or a local testnet.
 */
export const LOOPBACK_ONLY = { P2P_COMM_LISTEN_HOST: '127.0.0.1', P2P_COMM_MDNS: 'off', P2P_COMM_DHT: 'off' };

/**
 * Loopback, or the private and documentation ranges (RFC 1918, RFC 5737,
 * never routed on the internet) tests build their own network namespaces
 * in: IPv4 literals only, as a host name could resolve to anywhere.
 */
const LOCAL_IPV4 =
  /^(127\.[0-9]{1,3}\.[0-9]{1,3}|10\.[0-9]{1,3}\.[0-9]{1,3}|192\.168\.[0-9]{1,3}|172\.(1[6-9]|2[0-9]|3[01])\.[0-9]{1,3}|192\.0\.2|198\.51\.100|203\.0\.113)\.[0-9]{1,3}$/;

/** The hosts a bootstrap entry `[ip@]host:port` makes hyperdht contact: the suggested IP first, then the host. */
function bootstrapHosts(node: string): string[] {
  const at = node.indexOf('@');
  const hostPort = node.slice(at + 1);
  const colon = hostPort.lastIndexOf(':');
  const host = colon === -1 ? hostPort : hostPort.slice(0, colon);
  return at === -1 ? [host] : [node.slice(0, at), host];
}

/**
 * A node under test never joins the public DHT: it must run with the DHT
 * off or name its own local bootstrap nodes. `isolatedNamespace` is for the
 * one test that starts a default node where nothing can leave, to count
 * what it sends.
 */
export function assertNoPublicDht(env: NodeJS.ProcessEnv, isolatedNamespace = false): void {
  if (isolatedNamespace || env['P2P_COMM_DHT'] === 'off') return;
  const bootstrap = (env['P2P_COMM_DHT_BOOTSTRAP'] ?? '').split(',').filter((node) => node.trim() !== '');
  if (bootstrap.length === 0) {
    throw new Error('a test node would join the public DHT: set P2P_COMM_DHT=off, or P2P_COMM_DHT_BOOTSTRAP to a local testnet');
  }
  const remote = bootstrap.find((node) => !bootstrapHosts(node.trim()).every((host) => LOCAL_IPV4.test(host)));
  if (remote !== undefined) throw new Error(`a test node may only bootstrap from a local testnet, not ${remote}`);
}

/** A fresh directory removed when the test ends. */
export function tempDir(t: Teardown, prefix = 'p2p-comm-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Like the process options, all optional; `dataDir: undefined` means "send no data_dir". */
export type StartOptions = Omit<Partial<ExtensionProcessOptions>, 'dataDir'> & {
  dataDir?: string | undefined;
  /** The node runs in a network namespace with no way out (see assertNoPublicDht). */
  isolatedNamespace?: boolean;
};

/**
 * Spawns and initializes the built extension the way Nexus does; killed when
 * the test ends. A single-file executable is started from `/` with no node on
 * its PATH, as a desktop app would start it, so that it cannot lean on either.
 */
export async function startExtension(
  t: Teardown,
  options: StartOptions = {},
): Promise<{ extension: ExtensionProcess; initialize: unknown; dataDir: string | undefined; stderr: string[] }> {
  const stderr: string[] = [];
  const dataDir = 'dataDir' in options ? options.dataDir : join(tempDir(t), 'data');
  const { dataDir: _ignored, isolatedNamespace: _checked, ...rest } = options;
  const binary = rest.binary ?? BINARY;
  const env = rest.env ?? { ...process.env, ...LOOPBACK_ONLY };
  assertNoPublicDht(env, options.isolatedNamespace);
  const selfContained = isScript(binary) ? {} : { cwd: rest.cwd ?? '/', env: { ...env, PATH: pathWithoutNode(env['PATH'] ?? '') } };
  const { extension, initialize } = await ExtensionProcess.start({
    extensionId: manifest.id,
    version: manifest.version,
    onStderrLine: (line) => stderr.push(line),
    ...rest,
    binary,
    env,
    ...selfContained,
    ...(dataDir === undefined ? {} : { dataDir }),
  });
  t.teardown(() => extension.kill());
  return { extension, initialize, dataDir, stderr };
}

/** The `data` of a successful execute, failing the test with the error otherwise. */
export function dataOf(t: Test, response: RpcResponse): Record<string, unknown> {
  if (response.error !== undefined) {
    t.fail(`expected success, got error ${response.error.code}: ${response.error.message}`);
    return {};
  }
  const result = response.result as { success: boolean; data: Record<string, unknown> };
  t.equal(result.success, true, 'success is true');
  t.ok('data' in result, 'result carries data');
  return result.data;
}

/** The pid in a data dir's lock file, as written; null when nothing holds it. */
export function dataDirLockHolder(dataDir: string): string | null {
  const path = join(dataDir, DATA_DIR_LOCK_FILE_NAME);
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : null;
}
