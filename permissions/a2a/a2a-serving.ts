import type { ExtensionEvent } from '../host/process-manager';
import type { ExtensionRefusal } from '../http/extension-errors';
import type { GateVerdict, PluginDeclaration } from '../gate/types';
import type { Warn } from '../plugins/plugin-directory';
import { A2aForwarder, type ForwarderOptions } from './a2a-forwarder';
import { CardRefresh } from './card-refresh';
import { DeclaredAgentWatch, type DeclaredAgent } from './declared-agent';

/**
 * The serving side of A2A in the reference host: follows the plugin that
 * declares an agent, keeps its card published, and forwards the peers'
 * requests to it.
 */
export interface A2aServingOptions extends ForwarderOptions {
  /** How often the agent's card is read again (it is also read when the declaration changes). */
  cardRefreshMs?: number;
  /** How often the plugins directory is looked at for a changed declaration. */
  declarationCheckMs?: number;
  /** How long one read of the agent's card may take. */
  cardTimeoutMs?: number;
}

export const DEFAULT_CARD_REFRESH_MS = 60_000;
export const DEFAULT_DECLARATION_CHECK_MS = 1_000;

export interface A2aServingDeps {
  hostDir: string;
  declared: readonly PluginDeclaration[];
  gate: { check(plugin: string, operation: string, input: unknown, signal?: AbortSignal): Promise<GateVerdict> };
  execute(operation: string, input: unknown): Promise<{ result?: unknown; error?: ExtensionRefusal }>;
  warn: Warn;
  /** Told the declaring plugin's declaration, so its grants know it before it ever calls. */
  onLoaded(declaration: PluginDeclaration): void;
}

export class A2aServing {
  private readonly watch: DeclaredAgentWatch;
  private readonly cards: CardRefresh;
  private readonly forwarder: A2aForwarder;
  private agent: DeclaredAgent | undefined;
  private cardReadAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private tick: Promise<void> | undefined;
  /** Aborted by stop(): a card read or card dialog under way ends at once. */
  private readonly stopping = new AbortController();

  constructor(
    private readonly deps: A2aServingDeps,
    private readonly options: A2aServingOptions = {},
  ) {
    this.watch = new DeclaredAgentWatch(deps.hostDir, deps.declared, deps.warn, deps.onLoaded);
    this.cards = new CardRefresh({
      gate: deps.gate,
      execute: deps.execute,
      warn: deps.warn,
      signal: this.stopping.signal,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      ...(options.cardTimeoutMs === undefined ? {} : { timeoutMs: options.cardTimeoutMs }),
    });
    this.forwarder = new A2aForwarder(
      {
        gate: deps.gate,
        execute: deps.execute,
        target: () => {
          const agent = this.agent;
          return agent === undefined ? undefined : { plugin: agent.plugin, secret: agent.secret, endpoint: this.cards.endpoint(agent), streams: this.cards.streams(agent) };
        },
      },
      { warn: deps.warn, ...options },
    );
  }

  /**
   * Publishes the card first, so the requests waiting since the last run go
   * to the endpoint it names. Not awaited by the host's start: publishing
   * may open a dialog, which must not hold the host.
   */
  start(): void {
    this.runCheck();
  }

  event(event: ExtensionEvent): void {
    this.forwarder.event(event);
  }

  /** Ends at once: a dialog about the card is taken down rather than waited for. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('the host is stopping'));
    clearTimeout(this.timer);
    this.forwarder.stop();
    await this.tick;
    await this.forwarder.idle();
  }

  private runCheck(): void {
    this.tick = this.check()
      .catch((error: unknown) => this.deps.warn(`a2a: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => {
        if (this.stopping.signal.aborted) return;
        this.timer = setTimeout(() => this.runCheck(), this.options.declarationCheckMs ?? DEFAULT_DECLARATION_CHECK_MS);
        this.timer.unref();
      });
  }

  private async check(): Promise<void> {
    const agent = this.watch.current();
    const changed = !sameAgent(agent, this.agent);
    const due = Date.now() - this.cardReadAt >= (this.options.cardRefreshMs ?? DEFAULT_CARD_REFRESH_MS);
    if (!changed && !due) return;
    this.cardReadAt = Date.now();
    await this.cards.refresh(agent);
    // Only an agent whose card was read is a target: the card names the endpoint and whether it streams. A request
    // that arrived during the read (as one queued while this node was down does, at once), or while the agent was
    // not up yet, would otherwise go to the declared url. Until then requests wait at the node, and the card is
    // read again at the next check.
    const ready = agent !== undefined && this.cards.hasRead(agent) ? agent : undefined;
    const becameTarget = ready !== undefined && !sameAgent(ready, this.agent);
    this.agent = ready;
    // A newly declared agent takes the requests that waited for one.
    if (becameTarget && !this.stopping.signal.aborted) await this.forwarder.start();
  }
}

function sameAgent(a: DeclaredAgent | undefined, b: DeclaredAgent | undefined): boolean {
  return a?.plugin === b?.plugin && a?.secret === b?.secret && a?.url === b?.url;
}
