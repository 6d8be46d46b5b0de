#!/usr/bin/env node
import { P2pCommApp } from './app';
import { a2aConfigFromEnv, discoveryConfigFromEnv, eventOutboxLimits, filesConfigFromEnv, groupsConfigFromEnv, messagingConfigFromEnv, networkConfigFromEnv, stdioLimitsFromEnv } from './config';
import { EventOutbox } from './events/outbox';
import { HostSession } from './host/session';
import { logLevelFromEnv, StderrLogger } from './log';
import { RefusalCounters } from './metrics/refusals';

/**
 * Entry point of the binary the host spawns with no arguments. stdout
 * carries JSON-RPC only: anything a dependency prints through console goes
 * to the stderr log instead.
 */
function main(): void {
  let limits;
  let networkConfig;
  let messagingConfig;
  let discoveryConfig;
  let a2aConfig;
  let filesConfig;
  let groupsConfig;
  let logger: StderrLogger;
  try {
    limits = stdioLimitsFromEnv(process.env);
    networkConfig = networkConfigFromEnv(process.env);
    messagingConfig = messagingConfigFromEnv(process.env);
    discoveryConfig = discoveryConfigFromEnv(process.env);
    a2aConfig = a2aConfigFromEnv(process.env);
    filesConfig = filesConfigFromEnv(process.env);
    groupsConfig = groupsConfigFromEnv(process.env);
    logger = new StderrLogger(undefined, logLevelFromEnv(process.env));
  } catch (error) {
    process.stderr.write(`p2p-comm: invalid configuration: ${(error as Error).message}\n`);
    process.exit(78);
  }
  const toLog = (...args: unknown[]): void => logger.info(args.map(String).join(' '));
  console.log = toLog;
  console.info = toLog;
  console.debug = toLog;
  console.warn = toLog;

  process.on('uncaughtException', (error) => {
    logger.release();
    logger.error(`fatal: ${error.stack ?? error.message}`);
    process.exit(70);
  });

  const outbox = new EventOutbox(eventOutboxLimits(limits));
  const refusals = new RefusalCounters();
  const app = new P2pCommApp({ logger, outbox, refusals, networkConfig, messagingConfig, discoveryConfig, a2aConfig, filesConfig, groupsConfig });
  // A fatal error or the shutdown deadline exits without close: the lock still goes (kill -9 leaves a stale one, taken over at the next start).
  process.on('exit', () => app.releaseDataDir());
  const session = new HostSession({
    input: process.stdin,
    output: process.stdout,
    app,
    outbox,
    refusals,
    logger,
    limits,
    exit: (code) => process.exit(code),
  });
  session.start();
  // Under a terminal, Ctrl-C reaches the whole process group: stop as cleanly as for shutdown.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => session.stopWhenDrained(`received ${signal}`));
  }
}

main();
