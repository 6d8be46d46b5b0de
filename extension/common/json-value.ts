/**
 * Two things a parsed JSON value may hold that p2p-comm must not pass on:
 *
 * - an unpaired UTF-16 surrogate in a string or a key (JSON text can spell
 *   one as "\ud800"): it has no UTF-8 form, and other JSON parsers (serde_json,
 *   which Nexus uses) refuse the escape, so a reply carrying it would never
 *   reach a plugin;
 * - nesting deeper than a limit: JSON.stringify overflows the stack a few
 *   thousand levels down, and serde_json stops at 128;
 * - a number beyond the range of a 64-bit float: JSON text can spell one
 *   (1e400), JSON.parse reads it as Infinity, and JSON.stringify writes
 *   that as null, so it would reach the other side as something else.
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
  rule: 'well_formed_unicode' | 'max_depth' | 'finite_number';
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
    if (typeof current === 'number' && !Number.isFinite(current)) return { path: pathOf(visit), rule: 'finite_number' };
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

/** What is wrong, as the end of a sentence that names the place ("content at /a holds …"), with what to do instead. */
export function jsonProblemText(rule: JsonProblem['rule'], maxDepth: number): string {
  switch (rule) {
    case 'well_formed_unicode':
      return 'holds an unpaired UTF-16 surrogate, which has no UTF-8 form; send well-formed Unicode text';
    case 'max_depth':
      return `nests deeper than ${maxDepth} arrays and objects; flatten it`;
    case 'finite_number':
      return 'holds a number beyond the range of a 64-bit float (such as 1e400), which would arrive as null; send it as a string';
  }
}

/** Refused keys are shown with U+FFFD in place of the surrogate, so the answer itself stays well formed. */
function pathOf(visit: Visit): string {
  const keys: string[] = [];
  for (let at: Visit | null = visit; at !== null && at.parent !== null; at = at.parent) {
    keys.push(at.key.toWellFormed().replaceAll('~', '~0').replaceAll('/', '~1'));
  }
  return keys.reverse().map((key) => `/${key}`).join('');
}
