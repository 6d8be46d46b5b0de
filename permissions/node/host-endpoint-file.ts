import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { isErrnoException, readFileIfExists, writeFileAtomic } from '../../extension/common/atomic-file';
import { liveHolderOf } from '../../extension/common/lock-file';

/**
 * `<host dir>/host-api.json`: where the running host's API listens, so that
 * programs started for that host dir (`p2p-comm-host mcp`, which an MCP
 * client starts) find it, and the key its web page's login links are made
 * with, so that `p2p-comm-host page` can make one for a person whose host
 * runs in the background (started by `mcp`). Written by the host once it
 * listens, mode 0600 in the 0700 host dir (the key lets whoever reads it
 * log in to the page, as the plugins' secrets beside it let a plugin call),
 * and removed when it stops; a file left by a host that was killed is
 * ignored, as its process no longer holds the host dir.
 */
export const HOST_ENDPOINT_FILE_NAME = 'host-api.json';

export interface HostEndpoint {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** The web page's login link key (login-codes.ts). */
  page_key: string;
  pid: number;
}

const LOOPBACK_URL = /^http:\/\/127\.0\.0\.1:[0-9]{1,5}$/;

export function publishHostEndpoint(hostDir: string, url: string, pageKey: string): { withdraw(): void } {
  const path = join(hostDir, HOST_ENDPOINT_FILE_NAME);
  writeFileAtomic(path, `${JSON.stringify({ url, page_key: pageKey, pid: process.pid } satisfies HostEndpoint)}\n`, 0o600);
  return {
    // Called while the host still holds the host dir, so the file is still its own.
    withdraw: () => {
      try {
        unlinkSync(path);
      } catch (error) {
        if (!isErrnoException(error) || error.code !== 'ENOENT') throw error;
      }
    },
  };
}

/**
 * The API of the host running on `hostDir`: only while the process that
 * wrote the file holds the host dir's lock (`hostLock`), so a file left by
 * a host that was killed, or one a stranger wrote, is never believed.
 */
export function runningHostEndpoint(hostDir: string, hostLock: string): HostEndpoint | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileIfExists(join(hostDir, HOST_ENDPOINT_FILE_NAME))?.toString('utf8') ?? 'null');
  } catch {
    return undefined;
  }
  const { url, page_key: pageKey, pid } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  if (typeof url !== 'string' || !LOOPBACK_URL.test(url) || typeof pid !== 'number') return undefined;
  if (typeof pageKey !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(pageKey)) return undefined;
  return liveHolderOf(hostLock) === pid ? { url, page_key: pageKey, pid } : undefined;
}
