import { join } from 'node:path';

/**
 * The single-file executable Nexus would install on this machine (Linux
 * x64), as `npm test` builds it before the tests run: Node 24 inside, named
 * `extension` like an installed binary.
 */
export const THIS_MACHINE_EXECUTABLE = join(__dirname, '..', '..', 'dist', 'nexus', 'x86_64-unknown-linux-gnu', 'extension');

/**
 * Runs the test file `path` (relative to test/e2e) against that executable
 * instead of the bundle: test/helpers/extension.ts reads the binary under
 * test from P2P_COMM_TEST_BINARY when it loads, and starts an executable
 * from `/` with no node on its PATH.
 */
export function againstThisMachineExecutable(load: () => unknown): void {
  process.env['P2P_COMM_TEST_BINARY'] = THIS_MACHINE_EXECUTABLE;
  load();
  // Had the helper been loaded before the variable was set, the bundle would have been tested instead.
  const { BINARY } = require('./extension') as { BINARY: string };
  if (BINARY !== THIS_MACHINE_EXECUTABLE) throw new Error(`the tests ran against ${BINARY}, not ${THIS_MACHINE_EXECUTABLE}`);
}
