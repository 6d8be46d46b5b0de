import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { P2pError } from '../common/errors';
import type { OperationDefinition } from '../common/manifest';
import { describeSchemaError } from '../common/describe-schema-error';
import { firstJsonProblem, jsonProblemText } from '../common/json-value';

/**
 * Validates every operation input against the schema declared for it in
 * manifest.json. Nexus validates too, but inputs that reach us through MCP,
 * IPC or another host are not checked by anyone else.
 */
export class InputValidator {
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(operations: readonly OperationDefinition[]) {
    // allErrors off: the first error is enough to act on, and it bounds the
    // work an adversarial input can cause.
    const ajv = new Ajv({ strict: true, allErrors: false, verbose: true });
    for (const operation of operations) {
      this.validators.set(operation.name, ajv.compile(operation.input_schema));
    }
  }

  /** Throws INVALID_INPUT naming the offending field and rule. */
  check(operation: string, input: unknown): void {
    const validate = this.validators.get(operation);
    if (validate === undefined) {
      throw new P2pError('UNKNOWN_OPERATION', `unknown operation "${operation}"`);
    }
    if (validate(input)) {
      checkWellFormed(operation, input);
      return;
    }
    const error = mostRelevantError(validate.errors ?? [], input);
    const reason = error === undefined ? 'does not match its schema' : describeError(error);
    throw new P2pError('INVALID_INPUT', `invalid input for "${operation}": ${reason}`, {
      path: error?.instancePath ?? '',
      rule: error?.keyword ?? 'schema',
    });
  }
}

/**
 * manifest.json's patterns cannot refuse an unpaired surrogate (they must
 * read the same in Rust, whose strings cannot hold one), so every string and
 * key of every input, message content included, is checked here.
 */
function checkWellFormed(operation: string, input: unknown): void {
  const problem = firstJsonProblem(input);
  if (problem === null) return;
  throw new P2pError(
    'INVALID_INPUT',
    `invalid input for "${operation}": ${placeOf(problem.path)} ${jsonProblemText(problem.rule, Number.POSITIVE_INFINITY)}`,
    { path: problem.path, rule: problem.rule },
  );
}

interface Branch {
  required?: string[];
  properties?: Record<string, unknown>;
}

/**
 * For a schema with alternative forms (oneOf), the first error usually comes
 * from a form the caller did not mean. Prefer an error from the form whose
 * required fields the input does have; fall back to naming the forms.
 */
function mostRelevantError(errors: ErrorObject[], input: unknown): ErrorObject | undefined {
  const last = errors[errors.length - 1];
  if (last?.keyword !== 'oneOf') return errors[0];
  // The alternatives may be those of a nested field (send_file's source): look at what the input holds there.
  const value = last.instancePath.split('/').slice(1).reduce<unknown>((node, key) => (typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key.replaceAll('~1', '/').replaceAll('~0', '~')] : undefined), input);
  if (typeof value !== 'object' || value === null) return errors[0];
  const branches = last.schema as Branch[];
  const meant = branches.findIndex((branch) => (branch.required ?? []).every((key) => key in value));
  if (meant === -1) return last;
  const prefix = `${last.schemaPath}/${meant}/`;
  return errors.find((error) => error.schemaPath.startsWith(prefix)) ?? last;
}

/** `/content/0` as `input.content.0`. */
function placeOf(instancePath: string): string {
  return instancePath === '' ? 'input' : `input${instancePath.replaceAll('/', '.')}`;
}

function describeError(error: ErrorObject): string {
  const where = placeOf(error.instancePath);
  if (error.keyword === 'oneOf') {
    return `${where} must take one of these forms: ${(error.schema as Branch[]).map(describeBranch).join(' or ')}`;
  }
  return describeSchemaError(error, where);
}

function describeBranch(branch: Branch): string {
  const required = new Set(branch.required ?? []);
  const fields = Object.keys(branch.properties ?? {}).map((key) => (required.has(key) ? key : `${key}?`));
  return `{${fields.join(', ')}}`;
}
