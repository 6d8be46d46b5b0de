import t from 'tap';
import { TeardownList } from './teardown';

t.test('steps run last registered first, each once, awaited one after another', async (t) => {
  const list = new TeardownList();
  const order: string[] = [];
  list.teardown(() => order.push('namespaces'));
  list.teardown(async () => {
    await new Promise((resolve) => setImmediate(resolve));
    order.push('processes');
  });
  list.teardown(() => order.push('node'));
  await list.run();
  t.same(order, ['node', 'processes', 'namespaces']);
  await list.run();
  t.same(order, ['node', 'processes', 'namespaces'], 'a second run has nothing left to do');
});

t.test('a failing step stops none of the others, and the run rejects with the first failure', async (t) => {
  const list = new TeardownList();
  const done: string[] = [];
  list.teardown(() => done.push('first'));
  list.teardown(() => {
    throw new Error('second failed');
  });
  list.teardown(() => Promise.reject(new Error('third failed')));
  await t.rejects(list.run(), { message: 'third failed' });
  t.same(done, ['first'], 'the step registered first still ran');
});
