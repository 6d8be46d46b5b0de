/**
 * The one line the relay command writes to stdout once it can relay: what
 * peers need (the public key, for P2P_COMM_RELAYS) and which UDP port to
 * open. `--json` gives the same as one JSON object, for scripts.
 */
export interface RelayAddress {
  publicKey: Uint8Array;
  host: string;
  port: number;
}

export function relayReadyLine({ publicKey, host, port }: RelayAddress, json: boolean): string {
  const key = Buffer.from(publicKey).toString('hex');
  return json ? JSON.stringify({ public_key: key, host, port }) : `relay listening: public key ${key}, UDP ${host}:${port}`;
}
