import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import t from 'tap';

t.test('npm run demo: two nodes pair with consent and talk both ways, exit 0', async (t) => {
  const demo = spawn(process.execPath, [resolve(__dirname, '..', '..', 'dist', 'p2p-comm-demo')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  demo.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  demo.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const [code] = await once(demo, 'exit');
  t.equal(code, 0, output);
  t.match(output, /Bob +agent receives: "Hi Bob, can we meet Tuesday at 10\?"/);
  t.match(output, /Alice agent receives: \{"accept":true/);
  t.match(output, /her agent tries to pair on its own: HTTP 403/);
  t.match(output, /Alice and Bob read out the same safety number: [0-9]{5}( [0-9]{5}){13}\n/);
  t.equal((output.match(/is delivered/g) ?? []).length, 2, 'both messages delivered');
});
