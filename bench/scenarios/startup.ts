import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manifest } from '../../extension/common/manifest';
import { ExtensionProcess } from '../../permissions/host/extension-process';
import { nowMs } from '../stats';

/**
 * What a user waits for when Nexus starts the extension, and what it then
 * holds: from spawn to the answer to `initialize` (Nexus holds a global
 * lock until it reads it), and the resident memory once the node has
 * started listening and answered a `status`. Run for the single-file
 * executable (Node 24 inside) and for the bundle under the machine's Node.
 */
export interface StartupRun {
  initializeMs: number;
  idleRssMb: number;
}

const QUIET_ENV = { P2P_COMM_LISTEN_HOST: '127.0.0.1', P2P_COMM_MDNS: 'off', P2P_COMM_DHT: 'off', P2P_COMM_LOG_LEVEL: 'warn' };

export async function startupRun(command: { binary: string; env?: NodeJS.ProcessEnv }): Promise<StartupRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'p2p-comm-bench-startup-'));
  const began = nowMs();
  const { extension } = await ExtensionProcess.start({
    binary: command.binary,
    extensionId: manifest.id,
    version: manifest.version,
    dataDir,
    env: { ...(command.env ?? process.env), ...QUIET_ENV },
    onRequest: () => ({ event_id: 'bench' }),
  });
  const initializeMs = nowMs() - began;
  try {
    await extension.execute('status', {});
    return { initializeMs, idleRssMb: residentMb(extension.pid) };
  } finally {
    await extension.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** VmRSS of a process, from /proc (Linux, where the bench runs). */
function residentMb(pid: number | undefined): number {
  if (pid === undefined) throw new Error('the extension process has no pid');
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('VmRSS:'));
  const kb = Number(line?.match(/(\d+)/)?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`no VmRSS for process ${pid}`);
  return kb / 1024;
}
