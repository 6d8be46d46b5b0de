import { randomBytes } from 'node:crypto';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { extendKeyChain, type RotationSigner, type RotationStatement } from '../../extension/wire/key-rotation';
import { identityFromSeed } from './fixed-identity';

/** A node that rotated its key: its keys, root first, and its chain after each rotation (chains[0] is empty). */
export interface RotatedKeys {
  peerId: string;
  keys: RotationSigner[];
  chains: RotationStatement[][];
}

export function newSigner(): RotationSigner {
  return identityFromSeed(randomBytes(32));
}

/** `rotations` rotations, made at `time` + 1 ms each; a fork of another node's chain when `from` is given. */
export function rotatedKeys(rotations: number, time = Date.parse('2026-01-01T00:00:00Z'), from?: RotatedKeys, forkAt = 0): RotatedKeys {
  const keys = from === undefined ? [newSigner()] : from.keys.slice(0, forkAt + 1);
  const chains = from === undefined ? [[]] : from.chains.slice(0, forkAt + 1);
  for (let i = chains.length - 1; i < rotations; i += 1) {
    const next = newSigner();
    chains.push(extendKeyChain(chains[i] as RotationStatement[], keys[i] as RotationSigner, next, time + i));
    keys.push(next);
  }
  return { peerId: peerIdFromPublicKey((keys[0] as RotationSigner).publicKey), keys, chains };
}
