import { join } from 'node:path';
import { closedObject, StateFileFormat } from '../common/json-state-file';

/**
 * The listening port, chosen by the OS on first start and then kept, so the
 * address a peer stored for us stays valid across restarts.
 * File: `<data_dir>/network.json` = `{"version":1,"listen_port":<1-65535>}`.
 */
export const NETWORK_FILE_NAME = 'network.json';

interface NetworkFile {
  version: 1;
  listen_port: number;
}

const format = new StateFileFormat<NetworkFile>({
  name: 'the network settings',
  movingAwayMeans: 'let p2p-comm choose a new port (peers then need a new pairing link or address)',
  schema: closedObject({
    version: { const: 1 },
    listen_port: { type: 'integer', minimum: 1, maximum: 65535 },
  }),
});

export function readPersistedPort(dataDir: string): number | null {
  return format.load(join(dataDir, NETWORK_FILE_NAME))?.listen_port ?? null;
}

export function persistPort(dataDir: string, port: number): void {
  format.save(join(dataDir, NETWORK_FILE_NAME), { version: 1, listen_port: port });
}
