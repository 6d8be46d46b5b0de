import type { ApprovalContext } from '../../permissions/gate/types';

/** A dialog's question about a plugin's `send`, with the fields a test changes given. */
export function sendContext(changes: Partial<ApprovalContext> = {}): ApprovalContext {
  return {
    plugin: 'agent',
    extension: 'p2p-comm',
    operation: 'send',
    permission: 'ext:p2p-comm:send',
    description: 'Send a message to a paired peer.',
    riskLevel: 'medium',
    input: {},
    details: [],
    ...changes,
  };
}
