import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import t from 'tap';

/** Runs the built demo with `args`; its exit code and everything it wrote. */
async function runDemo(args: string[]): Promise<{ code: number | null; output: string }> {
  const demo = spawn(process.execPath, [resolve(__dirname, '..', '..', 'dist', 'p2p-comm-demo'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  demo.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  demo.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const [code] = (await once(demo, 'exit')) as [number | null];
  return { code, output };
}

t.test('npm run demo: two nodes pair with consent and talk both ways, exit 0', async (t) => {
  const { code, output } = await runDemo([]);
  t.equal(code, 0, output);
  t.match(output, /Bob +agent receives: "Hi Bob, can we meet Tuesday at 10\?"/);
  t.match(output, /Alice agent receives: \{"accept":true/);
  t.match(output, /her agent tries to pair on its own: HTTP 403/);
  t.match(output, /Alice and Bob read out the same safety number: [0-9]{5}( [0-9]{5}){13}\n/);
  t.equal((output.match(/is delivered/g) ?? []).length, 2, 'both messages delivered');
});

t.test('npm run demo -- --a2a: the example caller plans meetings with the example agent, the second while Bob is away, exit 0', async (t) => {
  const { code, output } = await runDemo(['--a2a']);
  t.equal(code, 0, output);
  t.match(output, /Alice caller: peer's agent: Meeting planner \(skills: Plan a meeting\)/, "Bob's card, seen by Alice");
  const online = output.slice(0, output.indexOf('stops his node'));
  const offline = output.slice(output.indexOf('stops his node'));
  t.ok(online.length > 0 && offline.length > 0, 'Bob stops his node');
  t.match(online, /task SUBMITTED\n.*task WORKING\n.*task INPUT_REQUIRED: "Which day suits you\?"\n.*answering: "Friday"\n.*task WORKING\n.*task COMPLETED\n.*artifact "plan": Meeting on Friday\./);
  t.notMatch(online, /-32060/, 'no wait while Bob is online');
  t.match(
    offline,
    /caller: -32060 PEER_OFFLINE: request [0-9a-f]{32} is queued here until the peer is reachable; sending the same message \([0-9a-f-]{36}\) again in 1 s\n(.*\n)*.*Bob +starts his node again/,
    'the new request waits at Alice while Bob is away',
  );
  t.match(offline.slice(offline.indexOf('starts his node again')), /task INPUT_REQUIRED: "Which day suits you\?"\n(.*\n)*.*task COMPLETED\n.*artifact "plan": Meeting on Friday\./, 'the same message, sent again, gets the answers');
  t.match(output, /his agent holds 2 tasks from Alice: one per meeting, none twice/);
});
