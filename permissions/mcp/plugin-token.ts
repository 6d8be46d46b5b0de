/**
 * A bearer token for one plugin, got with its secret from the Host API's
 * token exchange and renewed by itself: shortly before it expires (tokens
 * live 15 minutes), and at once when the host refuses it (it restarted, or
 * the secret was replaced). So a client set up once keeps working for as
 * long as it runs.
 *
 * Requests and exchanges go only to the host running now: before each, the
 * host dir is asked where that host listens (host-api.json, believed only
 * while its process holds the host dir). A host that stopped or moved may
 * leave its old port to any local program, which must get neither the
 * plugin's secret nor a call.
 */
export interface PluginCredentials {
  id: string;
  secret: string;
}

export interface PluginTokenOptions {
  /** Renew this long before the token expires, so no request carries one that expires on its way. */
  renewBeforeMs?: number;
  /** Milliseconds; injectable so tests can age the token. */
  now?: () => number;
}

export const DEFAULT_RENEW_BEFORE_MS = 60_000;

/** The host no longer listens where a request was going: nothing was sent; find the host again. */
export class HostMovedError extends Error {
  override name = 'HostMovedError';

  constructor(origin: string, running: string | undefined) {
    super(`the p2p-comm host no longer listens at ${origin} (${running === undefined ? 'no host runs now' : `it runs at ${running} now`}); nothing was sent there`);
  }
}

export class PluginToken {
  private current: { token: string; origin: string; renewAt: number } | undefined;
  /** One exchange shared by concurrent requests: the host rate-limits the token exchange. */
  private pending: { origin: string; token: Promise<string> } | undefined;
  private readonly renewBeforeMs: number;
  private readonly now: () => number;

  constructor(
    /** Where the running host's API listens now (`http://127.0.0.1:PORT`), or undefined when none runs. */
    private readonly runningHostUrl: () => string | undefined,
    /** Read at each exchange, so a replaced secret applies. */
    private readonly credentials: () => PluginCredentials,
    options: PluginTokenOptions = {},
  ) {
    this.renewBeforeMs = options.renewBeforeMs ?? DEFAULT_RENEW_BEFORE_MS;
    this.now = options.now ?? Date.now;
  }

  /** A token of the host at `origin`. */
  async bearer(origin: string): Promise<string> {
    const current = this.current;
    if (current !== undefined && current.origin === origin && this.now() < current.renewAt) return current.token;
    let pending = this.pending;
    if (pending?.origin !== origin) {
      const started = { origin, token: this.exchange(origin) };
      const settled = (): void => {
        if (this.pending === started) this.pending = undefined;
      };
      started.token.then(settled, settled);
      this.pending = pending = started;
    }
    return pending.token;
  }

  /** The host refused the token: the next request gets a new one. */
  invalidate(): void {
    this.current = undefined;
  }

  private async exchange(origin: string): Promise<string> {
    this.checkHostAt(origin);
    const { id, secret } = this.credentials();
    const response = await fetch(`${origin}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ plugin_id: id, secret }),
    });
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`the p2p-comm host refused a token for plugin ${id} (HTTP ${response.status}): check its secret in the plugins directory`);
    }
    const body = (await response.json()) as { access_token: string; expires_in: number };
    this.current = { token: body.access_token, origin, renewAt: this.now() + body.expires_in * 1000 - this.renewBeforeMs };
    return body.access_token;
  }

  private checkHostAt(origin: string): void {
    const running = this.runningHostUrl();
    if (running === undefined || new URL(running).origin !== origin) throw new HostMovedError(origin, running);
  }

  /**
   * A fetch to the running host that carries the token, and asks for a new
   * one and tries once more when the host refuses it (401): the host may
   * have restarted, and whatever answered may not be the host any more,
   * which the exchange checks before the secret goes out.
   */
  readonly fetch = async (url: string | URL, init: RequestInit = {}): Promise<Response> => {
    const origin = new URL(url).origin;
    const attempt = async (): Promise<Response> => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${await this.bearer(origin)}`);
      this.checkHostAt(origin);
      return fetch(url, { ...init, headers });
    };
    const response = await attempt();
    if (response.status !== 401) return response;
    await response.body?.cancel();
    this.invalidate();
    return attempt();
  };
}
