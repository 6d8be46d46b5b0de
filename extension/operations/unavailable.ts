import { P2pError } from '../errors';
import type { OperationHandler } from './context';

/** Operations declared in the manifest whose feature this version does not have yet, and which feature brings them. */
const PENDING_FEATURES: Record<string, string> = {
  discover: 'LAN discovery',
};

export function unavailableOperations(): Record<string, OperationHandler> {
  const handlers: Record<string, OperationHandler> = {};
  for (const [name, feature] of Object.entries(PENDING_FEATURES)) {
    handlers[name] = async (_input, node) => {
      throw new P2pError('NOT_AVAILABLE', `"${name}" is not available yet in p2p-comm ${node.version}: it arrives with ${feature}`);
    };
  }
  return handlers;
}
