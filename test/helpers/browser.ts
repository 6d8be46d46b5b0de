import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { repositoryRoot } from './repository-root';

/** Debian's Chromium, which .ci/run installs where it is missing; P2P_COMM_CHROMIUM names another. */
export const CHROMIUM = process.env['P2P_COMM_CHROMIUM'] ?? '/usr/bin/chromium';

/** Where the browser tests leave their screenshots for people to look at. */
export const SCREENSHOT_DIR = join(repositoryRoot(), 'dist', 'screenshots');

/**
 * A headless Chromium that talks to 127.0.0.1 only: the background
 * services that would reach out to the internet (updates, sync, field
 * trials) are off.
 */
export async function launchBrowser(teardown: { teardown(fn: () => unknown): void }): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium), or set P2P_COMM_CHROMIUM`);
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Every name but 127.0.0.1 fails to resolve: the browser cannot reach a public host even by mistake.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
  teardown.teardown(() => browser.close());
  return browser;
}
