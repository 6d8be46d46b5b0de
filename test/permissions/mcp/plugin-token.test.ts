import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { HostMovedError, PluginToken } from '../../../permissions/mcp/plugin-token';

/** A token exchange that issues numbered tokens living `ttlSeconds`, and a route that accepts only the newest one. */
async function fakeHost(
  t: Test,
  ttlSeconds = 900,
  /** Runs as a request is refused (401). */
  onRefused: () => void = () => undefined,
): Promise<{ url: string; issued: () => number; requests: () => number; revokeAll: () => void }> {
  let issued = 0;
  let requests = 0;
  let valid = new Set<string>();
  const server = createServer((request, response) => {
    if (request.url === '/api/v1/auth/token') {
      issued += 1;
      const token = `token-${issued}`;
      valid.add(token);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: ttlSeconds }));
      return;
    }
    requests += 1;
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
    if (!valid.has(token)) onRefused();
    response.writeHead(valid.has(token) ? 200 : 401).end(token);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, issued: () => issued, requests: () => requests, revokeAll: () => (valid = new Set()) };
}

const CREDENTIALS = () => ({ id: 'claude', secret: 'the-secret-of-claude' });

t.test('one token while it lives, a new one shortly before it expires', async (t) => {
  const host = await fakeHost(t, 900);
  let now = 0;
  const token = new PluginToken(() => host.url, CREDENTIALS, { now: () => now, renewBeforeMs: 60_000 });
  t.equal(await (await token.fetch(`${host.url}/x`)).text(), 'token-1');
  now = 839_000;
  t.equal(await (await token.fetch(`${host.url}/x`)).text(), 'token-1', 'still the first, 14 min in');
  now = 841_000;
  t.equal(await (await token.fetch(`${host.url}/x`)).text(), 'token-2', 'renewed a minute before it expires');
  now = 3_600_000;
  t.equal((await token.fetch(`${host.url}/x`)).status, 200, 'and again an hour later');
});

t.test('a token the host refuses (it restarted) is replaced and the request made again, once', async (t) => {
  const host = await fakeHost(t);
  const token = new PluginToken(() => host.url, CREDENTIALS);
  await token.fetch(`${host.url}/x`);
  host.revokeAll();
  const response = await token.fetch(`${host.url}/x`);
  t.equal(response.status, 200);
  t.equal(await response.text(), 'token-2');
});

t.test('concurrent requests share one exchange (the host rate-limits it)', async (t) => {
  const host = await fakeHost(t);
  const token = new PluginToken(() => host.url, CREDENTIALS);
  await Promise.all([1, 2, 3, 4, 5].map(() => token.fetch(`${host.url}/x`)));
  t.equal(host.issued(), 1);
});

t.test('a refused secret is an error that says where the secret lives', async (t) => {
  const server = createServer((_request, response) => response.writeHead(401).end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await t.rejects(new PluginToken(() => url, CREDENTIALS).bearer(url), /refused a token for plugin claude \(HTTP 401\): check its secret/);
});

t.test('neither the secret nor a request goes to a port the host no longer holds', async (t) => {
  let running: string | undefined;
  // What answers 401 is no longer the host: it stopped meanwhile.
  let stopsOnRefusal = false;
  const host = await fakeHost(t, 900, () => {
    if (stopsOnRefusal) running = undefined;
  });
  running = host.url;
  let now = 0;
  const token = new PluginToken(() => running, CREDENTIALS, { now: () => now });
  await token.fetch(`${host.url}/x`);
  t.equal(host.requests(), 1);

  // The host restarted elsewhere; whatever holds its old port refuses the token.
  running = 'http://127.0.0.1:1';
  await t.rejects(token.fetch(`${host.url}/x`), HostMovedError, 'a request is refused before it is sent');
  t.equal(host.requests(), 1, 'nothing was sent to the old port');
  host.revokeAll();
  running = host.url;
  const refused = await token.fetch(`${host.url}/x`);
  t.equal(refused.status, 200, 'the host is back where it was: a 401 is answered with a new token');
  t.equal(host.issued(), 2);

  // A 401 from the old port once the host stopped: no exchange there.
  host.revokeAll();
  stopsOnRefusal = true;
  await t.rejects(token.fetch(`${host.url}/x`), /no longer listens at .* \(no host runs now\); nothing was sent there/);
  t.equal(host.requests(), 4, 'the request was refused (401)');
  t.equal(host.issued(), 2, 'and the secret was not sent after it');

  // Renewal time, and no host runs: no exchange either.
  now = 3_600_000;
  await t.rejects(token.bearer(host.url), HostMovedError);
  t.equal(host.issued(), 2);
});
