import { P2pError } from '../common/errors';
import type { OperationOutcome } from '../host/protocol';
import type { OperationDefinition } from '../common/manifest';
import type { NodeContext, OperationHandler } from './context';
import { a2aCard, a2aRespond, a2aSend, a2aServe, a2aSetCard, a2aTask } from './a2a';
import { discover } from './discovery';
import { acceptFile, cancelFile, fetchFile, files, sendFile } from './files';
import { identity, setDisplayName } from './identity';
import { InputValidator } from './input-validator';
import { ack, messageStatus, receive, send } from './messaging';
import { accept, pair, reject, requests } from './pairing';
import { peers, revoke } from './peers';
import { rotateIdentity } from './rotation';
import { groupAccept, groupCreate, groupInvite, groupLeave, groupReceive, groupRemove, groups, groupSend } from './groups';
import { status } from './status';

const HANDLERS: Record<string, OperationHandler> = {
  identity,
  set_display_name: setDisplayName,
  pair,
  requests,
  accept,
  reject,
  peers,
  revoke,
  send,
  receive,
  ack,
  message_status: messageStatus,
  status,
  discover,
  a2a_set_card: a2aSetCard,
  a2a_card: a2aCard,
  a2a_send: a2aSend,
  a2a_task: a2aTask,
  a2a_serve: a2aServe,
  a2a_respond: a2aRespond,
  send_file: sendFile,
  files,
  accept_file: acceptFile,
  cancel_file: cancelFile,
  fetch_file: fetchFile,
  rotate_identity: rotateIdentity,
  group_create: groupCreate,
  group_invite: groupInvite,
  group_accept: groupAccept,
  group_leave: groupLeave,
  group_remove: groupRemove,
  groups,
  group_send: groupSend,
  group_receive: groupReceive,
};

/**
 * Runs an operation by name: unknown names and schema-invalid inputs are
 * refused before any handler sees them. Built from the manifest, and refuses
 * to start if a declared operation has no handler or a handler is undeclared.
 */
export class OperationRegistry {
  private readonly validator: InputValidator;
  private readonly handlers = new Map<string, OperationHandler>();

  constructor(definitions: readonly OperationDefinition[]) {
    this.validator = new InputValidator(definitions);
    const declared = new Set(definitions.map((definition) => definition.name));
    for (const name of declared) {
      const handler = HANDLERS[name];
      if (handler === undefined) throw new Error(`manifest declares operation "${name}" but no handler exists`);
      this.handlers.set(name, handler);
    }
    const undeclared = Object.keys(HANDLERS).filter((name) => !declared.has(name));
    if (undeclared.length > 0) throw new Error(`handlers without a manifest declaration: ${undeclared.join(', ')}`);
  }

  names(): string[] {
    return [...this.handlers.keys()];
  }

  async run(name: string, input: Record<string, unknown>, node: NodeContext): Promise<OperationOutcome> {
    const handler = this.handlers.get(name);
    if (handler === undefined) {
      throw new P2pError('UNKNOWN_OPERATION', `unknown operation "${name}"; p2p-comm offers: ${this.names().join(', ')}`);
    }
    this.validator.check(name, input);
    return handler(input, node);
  }
}
