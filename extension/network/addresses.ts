import { networkInterfaces } from 'node:os';

/** `host:port`, with IPv6 in brackets and IPv4-mapped IPv6 written as plain IPv4. */
export function formatAddress(host: string, port: number): string {
  const plain = host.startsWith('::ffff:') && host.includes('.') ? host.slice('::ffff:'.length) : host;
  return plain.includes(':') ? `[${plain}]:${port}` : `${plain}:${port}`;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/**
 * The addresses to put in a pairing link: the advertised host if one is
 * configured, the listening host if it is a specific one, otherwise this
 * machine's non-loopback IPv4 addresses (loopback only when there is none).
 */
export function advertisedAddresses(listenHost: string, port: number, advertiseHost: string | null): string[] {
  if (advertiseHost !== null) return [formatAddress(advertiseHost, port)];
  if (!WILDCARDS.has(listenHost)) return [formatAddress(listenHost, port)];
  const found: string[] = [];
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.family === 'IPv4' && !entry.internal) found.push(formatAddress(entry.address, port));
    }
  }
  return found.length > 0 ? found : [formatAddress('127.0.0.1', port)];
}
