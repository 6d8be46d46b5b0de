import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readFileIfExists } from '../../extension/common/atomic-file';
import { printableJson } from '../terminal-text';

/**
 * Every decision the host takes about a plugin's call, one JSON object per
 * line in `<hostDataDir>/audit.log` (mode 0600), oldest first:
 *
 *   {"time": "<ISO>", "plugin": "agent-a", "extension": "p2p-comm", "operation": "send",
 *    "layer": "scope", "decision": "allow", "detail": "scope 'peer' = '...' approved and remembered"}
 *
 * `layer` says which check decided; `decision` is "allowed", "refused" or
 * "skipped" when a rule decided alone, the answer of the prompt ("approve",
 * "once", "allow", "deny") when someone was asked, or why no answer counts
 * ("timeout", "nobody", "busy", and "abandoned": the caller gave up; at
 * layer "call" when that came after every check passed). Inputs are not
 * logged: they can carry private message content.
 *
 * Appends are synchronous so that a decision is on disk before the call it
 * allows goes ahead. Lines are written with printableJson: line breaks,
 * controls, line separators and text-direction characters in a
 * plugin-chosen string (an operation name from a URL, a scope value) are
 * \u escapes, so they can neither forge a second entry nor act on the
 * terminal of whoever reads the file.
 */
export const AUDIT_FILE_NAME = 'audit.log';

export type AuditLayer = 'extension' | 'permission' | 'schema' | 'scope' | 'risk' | 'call';

export interface AuditEntry {
  time: string;
  plugin: string;
  extension: string;
  operation: string;
  layer: AuditLayer;
  decision: string;
  detail: string | null;
}

export class AuditLog {
  private constructor(readonly path: string) {}

  static open(hostDataDir: string): AuditLog {
    mkdirSync(hostDataDir, { recursive: true, mode: 0o700 });
    return new AuditLog(join(hostDataDir, AUDIT_FILE_NAME));
  }

  /** Appends one entry stamped with the current time. */
  record(entry: Omit<AuditEntry, 'time'>): void {
    // Field by field, so the line has exactly the documented shape whatever object the caller passes.
    const { plugin, extension, operation, layer, decision, detail } = entry;
    const line: AuditEntry = { time: new Date().toISOString(), plugin, extension, operation, layer, decision, detail };
    appendFileSync(this.path, `${printableJson(line)}\n`, { mode: 0o600 });
  }

  /** All entries, oldest first; a damaged line is reported with its number, never skipped. */
  read(): AuditEntry[] {
    const content = readFileIfExists(this.path);
    if (content === undefined) return [];
    const entries: AuditEntry[] = [];
    content
      .toString('utf8')
      .split('\n')
      .forEach((line, index) => {
        if (line === '') return;
        try {
          entries.push(JSON.parse(line) as AuditEntry);
        } catch {
          throw new Error(`audit log ${this.path} line ${index + 1} is not valid JSON; the file has been damaged`);
        }
      });
    return entries;
  }
}
