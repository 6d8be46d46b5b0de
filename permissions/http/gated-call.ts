import { EXTENSION_UNAVAILABLE, type ExtensionRefusal } from './extension-errors';
import type { GateVerdict } from '../gate/types';

/**
 * One plugin call as the host makes it, whichever door it came through
 * (POST /api/v1/extensions/p2p-comm/<op>, or an MCP tool): the gate first,
 * then the extension. Both doors answer from this, so an MCP client meets
 * the same permissions, scopes, dialogs and audit log as any plugin.
 */
export interface GatedCallDeps {
  /** `signal`: the caller gives up; a dialog open for the call is then taken down. */
  gate: { check(plugin: string, operation: string, input: unknown, signal?: AbortSignal): Promise<GateVerdict> };
  execute(operation: string, input: unknown): Promise<{ result?: unknown; error?: ExtensionRefusal }>;
}

export type GatedCallOutcome =
  /** The gate refused: the call never reached the extension. */
  | { kind: 'refused'; verdict: Extract<GateVerdict, { allowed: false }> }
  /** The caller gave up while the gate was asking (`signal`): the call was not run. */
  | { kind: 'abandoned' }
  /** The extension refused or gave no answer (not running, restarting, died during the call). */
  | { kind: 'failed'; refusal: ExtensionRefusal }
  | { kind: 'answered'; result: unknown };

/** Only a caller that can give up (`signal`) can be told it did. */
export function gatedCall(deps: GatedCallDeps, plugin: string, operation: string, input: unknown): Promise<Exclude<GatedCallOutcome, { kind: 'abandoned' }>>;
export function gatedCall(deps: GatedCallDeps, plugin: string, operation: string, input: unknown, signal: AbortSignal): Promise<GatedCallOutcome>;
export async function gatedCall(deps: GatedCallDeps, plugin: string, operation: string, input: unknown, signal?: AbortSignal): Promise<GatedCallOutcome> {
  const verdict = await deps.gate.check(plugin, operation, input, signal);
  // A dialog can outlast the caller (an MCP client gives up on a tool call after a minute): what it abandoned is not done behind its back.
  if (signal?.aborted === true) return { kind: 'abandoned' };
  if (!verdict.allowed) return { kind: 'refused', verdict };
  let outcome: { result?: unknown; error?: ExtensionRefusal };
  try {
    outcome = await deps.execute(operation, input);
  } catch (error) {
    return { kind: 'failed', refusal: { message: error instanceof Error ? error.message : String(error), data: { error: EXTENSION_UNAVAILABLE } } };
  }
  return outcome.error === undefined ? { kind: 'answered', result: outcome.result } : { kind: 'failed', refusal: outcome.error };
}
