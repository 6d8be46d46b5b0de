import Ajv from 'ajv';
import { readFileIfExists } from '../../extension/storage/atomic-file';
import { describeSchemaError } from '../../extension/schema/describe-error';
import { permissionName, type PermissionName, type PluginDeclaration } from '../gate/types';

/**
 * A plugin is registered with the reference host from a `plugin.json`-style
 * declaration:
 *
 *   {"id": "agent-a", "secret": "<16-256 printable ASCII>",
 *    "extensions": {"p2p-comm": ["send", "receive"]}}
 *
 * Every listed operation becomes a permission `ext:<extension>:<operation>`.
 * The format is closed: an unknown field is far more likely a typo (say
 * "extension") than something to ignore, and ignoring it would leave the
 * plugin with fewer permissions than its author believes.
 */
const DECLARATION_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string', pattern: '^[a-z0-9._-]{1,100}$' },
    // Printable ASCII only, so the secret survives every shell, header and file encoding unchanged.
    secret: { type: 'string', minLength: 16, maxLength: 256, pattern: '^[\\x20-\\x7e]*$' },
    extensions: {
      type: 'object',
      // The extension ids Nexus accepts in a manifest.
      propertyNames: { pattern: '^[a-z0-9_-]{1,100}$' },
      additionalProperties: {
        type: 'array',
        uniqueItems: true,
        items: { type: 'string', pattern: '^[a-z0-9_]{1,100}$' },
      },
    },
  },
  required: ['id', 'secret', 'extensions'],
  additionalProperties: false,
};

// allErrors off: the first problem is what the message names.
const validateDeclaration = new Ajv({ strict: true, allErrors: false }).compile<PluginDeclaration>(DECLARATION_SCHEMA);

/** Reads and checks one declaration; throws an Error naming the file and the offending field. */
export function loadPluginDeclaration(path: string): PluginDeclaration {
  const content = readFileIfExists(path);
  if (content === undefined) throw new Error(`plugin declaration ${path} does not exist`);
  let value: unknown;
  try {
    value = JSON.parse(content.toString('utf8'));
  } catch {
    throw new Error(`plugin declaration ${path} is not valid JSON`);
  }
  if (!validateDeclaration(value)) {
    const error = validateDeclaration.errors?.[0];
    const problem =
      error === undefined
        ? 'it does not match the declaration format'
        : describeSchemaError(error, error.instancePath === '' ? 'the declaration' : `field ${error.instancePath}`);
    throw new Error(`plugin declaration ${path} is invalid: ${problem}`);
  }
  return value;
}

/** `ext:<extension>:<operation>` for every operation the plugin declares, in declaration order. */
export function declaredPermissions(declaration: PluginDeclaration): PermissionName[] {
  return Object.entries(declaration.extensions).flatMap(([extension, operations]) =>
    operations.map((operation) => permissionName(extension, operation)),
  );
}
