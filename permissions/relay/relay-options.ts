import { isIPv4 } from 'node:net';
import { P2pError } from '../../extension/common/errors';

/** Every address of the machine: a relay is meant to be reachable from anywhere. */
export const DEFAULT_RELAY_HOST = '0.0.0.0';
/** The UDP port Hyperswarm's own DHT nodes use; the one port an operator opens. */
export const DEFAULT_RELAY_PORT = 49737;

export interface RelayOptions {
  /** IPv4 address to bind (the DHT speaks IPv4). */
  host: string;
  /** UDP port of the relay's DHT node, and so of every relayed stream. */
  port: number;
  /** DHT nodes to join through, `host:port`; null = hyperdht's public bootstrap nodes. */
  bootstrap: string[] | null;
}

export interface RelayArguments {
  host?: string | undefined;
  port?: string | undefined;
  bootstrap?: string | undefined;
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** The relay command's options, checked; throws INVALID_INPUT with what to type instead. */
export function parseRelayOptions(args: RelayArguments): RelayOptions {
  const host = args.host ?? DEFAULT_RELAY_HOST;
  if (!isIPv4(host)) throw invalid(`--host must be an IPv4 address such as 0.0.0.0 or 203.0.113.7, got ${JSON.stringify(host)}`);
  const port = args.port === undefined ? DEFAULT_RELAY_PORT : parsePort(args.port);
  if (port === undefined) throw invalid(`--port must be a UDP port, 1-65535, got ${JSON.stringify(args.port)}`);
  return { host, port, bootstrap: args.bootstrap === undefined ? null : parseBootstrap(args.bootstrap) };
}

/** The bootstrap nodes as a person reads them, for logs and errors. */
export function describeBootstrap(bootstrap: RelayOptions['bootstrap']): string {
  return bootstrap === null ? 'the public Hyperswarm bootstrap nodes' : bootstrap.join(', ');
}

/**
 * An empty list would leave the relay alone on a DHT of its own, which
 * nobody could find it on: leaving the option out is how to get the
 * public bootstrap nodes.
 */
function parseBootstrap(list: string): string[] {
  if (list.trim() === '') {
    throw invalid('--bootstrap needs at least one HOST:PORT; leave the option out to join through the public Hyperswarm bootstrap nodes');
  }
  return list.split(',').map((entry) => {
    const node = entry.trim();
    const separator = node.lastIndexOf(':');
    const host = node.slice(0, separator);
    const port = parsePort(node.slice(separator + 1));
    if (separator < 1 || port === undefined || !(isIPv4(host) || HOSTNAME.test(host))) {
      throw invalid(`--bootstrap takes HOST:PORT,... (an IPv4 address or host name, and a port 1-65535), got ${JSON.stringify(node)}`);
    }
    return `${host}:${port}`;
  });
}

function parsePort(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

function invalid(message: string): P2pError {
  return new P2pError('INVALID_INPUT', message);
}
