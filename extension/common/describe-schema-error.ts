import type { ErrorObject } from 'ajv';
import { quoteUntrusted } from './quote-text';

/**
 * One sentence for the first schema error ajv reports, naming the place
 * (`where`, in the caller's notation) and the rule in words a user can act on.
 */
export function describeSchemaError(error: ErrorObject, where: string): string {
  const params = error.params as Record<string, unknown>;
  if (error.propertyName !== undefined) {
    return `${where} has a key ${quoteUntrusted(error.propertyName)} that ${error.message ?? 'is invalid'}`;
  }
  switch (error.keyword) {
    case 'additionalProperties':
      return `${where} has an unexpected field "${String(params['additionalProperty'])}"`;
    case 'required':
      return `${where} is missing the required field "${String(params['missingProperty'])}"`;
    case 'const':
      return `${where} must be ${JSON.stringify(params['allowedValue'])}`;
    case 'enum':
      return `${where} must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      return `${where} is not in the expected format (pattern ${String(params['pattern'])})`;
    default:
      return `${where} ${error.message ?? 'is invalid'}`;
  }
}
