import t from 'tap';
import { EventOutbox } from '../../extension/events/outbox';

t.test('keeps events in order and drops the oldest beyond capacity', async (t) => {
  const outbox = new EventOutbox(2);
  for (const n of [1, 2, 3]) outbox.enqueue({ type: 'p2p.test', data: { n } });
  t.same(outbox.takeAll().map((e) => e.data['n']), [2, 3]);
  t.same(outbox.takeAll(), []);
  outbox.recordPublished();
  outbox.recordFailed();
  t.same(outbox.stats(), { queued: 0, published: 1, dropped: 1, failed: 1 });
});
