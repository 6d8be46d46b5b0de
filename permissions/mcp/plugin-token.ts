/**
 * A bearer token for one plugin, got with its secret from the Host API's
 * token exchange and renewed by itself: shortly before it expires (tokens
 * live 15 minutes), and at once when the host refuses it (it restarted, or
 * the secret was replaced). So a client set up once keeps working for as
 * long as it runs.
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

export class PluginToken {
  private current: { token: string; renewAt: number } | undefined;
  /** One exchange shared by concurrent requests: the host rate-limits the token exchange. */
  private pending: Promise<string> | undefined;
  private readonly renewBeforeMs: number;
  private readonly now: () => number;

  constructor(
    private readonly apiUrl: () => string,
    /** Read at each exchange, so a replaced secret applies. */
    private readonly credentials: () => PluginCredentials,
    options: PluginTokenOptions = {},
  ) {
    this.renewBeforeMs = options.renewBeforeMs ?? DEFAULT_RENEW_BEFORE_MS;
    this.now = options.now ?? Date.now;
  }

  async bearer(): Promise<string> {
    if (this.current !== undefined && this.now() < this.current.renewAt) return this.current.token;
    this.pending ??= this.exchange().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** The host refused the token: the next request gets a new one. */
  invalidate(): void {
    this.current = undefined;
  }

  private async exchange(): Promise<string> {
    const { id, secret } = this.credentials();
    const response = await fetch(`${this.apiUrl()}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ plugin_id: id, secret }),
    });
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`the p2p-comm host refused a token for plugin ${id} (HTTP ${response.status}): check its secret in the plugins directory`);
    }
    const body = (await response.json()) as { access_token: string; expires_in: number };
    this.current = { token: body.access_token, renewAt: this.now() + body.expires_in * 1000 - this.renewBeforeMs };
    return body.access_token;
  }

  /** A fetch that carries the token, and asks for a new one and tries once more when the host refuses it (401). */
  readonly fetch = async (url: string | URL, init: RequestInit = {}): Promise<Response> => {
    const attempt = async (): Promise<Response> => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${await this.bearer()}`);
      return fetch(url, { ...init, headers });
    };
    const response = await attempt();
    if (response.status !== 401) return response;
    await response.body?.cancel();
    this.invalidate();
    return attempt();
  };
}
