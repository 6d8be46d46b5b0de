import { once } from 'node:events';
import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { AnswerStream, type IntervalTimer } from '../../../permissions/a2a/answer-stream';
import { eventually } from '../../helpers/node';

/** Keepalive ticks the test fires itself. */
class ManualIntervals implements IntervalTimer {
  tick: (() => void) | undefined;
  start(_every: number, tick: () => void): () => void {
    this.tick = tick;
    return () => (this.tick = undefined);
  }
}

const EVENTS = 64;
const EVENT_CHARS = 1024 * 1024;

t.test('a client that does not read holds the writer: answers are read no faster than it takes them', async (t) => {
  const intervals = new ManualIntervals();
  const writer = { reads: 0, waiting: false, done: false, response: undefined as ServerResponse | undefined };
  const server = createServer((_request, response) => {
    writer.response = response;
    const stream = new AnswerStream(response, 1, 15_000, intervals);
    stream.open();
    void (async () => {
      // As the calling side does: read an answer from the extension, then write it.
      for (let seq = 0; seq < EVENTS; seq += 1) {
        writer.reads += 1;
        writer.waiting = true;
        await stream.event({ seq, text: 'x'.repeat(EVENT_CHARS) });
        writer.waiting = false;
      }
      stream.close();
      writer.done = true;
    })();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;

  // Takes the headers, then never reads the body.
  const client = httpRequest({ host: '127.0.0.1', port, path: '/' });
  client.end();
  const [incoming] = (await once(client, 'response')) as [import('node:http').IncomingMessage];
  incoming.pause();

  await eventually(async () => writer.waiting && writer.response?.writableNeedDrain === true, 'the writer waiting for the client');
  t.ok(writer.reads < EVENTS, `stopped after ${writer.reads} of ${EVENTS} answers of 1 MiB`);
  const buffered = writer.response!.writableLength;
  intervals.tick?.();
  t.equal(writer.response!.writableLength, buffered, 'no keepalive queued behind a full buffer');

  incoming.destroy();
  client.destroy();
  await eventually(async () => writer.done, 'the writer let go once the client left');
  t.equal(intervals.tick, undefined, 'the keepalive stopped');
});
