import { DEFAULT_MESSAGING_CONFIG, type MessagingConfig } from '../../extension/config';
import { isValidDisplayName } from '../../extension/common/display-name';
import { EventOutbox } from '../../extension/events/outbox';
import type { Logger } from '../../extension/log';
import { Messenger, type MessengerDeps } from '../../extension/messaging/messenger';
import { PROTOCOL_VERSION } from '../../extension/wire/handshake';

export const quietLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * A Messenger on the stores and network a test gives it, with what the
 * tests do not vary filled in: a small event outbox (unless given), a
 * quiet logger, the default config with `config` over it, and a hello
 * naming `agent`.
 */
export function testMessenger(
  deps: Pick<MessengerDeps, 'identity' | 'trust' | 'network' | 'outbox' | 'inbox'> & { events?: EventOutbox },
  agent: string,
  config: Partial<MessagingConfig> = {},
): Messenger {
  return new Messenger({
    ...deps,
    events: deps.events ?? new EventOutbox({ maxQueued: 100, maxQueuedSecurity: 10, tallyIntervalMs: 1000 }),
    logger: quietLogger,
    config: { ...DEFAULT_MESSAGING_CONFIG, ...config },
    hello: () => ({ protocolVersion: PROTOCOL_VERSION, agent, capabilities: ['text'], software: 'p2p-comm/test', dhtBinding: null }),
    validAgentName: isValidDisplayName,
  });
}
