import t from 'tap';
import { DEFAULT_STDIO_LIMITS, resolveDataDir, stdioLimitsFromEnv } from '../extension/config';

t.test('defaults apply without environment overrides', async (t) => {
  t.same(stdioLimitsFromEnv({}), DEFAULT_STDIO_LIMITS);
});

t.test('overrides are read and checked', async (t) => {
  t.equal(stdioLimitsFromEnv({ P2P_COMM_MAX_LINE_BYTES: '4096' }).maxLineBytes, 4096);
  t.throws(() => stdioLimitsFromEnv({ P2P_COMM_MAX_LINE_BYTES: '4k' }), /P2P_COMM_MAX_LINE_BYTES must be a whole number from 1 to \d+, got "4k"/);
  t.throws(() => stdioLimitsFromEnv({ P2P_COMM_SHUTDOWN_DEADLINE_MS: '0' }), /whole number from 1/);
});

t.test('data_dir must be absolute', async (t) => {
  t.equal(resolveDataDir('/var/lib/x'), '/var/lib/x');
  t.throws(() => resolveDataDir('x'), /absolute path/);
  t.match(resolveDataDir(undefined), /\.nexus\/p2p-comm$/);
});
