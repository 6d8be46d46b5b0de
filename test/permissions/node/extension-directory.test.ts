import t from 'tap';
import { peerIdFromPublicKey } from '../../../extension/common/peer-id';
import { safetyNumber } from '../../../extension/common/safety-number';
import { ed25519FromSeed } from '../../../extension/wire/primitives';
import { extensionDirectory } from '../../../permissions/node/running-node';

/**
 * The host's dialogs show the safety number two people compare: it must be
 * the one the extension, and the other person, compute from both current
 * keys, also for a peer not paired yet and after either side rotated.
 */

const keyOf = (fill: number) => ed25519FromSeed(new Uint8Array(32).fill(fill)).publicKey;
const OWN_ROOT = keyOf(1);
const OWN_CURRENT = keyOf(2);
const PEER_ROOT = keyOf(3);
const PEER_CURRENT = keyOf(4);
const PEER = peerIdFromPublicKey(PEER_ROOT);

function directoryOver(identity: Record<string, unknown>, peers: Record<string, unknown>[] = []) {
  const answers: Record<string, Record<string, unknown>> = { identity, peers: { peers } };
  const supervisor = {
    execute: async (operation: string) => ({ jsonrpc: '2.0' as const, id: 1, result: { data: answers[operation] } }),
  };
  return extensionDirectory(supervisor as never, '/nonexistent');
}

t.test('an unpaired peer: from this node’s current key and the key the link names, never from the first keys', async (t) => {
  const rotated = directoryOver({ peer_id: peerIdFromPublicKey(OWN_ROOT), key: peerIdFromPublicKey(OWN_CURRENT) });
  t.equal(await rotated.safetyNumber(PEER, PEER_CURRENT), safetyNumber(OWN_CURRENT, PEER_CURRENT), 'both rotated');
  t.equal(await rotated.safetyNumber(PEER), safetyNumber(OWN_CURRENT, PEER_ROOT), 'a link without key=: the key its id names');
  t.not(await rotated.safetyNumber(PEER, PEER_CURRENT), safetyNumber(OWN_ROOT, PEER_ROOT));

  const older = directoryOver({ peer_id: peerIdFromPublicKey(OWN_ROOT) });
  t.equal(await older.safetyNumber(PEER, PEER_CURRENT), null, 'an extension that does not report its current key: unknown');
});

t.test('a paired peer: the number the extension lists', async (t) => {
  const paired = directoryOver({ peer_id: peerIdFromPublicKey(OWN_ROOT), key: peerIdFromPublicKey(OWN_CURRENT) }, [{ peer: PEER, safety_number: '11111 22222' }]);
  t.equal(await paired.safetyNumber(PEER, PEER_CURRENT), '11111 22222');
});
