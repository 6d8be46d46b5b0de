/**
 * Two things a parsed JSON value may hold that p2p-comm must not pass on:
 *
 * - an unpaired UTF-16 surrogate in a string or a key (JSON text can spell
 *   one as "\ud800"): it has no UTF-8 form, and other JSON parsers (serde_json,
 *   which Nexus uses) refuse the escape, so a reply carrying it would never
 *   reach a plugin;
 * - nesting deeper than a limit: JSON.stringify overflows the stack a few
 *   thousand levels down, and serde_json stops at 128.
 *
 * The walk is iterative, because a value parsed from one input line can nest
 * millions of levels deep.
 */

/**
 * How deep json content nests at most, on both sides of a message: a
 * receiver must be able to hand it to its plugin, and Nexus's JSON parser
 * stops at 128 levels (with a few taken by the reply around the content).
 */
export const MAX_JSON_DEPTH = 100;

export interface JsonProblem {
  /** Where, as a JSON pointer (`/content/3/name`); "" for the value itself. */
  path: string;
  rule: 'well_formed_unicode' | 'max_depth';
}

interface Visit {
  value: unknown;
  /** Arrays and objects around this value. */
  depth: number;
  parent: Visit | null;
  key: string;
}

/** The first problem in document order, or null. `maxDepth` bounds how many arrays and objects may nest. */
export function firstJsonProblem(value: unknown, maxDepth = Number.POSITIVE_INFINITY): JsonProblem | null {
  const stack: Visit[] = [{ value, depth: 0, parent: null, key: '' }];
  for (let visit = stack.pop(); visit !== undefined; visit = stack.pop()) {
    const current = visit.value;
    const malformed = !visit.key.isWellFormed() || (typeof current === 'string' && !current.isWellFormed());
    if (malformed) return { path: pathOf(visit), rule: 'well_formed_unicode' };
    if (typeof current !== 'object' || current === null) continue;
    if (visit.depth >= maxDepth) return { path: pathOf(visit), rule: 'max_depth' };
    const entries = Array.isArray(current) ? current.map((item, index) => [String(index), item] as const) : Object.entries(current);
    for (let index = entries.length - 1; index >= 0; index -= 1) {
      const [key, child] = entries[index] as readonly [string, unknown];
      stack.push({ value: child, depth: visit.depth + 1, parent: visit, key });
    }
  }
  return null;
}

/** Refused keys are shown with U+FFFD in place of the surrogate, so the answer itself stays well formed. */
function pathOf(visit: Visit): string {
  const keys: string[] = [];
  for (let at: Visit | null = visit; at !== null && at.parent !== null; at = at.parent) {
    keys.push(at.key.toWellFormed().replaceAll('~', '~0').replaceAll('/', '~1'));
  }
  return keys.reverse().map((key) => `/${key}`).join('');
}
