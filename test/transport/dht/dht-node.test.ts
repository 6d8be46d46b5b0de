import t from 'tap';
import { failureOf } from '../../../extension/transport/dht/dht-node';

t.test('a failed DHT connection is read for what to do next', async (t) => {
  t.equal(failureOf('HOLEPUNCH_DOUBLE_RANDOMIZED_NATS', false), 'holepunch_failed', 'both NATs change ports: a relay is needed, whatever ours does');
  for (const code of ['HOLEPUNCH_ABORTED', 'HOLEPUNCH_PROBE_TIMEOUT', 'CANNOT_HOLEPUNCH', 'REMOTE_NOT_HOLEPUNCHABLE', 'REMOTE_NOT_HOLEPUNCHING']) {
    t.equal(failureOf(code, true), 'holepunch_failed', `${code} from behind a NAT that changes ports: a relay is needed`);
    // hyperdht also aborts a punch it only postponed (one random-port punch per 20 s): from a NAT that keeps its ports, retry.
    t.equal(failureOf(code, false), 'holepunch_aborted', `${code} from behind a NAT that keeps its ports: worth retrying`);
  }
  t.equal(failureOf('PEER_NOT_FOUND', true), 'peer_not_found', 'nobody announces under that key: no relay can help');
  t.equal(failureOf('RELAY_ABORTED', false), 'relay_failed');
  for (const code of ['PEER_CONNECTION_FAILED', 'SERVER_ERROR', undefined]) t.equal(failureOf(code, false), 'unreachable', String(code));
});
