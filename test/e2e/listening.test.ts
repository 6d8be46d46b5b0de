import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import t from 'tap';
import { eventually, startNode } from '../helpers/node';

t.test('the chosen port is kept across restarts', async (t) => {
  const node = await startNode(t);
  const first = ((await node.call('status'))['listening'] as { port: number }).port;
  await node.extension.shutdown();
  const again = await startNode(t, { dataDir: node.dataDir });
  t.equal(((await again.call('status'))['listening'] as { port: number }).port, first);
});

t.test('a busy port is retried until it frees, never swapped for another', async (t) => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const port = (blocker.address() as AddressInfo).port;
  const node = await startNode(t, { env: { P2P_COMM_LISTEN_PORT: String(port) } });
  const busy = await eventually(async () => {
    const listening = (await node.call('status'))['listening'] as { active: boolean; error: string | null };
    return listening.error === null ? false : listening;
  }, 'the listen error');
  t.match(busy, { active: false, error: /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/ });
  t.equal((await node.call('identity'))['link'], null, 'no pairing link while not listening');
  blocker.close();
  const listening = await eventually(async () => {
    const state = (await node.call('status'))['listening'] as { active: boolean; port: number };
    return state.active ? state : false;
  }, 'the node to listen');
  t.equal(listening.port, port);
});
