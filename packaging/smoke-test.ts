import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manifest } from '../extension/common/manifest';
import { ExtensionProcess } from '../permissions/host/extension-process';
import type { Target } from './targets';

/**
 * Runs an executable as Nexus does, from `/` with no `node` on its PATH:
 * initialize, then `status`, then shutdown. This machine (Linux x64) runs
 * its own target natively and the Linux ARM64 one under qemu-user when it
 * is installed (Debian: qemu-user-static, libc6-arm64-cross,
 * libstdc++6-arm64-cross); the others are checked by their headers only.
 */
export type SmokeResult = { ran: true; how: string; status: string } | { ran: false; why: string };

const QEMU_AARCH64 = '/usr/bin/qemu-aarch64-static';
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';

export async function smokeTest(target: Target, executable: string): Promise<SmokeResult> {
  if (target === 'x86_64-unknown-linux-gnu') return run(executable, [], 'natively');
  if (target === 'aarch64-unknown-linux-gnu') {
    if (!existsSync(QEMU_AARCH64) || !existsSync(join(ARM64_SYSROOT, 'lib'))) {
      return { ran: false, why: `needs ${QEMU_AARCH64} and an ARM64 sysroot in ${ARM64_SYSROOT} (apt-get install qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross)` };
    }
    return run(QEMU_AARCH64, ['-L', ARM64_SYSROOT, executable], 'under qemu-user');
  }
  return { ran: false, why: 'another operating system: checked by its headers only' };
}

async function run(binary: string, args: readonly string[], how: string): Promise<SmokeResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'p2p-comm-smoke-'));
  try {
    const { extension } = await ExtensionProcess.start({
      binary,
      args,
      extensionId: manifest.id,
      version: manifest.version,
      dataDir,
      cwd: '/',
      env: { PATH: '/usr/sbin:/sbin', P2P_COMM_LISTEN_HOST: '127.0.0.1', P2P_COMM_MDNS: 'off', P2P_COMM_LOG_LEVEL: 'warn' },
      onRequest: () => ({ event_id: 'smoke' }),
    });
    try {
      const response = await extension.execute('status', {});
      if (response.error !== undefined) throw new Error(`status failed: ${response.error.message}`);
      const data = (response.result as { data: { version?: unknown } }).data;
      return { ran: true, how, status: `status answered (version ${String(data.version)})` };
    } finally {
      await extension.shutdown();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
