import type { A2aServingOptions } from './a2a-serving';
import { wholeNumber } from './peer-agent-settings';

/**
 * The limits of serving the declared agent as a person sets them for
 * `p2p-comm-host start`, from the environment (docs/reference-host.md),
 * in the style of peer-agent-settings.ts: unset means the default, a bad
 * value is refused with the variable's name.
 */

interface Setting {
  name: string;
  option: keyof A2aServingOptions;
  min: number;
  max: number;
  unit: 'seconds' | 'requests' | 'characters';
}

export const A2A_SERVING_SETTINGS: readonly Setting[] = [
  { name: 'P2P_COMM_HOST_A2A_FORWARD_PER_PEER', option: 'perPeer', min: 1, max: 256, unit: 'requests' },
  { name: 'P2P_COMM_HOST_A2A_FORWARD_TOTAL', option: 'total', min: 1, max: 4096, unit: 'requests' },
  { name: 'P2P_COMM_HOST_A2A_FORWARD_RETRY_SECONDS', option: 'retryMs', min: 1, max: 86_400, unit: 'seconds' },
  // At least 1 MiB, the most the extension carries per answer: a lower limit would refuse answers that fit.
  { name: 'P2P_COMM_HOST_A2A_MAX_ANSWER_CHARS', option: 'maxEventChars', min: 1024 * 1024, max: 64 * 1024 * 1024, unit: 'characters' },
  { name: 'P2P_COMM_HOST_A2A_CARD_REFRESH_SECONDS', option: 'cardRefreshMs', min: 1, max: 86_400, unit: 'seconds' },
  // fetch (undici) gives up on response headers after 300 s anyway.
  { name: 'P2P_COMM_HOST_A2A_CARD_TIMEOUT_SECONDS', option: 'cardTimeoutMs', min: 1, max: 300, unit: 'seconds' },
  { name: 'P2P_COMM_HOST_A2A_DECLARATION_CHECK_SECONDS', option: 'declarationCheckMs', min: 1, max: 3600, unit: 'seconds' },
];

export function a2aServingSettings(env: NodeJS.ProcessEnv): A2aServingOptions {
  const options: Record<string, number> = {};
  for (const { name, option, min, max, unit } of A2A_SERVING_SETTINGS) {
    const value = wholeNumber(env, name, { min, max, unit });
    if (value !== undefined) options[option] = unit === 'seconds' ? value * 1000 : value;
  }
  return options as A2aServingOptions;
}
