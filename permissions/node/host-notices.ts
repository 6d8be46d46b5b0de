import type { ExtensionEvent, SupervisedExit } from '../host/process-manager';
import { printable, printableJson } from '../terminal-text';

/**
 * One line for the person running the node whenever something happens that
 * they may have to act on or should know about: a pairing request waiting
 * for them, a pairing completed, a revocation either way, a node that
 * claimed a peer's identity with another key, a peer that replaced its
 * key, a peer reachable only through a relay, the extension restarting.
 * Every value from the extension (and so from a peer) is escaped, and a
 * name is always marked as the peer's own claim.
 */
type Fields = Record<string, unknown>;

/** A notice, or null when this occurrence of the event needs none. */
const NOTICES: Record<string, (data: Fields) => string | null> = {
  'p2p.peer.request': (data) =>
    isFields(data['changed'])
      ? `WARNING: the pairing request from ${who(data)}${at(data)}, request id ${text(data['request_id'])}, was repeated with ${change(data['changed'])}; ` +
        'accept still pairs under the name it arrived with'
      : `pairing request from ${who(data)}${at(data)}; request id ${text(data['request_id'])}: answer it with accept (or reject) after comparing the fingerprint`,
  'p2p.peer.paired': (data) => `paired with ${who(data)}: your agents can now exchange messages`,
  'p2p.peer.revoked': (data) => `you revoked the pairing with ${who(data)}`,
  'p2p.peer.revoked_by_peer': (data) => `${who(data)} revoked the pairing with you; messages to it are no longer sent`,
  'p2p.peer.connected': (data) =>
    data['path'] === 'relayed'
      ? `peer ${text(data['peer'])} is connected only through a relay: both sides are behind NATs that hole punching cannot cross. ` +
        'The relay passes encrypted bytes it cannot read, but sees that you two talk and how much'
      : null,
  'p2p.peer.key_mismatch': (data) =>
    `WARNING: the node at ${text(data['address'])} claimed to be peer ${text(data['peer'])} ` +
    `(fingerprint ${text(data['expected_fingerprint'])}) but proved another key (fingerprint ${text(data['presented_fingerprint'])}); refused`,
  'p2p.peer.key_rotated': (data) =>
    `key change: peer ${text(data['peer'])} replaced its key, signed by its previous one: fingerprint ${text(data['old_fingerprint'])} → ${text(data['new_fingerprint'])}; ` +
    'its peer id and your grants stay, but the safety number changed: compare it with them again',
};

export class HostNotices {
  constructor(private readonly write: (line: string) => void) {}

  /** Writes a line for the events a person should see; other events are left to plugins. */
  event(event: ExtensionEvent): void {
    const notice = Object.hasOwn(NOTICES, event.type) ? NOTICES[event.type] : undefined;
    if (notice === undefined) return;
    const line = notice(isFields(event.data) ? event.data : {});
    if (line !== null) this.write(line);
  }

  exited(exit: SupervisedExit): void {
    if (exit.restartInMs === null) return;
    const how = exit.signal === null ? `with code ${String(exit.code)}` : `on signal ${exit.signal}`;
    this.write(`the p2p-comm extension exited ${how}; restarting it in ${exit.restartInMs} ms`);
  }

  restarted(pid: number | undefined): void {
    this.write(`the p2p-comm extension was restarted (pid ${String(pid)}) and takes calls again`);
  }
}

function who(data: Fields): string {
  const name = typeof data['display_name'] === 'string' ? `${printableJson(data['display_name'])} (name chosen by them) ` : '';
  return `${name}fingerprint ${text(data['fingerprint'])}`;
}

function at(data: Fields): string {
  return typeof data['address'] === 'string' ? ` at ${printable(data['address'])}` : '';
}

/** What a repeat changed since the request arrived, from the event's `changed` field. */
function change(changed: Fields): string {
  const name = isFields(changed['display_name']) ? [`the name ${printableJson(String(changed['display_name']['to']))}`] : [];
  const address = isFields(changed['address']) ? [`the address ${text(changed['address']['to'] ?? 'none')}`] : [];
  const parts = [...name, ...address];
  return parts.length === 0 ? 'the name and address it arrived with again' : parts.join(' and ');
}

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string {
  return typeof value === 'string' ? printable(value) : 'unknown';
}
