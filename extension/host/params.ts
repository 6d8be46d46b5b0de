import { P2pError } from '../common/errors';
import type { ExecuteParams, HostEvent, InitializeParams } from './protocol';

/**
 * Checks of the params Nexus sends. Keys Nexus may add later are ignored;
 * keys it sends today must have the right type, or the request is refused.
 */

function asObject(method: string, params: unknown): Record<string, unknown> {
  if (params === undefined) return {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new P2pError('INVALID_PARAMS', `${method} params must be an object`);
  }
  return params as Record<string, unknown>;
}

function optionalString(method: string, params: Record<string, unknown>, key: string): string | undefined {
  const value = params[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    throw new P2pError('INVALID_PARAMS', `${method} params.${key} must be a string`);
  }
  // No UTF-8 form: a path or a name holding one would not be the one sent.
  if (!value.isWellFormed()) {
    throw new P2pError('INVALID_PARAMS', `${method} params.${key} holds an unpaired UTF-16 surrogate; send well-formed Unicode text`);
  }
  return value;
}

export function parseInitializeParams(params: unknown): InitializeParams {
  const object = asObject('initialize', params);
  return {
    extensionId: optionalString('initialize', object, 'extension_id'),
    version: optionalString('initialize', object, 'version'),
    dataDir: optionalString('initialize', object, 'data_dir'),
  };
}

export function parseExecuteParams(params: unknown): ExecuteParams {
  const object = asObject('execute', params);
  const operation = optionalString('execute', object, 'operation');
  if (operation === undefined) {
    throw new P2pError('INVALID_PARAMS', 'execute params.operation is required: the name of the operation to run');
  }
  // Documented by Nexus but never sent; accepted for other hosts, never relied on.
  optionalString('execute', object, 'caller_plugin_id');
  // Nexus sends {} when a plugin gives no input.
  const input = object['input'] ?? {};
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new P2pError('INVALID_PARAMS', 'execute params.input must be an object');
  }
  return { operation, input: input as Record<string, unknown> };
}

export function parseHostEvent(params: unknown): HostEvent {
  const object = asObject('event.received', params);
  const subscriptionId = optionalString('event.received', object, 'subscription_id');
  const event = object['event'];
  if (subscriptionId === undefined || typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new P2pError('INVALID_PARAMS', 'event.received params must carry a subscription_id string and an event object');
  }
  return { subscriptionId, event: event as Record<string, unknown> };
}
