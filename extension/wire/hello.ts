import { decodeBase64urlExact, encodeBase64url } from '../common/base64url';
import { DHT_KEY_BINDING_BYTES } from './dht-key-binding';

/**
 * What each side says about itself once a session is open: UTF-8 JSON
 * `{"protocol_version":1,"agent":"…","capabilities":["text","json"],"software":"p2p-comm/x.y.z"[,"dht":"<base64url>"]}`,
 * at most 4 KiB. `dht` is the node's DHT key binding (dht-key-binding.ts),
 * present when the node can be reached through the DHT. Unknown fields are
 * ignored (a newer peer may add some); known ones are checked, and a hello
 * that fails is dropped and counted.
 */
export const MAX_HELLO_BYTES = 4096;
const CAPABILITY = /^[a-z0-9_.-]{1,32}$/;
const SOFTWARE = /^[\x20-\x7e]{1,64}$/;
const MAX_CAPABILITIES = 32;

export interface Hello {
  protocolVersion: number;
  agent: string;
  capabilities: string[];
  software: string;
  /** The node's signed DHT key; null when it cannot be reached through the DHT. */
  dhtBinding: Uint8Array | null;
}


export function encodeHello(hello: Hello): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      protocol_version: hello.protocolVersion,
      agent: hello.agent,
      capabilities: hello.capabilities,
      software: hello.software,
      ...(hello.dhtBinding === null ? {} : { dht: encodeBase64url(hello.dhtBinding) }),
    }),
    'utf8',
  );
}

/** Null when the hello is not one this version can show; `validAgent` applies the display-name rules. */
export function decodeHello(bytes: Uint8Array, validAgent: (name: string) => boolean): Hello | null {
  if (bytes.length > MAX_HELLO_BYTES) return null;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { protocol_version, agent, capabilities, software, dht } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(protocol_version) || (protocol_version as number) < 1) return null;
  if (typeof agent !== 'string' || !validAgent(agent)) return null;
  if (typeof software !== 'string' || !SOFTWARE.test(software)) return null;
  if (!Array.isArray(capabilities) || capabilities.length > MAX_CAPABILITIES) return null;
  if (!capabilities.every((c): c is string => typeof c === 'string' && CAPABILITY.test(c))) return null;
  if (dht !== undefined && typeof dht !== 'string') return null;
  const dhtBinding = dht === undefined ? null : decodeBase64urlExact(dht, DHT_KEY_BINDING_BYTES);
  if (dht !== undefined && dhtBinding === null) return null;
  return { protocolVersion: protocol_version as number, agent, capabilities, software, dhtBinding };
}
