import t from 'tap';
import { logLevelFromEnv, StderrLogger } from '../extension/log';

t.test('holds lines until released, then writes them in order', async (t) => {
  const out: string[] = [];
  const logger = new StderrLogger((line) => out.push(line));
  logger.info('one');
  logger.warn('two');
  t.same(out, []);
  logger.release();
  t.equal(out.length, 2);
  t.match(out[0], / info one\n$/);
  logger.error('three');
  t.match(out[2], / error three\n$/);
});

t.test('the held lines are bounded and the loss reported', async (t) => {
  const out: string[] = [];
  const logger = new StderrLogger((line) => out.push(line));
  for (let i = 0; i < 250; i += 1) logger.info(`line ${i}`);
  logger.release();
  t.equal(out.length, 201);
  t.match(out[200], /50 log lines written before initialize were dropped/);
});

t.test('one record per line and a level filter', async (t) => {
  const out: string[] = [];
  const logger = new StderrLogger((line) => out.push(line), 'warn');
  logger.release();
  logger.info('hidden');
  logger.warn('a\nforged line');
  t.equal(out.length, 1);
  t.match(out[0], /warn a forged line\n$/);
});

t.test('log level from the environment', async (t) => {
  t.equal(logLevelFromEnv({}), 'info');
  t.equal(logLevelFromEnv({ P2P_COMM_LOG_LEVEL: 'debug' }), 'debug');
  t.throws(() => logLevelFromEnv({ P2P_COMM_LOG_LEVEL: 'loud' }), /must be one of/);
});
