import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { PluginClient } from '../../permissions/demo/plugin-client';
import { launchBrowser, SCREENSHOT_DIR } from '../helpers/browser';
import { LOOPBACK_ONLY, tempDir } from '../helpers/extension';
import { spawnLineProcess, type LineProcess } from '../helpers/line-process';

/**
 * The reference host's web page in a real browser, as a person uses it:
 * two hosts started from the command line, each person logged in through
 * the link their host printed, pairing by pasting a link, accepting after
 * reading the fingerprint, answering a plugin's dialogs, revoking.
 */
const HOST_CLI = resolve(__dirname, '..', '..', 'dist', 'p2p-comm-host');

interface Person {
  name: string;
  host: LineProcess;
  hostDir: string;
  loginUrl: string;
  page: Page;
}

async function person(t: Test, browser: Browser, name: string): Promise<Person> {
  const hostDir = join(tempDir(t), 'host');
  const host = spawnLineProcess(process.execPath, [HOST_CLI, 'start', '--host-dir', hostDir], { env: { ...process.env, ...LOOPBACK_ONLY } });
  t.teardown(() => host.stop());
  const line = await host.waitForLine((candidate) => candidate.trimStart().startsWith('web page'), 'the web page line');
  const loginUrl = line.trim().split(/\s+/)[2] as string;
  const context = await browser.newContext();
  const page = await context.newPage();
  return { name, host, hostDir, loginUrl, page };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOT_DIR, `web-page-${name}.png`), fullPage: true });
}

/** The agent plugin the host created on first start, as a client of its Host API. */
function pluginOf(someone: Person): PluginClient {
  const plugin = JSON.parse(readFileSync(join(someone.hostDir, 'plugins', 'agent.json'), 'utf8')) as { id: string; secret: string };
  const api = new URL(someone.loginUrl).origin;
  return new PluginClient(api, plugin.id, plugin.secret);
}

t.test('two people pair, answer dialogs and revoke on their web pages', async (t) => {
  const browser = await launchBrowser(t);
  const [alice, bob] = await Promise.all([person(t, browser, 'alice'), person(t, browser, 'bob')]);

  await t.test('a page without the login link shows only how to log in', async (t) => {
    const response = await alice.page.goto(new URL('/ui/', alice.loginUrl).href);
    t.equal(response?.status(), 401);
    t.match(await alice.page.textContent('body'), 'open a login link: p2p-comm-host prints one when it starts');
  });

  for (const someone of [alice, bob]) {
    await someone.page.goto(someone.loginUrl);
    await someone.page.locator('#own-fingerprint').waitFor();
    // The page follows the host's changes from here on.
    await someone.page.locator('body[data-live="yes"]').waitFor();
  }
  const reused = await alice.page.goto(alice.loginUrl);
  t.equal(reused?.status(), 403, `a login link works once: ${await alice.page.textContent('body')}`);
  await alice.page.goto(new URL('/ui/', alice.loginUrl).href);
  await alice.page.locator('body[data-live="yes"]').waitFor();
  t.equal(new URL(alice.page.url()).search, '', 'the login code left the address bar');
  const aliceFingerprint = (await alice.page.textContent('#own-fingerprint')) ?? '';
  const bobLink = await bob.page.inputValue('#own-link');
  t.match(aliceFingerprint, /^[0-9a-f]{2}(:[0-9a-f]{2}){15}$/);

  // Alice pastes Bob's link: her new row shows the request until Bob accepts.
  const alicePeers = alice.page.locator('#resource-peers');
  await alicePeers.locator('details.create > summary').click();
  await alicePeers.locator('textarea[name="field.link"]').fill(bobLink);
  await shot(alice.page, '1-paste-link');
  await alicePeers.locator('details.create button[type="submit"]').click();
  await alice.page.locator('.notice').waitFor();
  t.notOk(await alice.page.locator('.notice.failed').count(), `pairing was asked: ${await alice.page.textContent('.notice')}`);
  await alice.page.locator('#resource-peers td[data-column="state"] >> text=requested').waitFor();

  // Bob's page shows the request as it arrives, with Alice's fingerprint beside the decision.
  const request = bob.page.locator('#resource-requests tr.row').filter({ hasText: 'waiting for you' });
  await request.waitFor();
  t.equal(await request.locator('td[data-column="fingerprint"]').textContent(), aliceFingerprint, 'the fingerprint Bob compares is Alice\'s');
  await request.locator('td.more > details > summary').click();
  await request.locator('select[name="field.decision"]').selectOption('accept');
  await shot(bob.page, '2-accept-request');
  await request.locator('form.edit button[type="submit"]').click();
  await bob.page.locator('.notice').waitFor();
  t.notOk(await bob.page.locator('.notice.failed').count(), `accepted: ${await bob.page.textContent('.notice')}`);
  await bob.page.locator('#resource-peers td[data-column="state"] >> text=trusted').waitFor();
  await alice.page.locator('#resource-peers td[data-column="state"] >> text=trusted').waitFor();
  const bobId = (await alice.page.locator('#resource-peers tr.row').getAttribute('data-id')) ?? '';

  // Bob starts a note about Alice before her message arrives: the refresh it brings leaves his typing alone.
  const aliceRow = bob.page.locator('#resource-peers tr.row');
  await aliceRow.locator('td.more > details > summary').click();
  await aliceRow.locator('input[name="field.note"]').fill('Alice, from the bakery');
  const refreshesBefore = await bob.page.getAttribute('body', 'data-refreshed');

  // Alice's agent sends Bob a message: its first use of send and of Bob as a scope are asked on her page.
  const sent = pluginOf(alice).call('send', { peer: bobId, type: 'text', content: 'hello from the web page test' });
  const dialog = alice.page.locator('#dialogs form.dialog');
  await dialog.waitFor();
  t.match(await dialog.textContent(), 'send');
  await shot(alice.page, '3-send-dialog');
  await dialog.locator('button[value="approve"]').click();
  await alice.page.locator('#dialogs form.dialog >> text=asks for a scope').waitFor();
  await alice.page.locator('#dialogs form.dialog button[value="allow"]').click();
  const result = await sent;
  t.equal(result.status, 200, 'the send went through once both dialogs were answered on the page');
  await alice.host.waitForLine((line) => line.includes('(answered on the web page: allow)'), 'the terminal taking its question down', { stream: 'stderr' });

  // Bob sees the message's metadata once his page has refreshed; its content only when he opens it.
  const activity = aliceRow.locator('table.activity tr[data-message]');
  await bob.page.locator(refreshesBefore === null ? 'body[data-refreshed]' : `body:not([data-refreshed="${refreshesBefore}"])`).waitFor({ state: 'attached' });
  t.equal(await aliceRow.locator('input[name="field.note"]').inputValue(), 'Alice, from the bakery', 'a refresh leaves a field being typed in alone');
  await aliceRow.locator('form.edit button[type="submit"]').click();
  await bob.page.locator('.notice', { hasText: 'note saved' }).waitFor();
  t.equal(await bob.page.textContent('#resource-peers td[data-column="note"]'), 'Alice, from the bakery', 'the note is saved and listed');
  await aliceRow.locator('td.more > details > summary').click();
  await activity.waitFor();
  t.match(await activity.textContent(), 'from them');
  t.notMatch(await bob.page.textContent('body'), 'hello from the web page test', 'no content until opened');
  await shot(bob.page, '4-activity');
  await activity.locator('a', { hasText: 'Open' }).click();
  t.equal(await bob.page.textContent('#message-content'), 'hello from the web page test');
  await bob.page.goto(new URL('/ui/', bob.loginUrl).href);

  // Alice revokes Bob; Bob's page shows that she did.
  const bobRow = alice.page.locator('#resource-peers tr.row');
  await bobRow.locator('td.more > details > summary').click();
  await bobRow.locator('details.danger > summary').click();
  await bobRow.locator('button.delete').click();
  await alice.page.locator('.notice', { hasText: 'Peers:' }).filter({ hasNotText: 'request delivered' }).waitFor();
  await alice.page.locator('#resource-peers p.empty').waitFor();
  await bob.page.locator('#resource-peers td[data-column="state"] >> text=revoked by peer').waitFor();
  await shot(bob.page, '5-revoked');
  t.pass('revoked');
});
