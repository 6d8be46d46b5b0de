#!/usr/bin/env node
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import manifest from '../manifest.json';
import { ExtensionProcess, type RpcResponse } from './host/extension-process';

/**
 * `npm start`: runs your p2p-comm node under the reference host, the way
 * Nexus would run it, prints what it reports and keeps it running until
 * Ctrl-C, then shuts it down as Nexus does.
 */
const USAGE = `usage: p2p-comm-host [--data-dir DIR]

  --data-dir DIR   where the node keeps its state (default ~/.nexus/p2p-comm)`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'data-dir': { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const dataDir = values['data-dir'] ?? join(homedir(), '.nexus', 'p2p-comm');
  const { extension } = await ExtensionProcess.start({
    binary: join(__dirname, 'p2p-comm'),
    extensionId: manifest.id,
    version: manifest.version,
    dataDir,
    onRequest: (method, params) => {
      if (method !== 'event.publish') throw new Error(`Unknown IPC method: ${method}`);
      process.stdout.write(`event: ${JSON.stringify(params)}\n`);
      return { event_id: `local-${Date.now()}` };
    },
    onStderrLine: (line) => process.stderr.write(`[p2p-comm] ${line}\n`),
  });
  process.stdout.write(`p2p-comm ${manifest.version} is running (data in ${dataDir}, pid ${extension.pid ?? '?'})\n`);
  for (const operation of ['identity', 'status']) {
    process.stdout.write(`\n${operation}:\n${describe(await extension.execute(operation, {}))}\n`);
  }
  process.stdout.write('\nPress Ctrl-C to stop.\n');

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const report = await extension.shutdown();
    process.stdout.write(`\nstopped (exit code ${String(report.code)}${report.exitedWithinGrace ? '' : ', killed after the grace period'})\n`);
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  const exit = await extension.exited;
  if (stopping) return;
  process.stderr.write(`p2p-comm exited unexpectedly (code ${String(exit.code)}, signal ${String(exit.signal)})\n`);
  process.exit(1);
}

function describe(response: RpcResponse): string {
  if (response.error !== undefined) return `  error ${response.error.code}: ${response.error.message}`;
  const result = response.result as { data: unknown; message: string | null };
  const message = result.message === null ? '' : `  note: ${result.message}\n`;
  return `${message}${JSON.stringify(result.data, null, 2).replace(/^/gm, '  ')}`;
}

main().catch((error: unknown) => {
  process.stderr.write(`p2p-comm-host: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
