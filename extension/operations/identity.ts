import { printPairingLink } from '../common/pairing-link';
import { peerIdFromPublicKey } from '../common/peer-id';
import { encodeKeyChain } from '../wire/key-rotation';
import type { DhtMode } from '../config';
import type { OperationHandler } from './context';
import { ownRotationFacts } from './rotation';

export const identity: OperationHandler = async (input, node) => {
  const addresses = node.network.addresses();
  const dhtBinding = node.network.dht.advertisedBinding();
  const ttl = input['link_ttl_seconds'] as number | undefined;
  const link =
    addresses.length === 0 && dhtBinding === null
      ? null
      : printPairingLink({
          peerId: node.identity.peerId,
          addresses,
          displayName: node.profile.displayName,
          dhtBinding,
          expiresAt: ttl === undefined ? null : new Date(Date.now() + ttl * 1000),
          // Once rotated, the link names the key this node signs with and the chain that certifies it.
          ...(node.identity.keyChain.length === 0 ? {} : { rotation: { key: node.identity.publicKey, chain: encodeKeyChain(node.identity.keyChain) } }),
        });
  return {
    data: {
      peer_id: node.identity.peerId,
      fingerprint: node.identity.fingerprint,
      // The key this node signs with now, which a rotation moves away from the one peer_id names: safety numbers are computed from it.
      key: peerIdFromPublicKey(node.identity.publicKey),
      display_name: node.profile.displayName,
      addresses,
      dht: dhtNotice(node.networkConfig.dht.mode),
      link,
      ...ownRotationFacts(node),
    },
    message: link === null ? 'this node is not listening, so it has no pairing link; see status.listening.error' : null,
  };
};

/** What the DHT setting means for the person's privacy, and how to change it. */
export function dhtNotice(mode: DhtMode): string {
  switch (mode) {
    case 'on':
      return DHT_ON_NOTICE;
    case 'connect':
      return 'DHT: dial out only (P2P_COMM_DHT=connect): this node can reach peers beyond the LAN but does not announce itself, so peers beyond the LAN cannot reach it';
    case 'off':
      return 'DHT: off (P2P_COMM_DHT=off): only peers on this network, or at an address you give them, can reach this node';
  }
}

export const DHT_ON_NOTICE =
  'DHT: on. This node announces itself on the Hyperswarm DHT so that peers beyond the LAN can reach it: DHT nodes learn its IP address, ' +
  'and anyone who ever had its pairing link can look up its current address while it runs. ' +
  'Set P2P_COMM_DHT=connect to only dial out, or P2P_COMM_DHT=off (docs/reach.md)';

export const setDisplayName: OperationHandler = async (input, node) => {
  const displayName = node.profile.setDisplayName(input['display_name'] as string);
  node.discovery.readvertise();
  return { data: { display_name: displayName }, message: 'peers see the new name the next time they connect' };
};
