import Ajv from 'ajv';
import { readConfigFile } from '../json-config-file';
import type { PluginDeclaration } from '../gate/types';

/**
 * A plugin is registered with the reference host from a `plugin.json`-style
 * declaration:
 *
 *   {"id": "agent-a", "secret": "<16-256 printable ASCII>",
 *    "extensions": {"p2p-comm": ["send", "receive"]},
 *    "a2a": {"url": "http://127.0.0.1:41241/"}}
 *
 * `a2a` is optional: the A2A agent this plugin serves on this machine, which
 * the host publishes to paired peers and forwards their requests to
 * (docs/a2a.md "Serving your agent").
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
    a2a: {
      type: 'object',
      properties: { url: { type: 'string', minLength: 1, maxLength: 2048 } },
      required: ['url'],
      additionalProperties: false,
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
  if (value.a2a !== undefined) checkAgentUrl(path, value.a2a.url);
  return value;
}

/**
 * Whether `url` is an http URL on this machine's loopback interface, as an
 * address: 127.0.0.0/8 or [::1]. A name (even `localhost`) is resolved
 * through the hosts file and NSS, which a change could point off the machine.
 */
export function isLoopbackHttpUrl(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const parsed = new URL(url);
  return parsed.protocol === 'http:' && isLoopbackAddress(parsed.hostname) && parsed.username === '' && parsed.password === '';
}

/**
 * The loopback URL to connect to for `url`, or undefined when it is not on
 * this machine: a loopback address as it is, and `localhost` (which A2A's
 * own samples write) as 127.0.0.1 with the same port and path, so the name
 * is never resolved and a changed hosts file cannot send requests off the
 * machine.
 */
export function loopbackAddressUrl(url: string): string | undefined {
  if (isLoopbackHttpUrl(url)) return url;
  if (!URL.canParse(url)) return undefined;
  const parsed = new URL(url);
  if (parsed.hostname !== 'localhost') return undefined;
  parsed.hostname = '127.0.0.1';
  return isLoopbackHttpUrl(parsed.href) ? parsed.href : undefined;
}

/** The WHATWG URL parser has already normalized IPv4 (127.1 is 127.0.0.1) and IPv6 ([0::1] is [::1]). */
function isLoopbackAddress(hostname: string): boolean {
  return hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * The host hands the agent its peers' requests, signed with the plugin's
 * secret: sent anywhere but this machine, they would leave it in plain
 * text, so only a loopback http URL is taken. It ends with "/": the card
 * is read at <url>.well-known/agent-card.json, and a URL without it would
 * lose its last segment there.
 */
function checkAgentUrl(path: string, url: string): void {
  if (loopbackAddressUrl(url) === undefined) {
    throw new Error(
      `plugin declaration ${path}: a2a.url ${JSON.stringify(url)} is not on this machine; the host forwards A2A requests only to loopback, http://127.x.x.x, http://[::1] or http://localhost (with any port; localhost is taken as 127.0.0.1)`,
    );
  }
  if (!new URL(url).pathname.endsWith('/')) {
    throw new Error(`plugin declaration ${path}: a2a.url ${JSON.stringify(url)} must end with "/" (the card is read at <url>.well-known/agent-card.json); write ${JSON.stringify(`${url}/`)}`);
  }
}
