import type { PeerAgentOptions } from './peer-agent-routes';

/**
 * The waits of the peers' local A2A agents as a person sets them for
 * `p2p-comm-host start`, from the environment (docs/reference-host.md).
 * A value that is not a whole number of seconds in range is refused with
 * the variable's name, rather than silently replaced by the default.
 */

export const A2A_WAIT_VARIABLE = 'P2P_COMM_HOST_A2A_WAIT_SECONDS';
export const A2A_STREAM_IDLE_VARIABLE = 'P2P_COMM_HOST_A2A_STREAM_IDLE_SECONDS';

/** fetch (undici) gives up on response headers after 300 s: a blocking call must be answered, -32060 at worst, before that. */
const MAX_WAIT_SECONDS = 290;
const MAX_STREAM_IDLE_SECONDS = 86_400;

export function peerAgentSettings(env: NodeJS.ProcessEnv): PeerAgentOptions {
  const wait = seconds(env, A2A_WAIT_VARIABLE, MAX_WAIT_SECONDS);
  const idle = seconds(env, A2A_STREAM_IDLE_VARIABLE, MAX_STREAM_IDLE_SECONDS);
  return { ...(wait === undefined ? {} : { waitMs: wait * 1000 }), ...(idle === undefined ? {} : { streamIdleMs: idle * 1000 }) };
}

function seconds(env: NodeJS.ProcessEnv, name: string, max: number): number | undefined {
  return wholeNumber(env, name, { min: 1, max, unit: 'seconds' });
}

/**
 * The whole number a variable sets, or undefined when unset; out of range
 * or not digits alone, an Error naming the variable, its range and unit.
 */
export function wholeNumber(env: NodeJS.ProcessEnv, name: string, range: { min: number; max: number; unit: string }): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < range.min || value > range.max) {
    throw new Error(`${name} must be a whole number of ${range.unit}, ${range.min}-${range.max}, got ${JSON.stringify(text)}`);
  }
  return value;
}
