import { createHash } from 'node:crypto';
import type { ExtensionRefusal } from '../http/extension-errors';
import type { GateVerdict } from '../gate/types';
import { loopbackAddressUrl } from '../plugins/plugin-declarations';
import { BodyTooLarge, readBoundedText } from './bounded-body';
import { isRecord } from './json-values';
import type { DeclaredAgent } from './declared-agent';

/**
 * Publishes the declared agent's own card as this node's agent card: the
 * host reads it where every A2A agent serves it and, when it changed, sets
 * it through the gate as the declaring plugin's `a2a_set_card`, so the
 * person decides whether this plugin speaks for the node.
 */
export const AGENT_CARD_PATH = '.well-known/agent-card.json';

/** A card is at most 64 KiB once the extension has normalized it; the agent's own may carry a little more. */
export const MAX_CARD_CHARS = 256 * 1024;

export interface CardRefreshDeps {
  /** `signal`: the host stops; a dialog about the card is taken down. */
  gate: { check(plugin: string, operation: string, input: unknown, signal?: AbortSignal): Promise<GateVerdict> };
  execute(operation: string, input: unknown): Promise<{ result?: unknown; error?: ExtensionRefusal }>;
  fetch?: typeof fetch;
  warn: (line: string) => void;
  /** How long one card read may take. */
  timeoutMs?: number;
  /** Aborted when the host stops: a card read or dialog under way ends at once. */
  signal?: AbortSignal;
}

export const DEFAULT_CARD_TIMEOUT_MS = 10_000;

interface CardVersion {
  plugin: string;
  url: string;
  digest: string;
}

function sameVersion(a: CardVersion | undefined, b: CardVersion): boolean {
  return a !== undefined && a.plugin === b.plugin && a.url === b.url && a.digest === b.digest;
}

interface AgentInterface {
  url?: unknown;
  protocolBinding?: unknown;
}

export class CardRefresh {
  private published: CardVersion | undefined;
  /** The card the person last refused to publish: not asked about again until it changes (or the host restarts). */
  private refused: CardVersion | undefined;
  /** The agent's JSON-RPC endpoint per its card, once published (or found unchanged). */
  private endpointOf: { url: string; endpoint: string; streams: boolean } | undefined;
  /**
   * Whether the node may hold a card this host set: true at start, since an
   * earlier run may have published one for a declaration since removed.
   */
  private mayHoldCard = true;
  /** The declared url whose card was last read, whatever became of it. */
  private readFrom: string | undefined;
  private lastProblem: string | undefined;

  constructor(private readonly deps: CardRefreshDeps) {}

  /** Where to POST requests for `agent`: the card's first loopback JSONRPC interface, else the declared url. */
  endpoint(agent: DeclaredAgent): string {
    return this.endpointOf?.url === agent.url ? this.endpointOf.endpoint : agent.url;
  }

  /** Whether the agent's card has been read since it was declared: until then, where its endpoint is is unknown. */
  hasRead(agent: DeclaredAgent): boolean {
    return this.readFrom === agent.url;
  }

  /** Whether the agent's card, once read, says it streams. */
  streams(agent: DeclaredAgent): boolean {
    return this.endpointOf?.url === agent.url && this.endpointOf.streams;
  }

  /**
   * Reads the card and publishes it if it changed; with no agent declared,
   * withdraws the card this run published, or (once, at start) one an
   * earlier run may have left (withdrawing none changes nothing).
   */
  async refresh(agent: DeclaredAgent | undefined): Promise<void> {
    if (agent === undefined) {
      if (!this.mayHoldCard) return;
      // The host takes back what it published: no plugin asks, so no gate.
      const withdrawn = await this.deps.execute('a2a_set_card', { card: null });
      if (withdrawn.error !== undefined) {
        this.problem(`a2a: the agent card could not be withdrawn: ${withdrawn.error.message}`);
        return;
      }
      this.published = undefined;
      this.mayHoldCard = false;
      return;
    }
    let card: Record<string, unknown>;
    try {
      card = await this.read(agent.url);
    } catch (error) {
      if (this.deps.signal?.aborted === true) return;
      this.problem(`a2a: the agent card of plugin ${agent.plugin} could not be read from ${new URL(AGENT_CARD_PATH, agent.url).href}: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    this.readFrom = agent.url;
    const capabilities = card['capabilities'] as { streaming?: unknown } | undefined;
    // Taken only with a card the person let through: a refused card must not steer where requests go.
    const endpointOf = { url: agent.url, endpoint: jsonRpcEndpoint(card) ?? agent.url, streams: capabilities?.streaming === true };
    const digest = createHash('sha256').update(JSON.stringify(card)).digest('hex');
    const version: CardVersion = { plugin: agent.plugin, url: agent.url, digest };
    if (sameVersion(this.published, version)) {
      this.endpointOf = endpointOf;
      return;
    }
    if (sameVersion(this.refused, version)) return;
    const input = { card };
    const verdict = await this.deps.gate.check(agent.plugin, 'a2a_set_card', input, this.deps.signal);
    // The host is stopping: the person was not asked, so nothing is remembered as refused.
    if (this.deps.signal?.aborted === true) return;
    if (!verdict.allowed) {
      this.refused = version;
      this.problem(`a2a: plugin ${agent.plugin} may not set the agent card (${verdict.error}${verdict.details === null ? '' : `: ${verdict.details}`}); its agent is not published`);
      return;
    }
    const outcome = await this.deps.execute('a2a_set_card', input);
    if (outcome.error !== undefined) {
      this.problem(`a2a: the agent card of plugin ${agent.plugin} was refused: ${outcome.error.message}`);
      return;
    }
    this.published = version;
    this.mayHoldCard = true;
    this.endpointOf = endpointOf;
    this.refused = undefined;
    this.lastProblem = undefined;
  }

  private async read(url: string): Promise<Record<string, unknown>> {
    const timeout = AbortSignal.timeout(this.deps.timeoutMs ?? DEFAULT_CARD_TIMEOUT_MS);
    const signal = this.deps.signal === undefined ? timeout : AbortSignal.any([timeout, this.deps.signal]);
    // Never redirected: the card is the one on the declared loopback port, and a redirect could make the host fetch any URL.
    const response = await (this.deps.fetch ?? fetch)(new URL(AGENT_CARD_PATH, url), { redirect: 'error', signal });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status}`);
    }
    let text: string;
    try {
      text = await readBoundedText(response.body, MAX_CARD_CHARS);
    } catch (error) {
      if (error instanceof BodyTooLarge) throw new Error(`the card is longer than ${MAX_CARD_CHARS} characters`);
      throw error;
    }
    const card: unknown = JSON.parse(text);
    if (!isRecord(card)) throw new Error('the card is not a JSON object');
    return card;
  }

  /** Said once until it changes: a card refreshed every minute would otherwise repeat the same line. */
  private problem(line: string): void {
    if (line === this.lastProblem) return;
    this.lastProblem = line;
    this.deps.warn(line);
  }
}

/** The card's first JSONRPC interface on this machine, where requests are POSTed. */
function jsonRpcEndpoint(card: Record<string, unknown>): string | undefined {
  const interfaces = Array.isArray(card['supportedInterfaces']) ? (card['supportedInterfaces'] as AgentInterface[]) : [];
  for (const entry of interfaces) {
    if (entry.protocolBinding !== 'JSONRPC' || typeof entry.url !== 'string') continue;
    const endpoint = loopbackAddressUrl(entry.url);
    if (endpoint !== undefined) return endpoint;
  }
  return undefined;
}

