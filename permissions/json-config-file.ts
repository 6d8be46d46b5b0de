import type { ValidateFunction } from 'ajv';
import { readFileIfExists } from '../extension/common/atomic-file';
import { describeSchemaError } from '../extension/common/describe-schema-error';

/**
 * Reads a JSON file a person wrote (a policy, a plugin declaration) and
 * checks it against its schema; the error names the file and the first
 * problem, e.g. `policy file /x.json is invalid: field /rules/0 has an unexpected field "ansewr"`.
 */
export function readConfigFile<T>(path: string, label: string, validate: ValidateFunction<T>): T {
  const content = readFileIfExists(path);
  if (content === undefined) throw new Error(`${label} ${path} does not exist`);
  let value: unknown;
  try {
    value = JSON.parse(content.toString('utf8'));
  } catch {
    throw new Error(`${label} ${path} is not valid JSON`);
  }
  if (!validate(value)) {
    const error = validate.errors?.[0];
    const problem =
      error === undefined
        ? `it does not match the ${label} format`
        : describeSchemaError(error, error.instancePath === '' ? `the ${label}` : `field ${error.instancePath}`);
    throw new Error(`${label} ${path} is invalid: ${problem}`);
  }
  return value;
}
