import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { extensionErrorAnswer } from '../http/extension-errors';
import type { GatedCallOutcome } from '../http/gated-call';
import type { ArrivalSource } from './message-arrivals';

export type ReadAccess = 'allowed' | 'denied' | 'ask';

/** What a tool may do while it runs, on behalf of one MCP client (its plugin). */
export interface ToolContext {
  plugin: string;
  /** Aborts when the client cancels the call. */
  signal: AbortSignal;
  /** One operation, through the gate as this plugin; not run if the client cancelled while a dialog was open. */
  call(operation: string, input: Record<string, unknown>): Promise<GatedCallOutcome>;
  /**
   * How reading `peer`'s messages stands for this client: `allowed` for
   * good (no dialog), `denied` for good (the gate refuses without asking),
   * or still the gate's to `ask` about.
   */
  readAccess(peer: string): ReadAccess;
  /**
   * The peers the person paired with, as the host itself lists them (not
   * through the gate, like the facts a dialog shows): a tool shows a client
   * only the ids of the peers it then reads.
   */
  pairedPeers(): Promise<string[]>;
  /** Messages arriving from peers, for a tool that waits for them (the host's, shared by every client). */
  arrivals: ArrivalSource;
}

/** A tool's answer; `withdraw` undoes what it handed over, should the client turn out not to have read it. */
export interface ToolAnswer {
  result: CallToolResult;
  withdraw?: () => void;
}

export interface McpTool {
  definition: Tool;
  run(args: Record<string, unknown>, context: ToolContext): Promise<ToolAnswer>;
}

export function textResult(text: string, isError = false): CallToolResult {
  return isError ? { content: [{ type: 'text', text }], isError: true } : { content: [{ type: 'text', text }] };
}

/** What the model is told when the gate or the extension refused, with what it should do next. */
export function refusalResult(outcome: Exclude<GatedCallOutcome, { kind: 'answered' }>): CallToolResult {
  if (outcome.kind === 'refused') {
    const { status, error, details } = outcome.verdict;
    const advice =
      status === 429
        ? 'A dialog for this client is already open on your user\'s screen: call again once they have answered it.'
        : status === 400
          ? 'Fix the arguments and call again.'
          : 'Your user declined this, has not allowed it, or nobody answered the dialog in time. Do not retry on your own: tell your user, who can allow it.';
    return textResult(`Refused by the p2p-comm host (${error}${details === null ? '' : `: ${details}`}). ${advice}`, true);
  }
  if (outcome.kind === 'abandoned') return textResult('The call was cancelled while your user was being asked; nothing was done.', true);
  const { code, message } = extensionErrorAnswer(outcome.refusal).body.details;
  return textResult(`p2p-comm could not do it (${code}): ${message}`, true);
}
