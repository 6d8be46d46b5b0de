import { permissionName, type PermissionGrant, type PermissionName } from '../gate/types';

/**
 * Which plugin may see which event. Events carry peer ids, message ids and
 * pairing requests, so a plugin sees on the event stream only what its
 * permissions would let it ask for: a plugin allowed `status` alone learns
 * nothing about pairing requests, and one allowed to receive from peer A
 * learns nothing about messages from peer B.
 */

/** A plugin's grants as the Host API reads them: at each use, so a change applies to the next call and the next event. */
export interface PluginPermissions {
  isActive(plugin: string, permission: PermissionName): boolean;
  scopeApproved(plugin: string, permission: PermissionName, value: string): boolean;
  /** Whether the person refused the value for good ("Deny", or deny-scope): the gate refuses it without asking. */
  scopeDenied(plugin: string, permission: PermissionName, value: string): boolean;
}

/** The grant store as PluginPermissions; only `get` is read. */
export function grantPermissions(grants: { get(plugin: string, permission: PermissionName): PermissionGrant | undefined }): PluginPermissions {
  return {
    isActive: (plugin, permission) => grants.get(plugin, permission)?.state === 'active',
    scopeApproved: (plugin, permission, value) => grants.get(plugin, permission)?.approvedScopes.includes(value) === true,
    scopeDenied: (plugin, permission, value) => grants.get(plugin, permission)?.deniedScopes.includes(value) === true,
  };
}

interface EventRule {
  /** At least one of these operations' permissions must be active. */
  anyActive: readonly string[];
  /** When set, the event's peer must also be an approved scope of this operation's permission. */
  peerApprovedFor?: string;
  /** When set, the event's group must also be an approved scope of this operation's permission (the group scope stands in for its members' peer scopes). */
  groupApprovedFor?: string;
}

const SENT_MESSAGE: EventRule = { anyActive: ['send', 'message_status'], peerApprovedFor: 'send' };
const RECEIVED_MESSAGE: EventRule = { anyActive: ['receive'], peerApprovedFor: 'receive' };

/** A rejection of an incoming message (`side: "local"`) is about receiving; one of ours (`side: "remote"`) about sending. */
const REJECTED_MESSAGE = (event: EventFacts): EventRule => (fieldOf(event, 'side') === 'local' ? RECEIVED_MESSAGE : SENT_MESSAGE);
const PEER_STATE: EventRule = { anyActive: ['peers'] };
/** About a request this node's plugins sent to a peer's agent, over HTTP (gated as `send`) or with a2a_send. */
const A2A_CALLING: EventRule = { anyActive: ['send', 'a2a_send', 'a2a_task'], peerApprovedFor: 'send' };
/** About a peer's request to this node's agent, served by a declared endpoint (gated as `receive`) or with a2a_serve. */
const A2A_SERVING: EventRule = { anyActive: ['receive', 'a2a_serve'], peerApprovedFor: 'receive' };
/** About a file transfer either way: seen by a plugin that may list or accept that peer's files (design §3.5). */
const FILE_TRANSFER: EventRule = { anyActive: ['files', 'accept_file'], peerApprovedFor: 'files' };
/** A group's messages and member changes: seen by a plugin that may read that group (design §4.7). */
const GROUP_CONTENT: EventRule = { anyActive: ['group_receive'], groupApprovedFor: 'group_receive' };
/** An invite or this node's end in a group: seen by a plugin that may list the groups, as `groups` would show it. */
const GROUP_LIST: EventRule = { anyActive: ['groups'] };

/**
 * Every event type the extension publishes (docs/operations.md "Events").
 * A type not listed here is delivered to no plugin: a new event is private
 * until someone decides who may see it. A Map, because event types are
 * chosen by the extension and "constructor" must not find Object's.
 */
type RuleFor = EventRule | ((event: EventFacts) => EventRule);

export const EVENT_PERMISSIONS: ReadonlyMap<string, RuleFor> = new Map<string, RuleFor>([
  ['p2p.node.started', { anyActive: ['status', 'identity'] }],
  ['p2p.message.received', RECEIVED_MESSAGE],
  ['p2p.message.delivered', SENT_MESSAGE],
  ['p2p.message.expired', SENT_MESSAGE],
  ['p2p.message.failed', SENT_MESSAGE],
  ['p2p.message.rejected', REJECTED_MESSAGE],
  ['p2p.peer.request', { anyActive: ['requests', 'accept'] }],
  ['p2p.peer.paired', PEER_STATE],
  ['p2p.peer.connected', PEER_STATE],
  ['p2p.peer.disconnected', PEER_STATE],
  ['p2p.peer.key_mismatch', PEER_STATE],
  ['p2p.peer.revoked', PEER_STATE],
  ['p2p.peer.revoked_by_peer', PEER_STATE],
  ['p2p.peer.misbehaving', PEER_STATE],
  ['p2p.peer.card', PEER_STATE],
  ['p2p.a2a.answer', A2A_CALLING],
  ['p2p.a2a.failed', A2A_CALLING],
  ['p2p.a2a.request', A2A_SERVING],
  ['p2p.file.offered', FILE_TRANSFER],
  ['p2p.file.progress', FILE_TRANSFER],
  ['p2p.file.received', FILE_TRANSFER],
  ['p2p.file.failed', FILE_TRANSFER],
  ['p2p.identity.rotated', { anyActive: ['identity', 'status'] }],
  ['p2p.peer.key_rotated', PEER_STATE],
  ['p2p.group.message', GROUP_CONTENT],
  ['p2p.group.changed', GROUP_CONTENT],
  ['p2p.group.invited', GROUP_LIST],
  ['p2p.group.left', GROUP_LIST],
]);

export interface EventFacts {
  type: string;
  subject?: string;
  data: unknown;
}

/** Decided when the event is delivered, with the plugin's grants as they are at that moment. */
export function mayReceiveEvent(permissions: PluginPermissions, extensionId: string, plugin: string, event: EventFacts): boolean {
  const entry = EVENT_PERMISSIONS.get(event.type);
  if (entry === undefined) return false;
  const rule = typeof entry === 'function' ? entry(event) : entry;
  const active = rule.anyActive.some((operation) => permissions.isActive(plugin, permissionName(extensionId, operation)));
  if (!active) return false;
  if (rule.groupApprovedFor !== undefined) {
    const group = groupOf(event);
    return group !== undefined && permissions.scopeApproved(plugin, permissionName(extensionId, rule.groupApprovedFor), group);
  }
  if (rule.peerApprovedFor === undefined) return true;
  const peer = peerOf(event);
  return peer !== undefined && permissions.scopeApproved(plugin, permissionName(extensionId, rule.peerApprovedFor), peer);
}

/** `data.group`; undefined when it is not a string or the subject names another. */
function groupOf(event: EventFacts): string | undefined {
  const group = fieldOf(event, 'group');
  return typeof group === 'string' && (event.subject === undefined || event.subject === group) ? group : undefined;
}

/** `data.peer`, else the subject; undefined when neither is a string or the two disagree. */
function peerOf(event: EventFacts): string | undefined {
  const fromData = fieldOf(event, 'peer');
  if (typeof fromData === 'string') return event.subject === undefined || event.subject === fromData ? fromData : undefined;
  return event.subject;
}

function fieldOf(event: EventFacts, name: string): unknown {
  const data = event.data;
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>)[name] : undefined;
}
