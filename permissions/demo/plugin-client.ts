/**
 * How a plugin talks to the Host API: exchange its secret for a bearer
 * token, then POST operation inputs. Plain fetch, as any plugin would.
 */
export interface CallResult {
  status: number;
  body: Record<string, unknown>;
}

export class PluginClient {
  /** One token request shared by concurrent calls: the host rate-limits the token endpoint. */
  private token: Promise<string> | null = null;

  constructor(
    private readonly baseUrl: string,
    private readonly pluginId: string,
    private readonly secret: string,
  ) {}

  async call(operation: string, input: Record<string, unknown> = {}): Promise<CallResult> {
    const response = await fetch(`${this.baseUrl}/api/v1/extensions/p2p-comm/${operation}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await this.bearer()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** The operation's data; throws with the host's error when the call was refused or failed. */
  async data(operation: string, input: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const { status, body } = await this.call(operation, input);
    if (status !== 200) throw new Error(`${this.pluginId} ${operation}: HTTP ${status} ${String(body['error'])}: ${describeDetails(body['details'])}`);
    return body['data'] as Record<string, unknown>;
  }

  private bearer(): Promise<string> {
    this.token ??= this.requestToken().catch((error: unknown) => {
      this.token = null;
      throw error;
    });
    return this.token;
  }

  private async requestToken(): Promise<string> {
    const response = await fetch(`${this.baseUrl}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ plugin_id: this.pluginId, secret: this.secret }),
    });
    if (response.status !== 200) throw new Error(`${this.pluginId}: token refused (HTTP ${response.status})`);
    return ((await response.json()) as { access_token: string }).access_token;
  }
}
/** Nexus sends `details` as a string; the reference host sends `{code, message}` where it names a code. */
function describeDetails(details: unknown): string {
  if (typeof details === 'object' && details !== null) {
    const code = String((details as Record<string, unknown>)['code']);
    const message = String((details as Record<string, unknown>)['message']);
    // The extension's messages already start with their code.
    return message.startsWith(`${code}:`) ? message : `${code}: ${message}`;
  }
  return String(details ?? '');
}
