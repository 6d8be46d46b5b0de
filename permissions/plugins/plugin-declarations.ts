import Ajv from 'ajv';
import { readConfigFile } from '../json-config-file';
import type { PluginDeclaration } from '../gate/types';

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
/** A plugin id; also its file name in the host's plugins directory, so no `/` can ever be part of one. */
export const PLUGIN_ID_PATTERN = /^[a-z0-9._-]{1,100}$/;

const DECLARATION_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string', pattern: PLUGIN_ID_PATTERN.source },
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
  const value = readConfigFile(path, 'plugin declaration', validateDeclaration);
  return value;
}
