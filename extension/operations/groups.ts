import { P2pError } from '../common/errors';
import { isValidDisplayName } from '../common/display-name';
import { GROUPS_CAPABILITY } from '../groups/group-service';
import type { OperationHandler } from './context';

/**
 * The group operations (design §4.6): create a group, invite a paired
 * peer to it, accept or decline an invite, leave, remove a member, list
 * the groups, and send and read the group's messages. Every operation but
 * `group_create` and `groups` is scoped by the group id, which names one
 * creator's group only (the id is derived from the creator's key), so a
 * grant for one group never reaches another.
 */

export const groupCreate: OperationHandler = async (input, node) => {
  const name = input['name'] as string;
  // The schema refuses every forbidden character; a name of spaces alone passes it and is no name.
  if (!isValidDisplayName(name)) throw new P2pError('INVALID_INPUT', 'input.name holds only whitespace: a group name needs at least one visible character', { path: '/name', rule: 'pattern' });
  const group = await node.groups.create(name);
  const self = { peer: node.identity.peerId, name: node.profile.displayName, fingerprint: node.identity.fingerprint, role: 'creator' };
  return { data: { group: group.id, name: group.name, epoch: 0, members: [self] }, message: null };
};

export const groupInvite: OperationHandler = async (input, node) => {
  const peer = input['peer'] as string;
  // Refused with the code send_file uses for the same reason: the peer's p2p-comm is too old for this.
  const hello = node.messenger.helloOf(peer);
  if (hello !== undefined && !hello.capabilities.includes(GROUPS_CAPABILITY)) {
    throw new P2pError('PEER_UNSUPPORTED', `${peer} runs a p2p-comm without groups (its hello lacks ${GROUPS_CAPABILITY}); it cannot join a group until it is updated`);
  }
  return { data: await node.groups.invite(input['group'] as string, peer), message: null };
};

export const groupAccept: OperationHandler = async (input, node) => ({
  data: await node.groups.accept(input['group'] as string),
  message: 'this node is a member once the creator’s next epoch, which adds it, arrives (event p2p.group.changed)',
});

export const groupLeave: OperationHandler = async (input, node) => ({ data: await node.groups.leave(input['group'] as string), message: null });

export const groupRemove: OperationHandler = async (input, node) => ({
  data: await node.groups.remove(input['group'] as string, input['peer'] as string),
  message: null,
});

export const groups: OperationHandler = async (_input, node) => ({ data: { groups: node.groups.list() }, message: null });

export const groupSend: OperationHandler = async (input, node) => {
  const ttlSeconds = input['ttl_seconds'] as number | undefined;
  const sent = await node.groups.send(input['group'] as string, {
    type: input['type'] as 'text' | 'json',
    content: input['content'],
    ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
  });
  return { data: sent, message: null };
};

export const groupReceive: OperationHandler = async (input, node) => {
  const options = {
    after: input['after'] as number | undefined,
    limit: input['limit'] as number | undefined,
    waitMs: input['wait_ms'] as number | undefined,
    ackThrough: input['ack_through'] as number | undefined,
  };
  // Only what the call gave: the service's defaults apply to the rest.
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  return { data: await node.groups.receive(input['group'] as string, given), message: null };
};
