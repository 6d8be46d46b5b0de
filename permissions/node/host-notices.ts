import type { ListedGroupFacts } from '../gate/call-facts';
import type { ExtensionEvent, SupervisedExit } from '../host/process-manager';
import { printable, printableJson } from '../terminal-text';

/**
 * One line for the person running the node whenever something happens that
 * they may have to act on or should know about: a pairing request waiting
 * for them, a pairing completed, a revocation either way, a node that
 * claimed a peer's identity with another key, a peer that replaced its
 * key, a peer reachable only through a relay, the extension restarting,
 * a file offered, how far each file transfer is, a group invitation and
 * each change of a group's members.
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
  'p2p.file.offered': (data) =>
    `${who(data)} offers the file ${printableJson(String(data['name']))} (${typeof data['size'] === 'number' ? mebibytes(data['size']) : '?'} MiB, ` +
    `sha256 ${text(data['sha256']).slice(0, 16)}…); a plugin with accept_file can take it, you will be asked`,
  'p2p.peer.key_mismatch': (data) =>
    `WARNING: the node at ${text(data['address'])} claimed to be peer ${text(data['peer'])} ` +
    `(fingerprint ${text(data['expected_fingerprint'])}) but proved another key (fingerprint ${text(data['presented_fingerprint'])}); refused`,
  'p2p.peer.key_rotated': (data) =>
    `key change: peer ${text(data['peer'])} replaced its key, signed by its previous one: fingerprint ${text(data['old_fingerprint'])} → ${text(data['new_fingerprint'])}; ` +
    'its peer id and your grants stay, but the safety number changed: compare it with them again',
};

/**
 * Where the progress of file transfers goes. On a terminal (`rewrite`
 * given) one line per transfer is rewritten in place and ended by
 * `endLine`; elsewhere (a log file) a line is printed at each tenth.
 */
export interface ProgressOutput {
  rewrite?: (line: string) => void;
  endLine?: () => void;
  now?: () => number;
}

/** A transfer whose progress is shown: its name, the start of its current phase (for the rate) and the last tenth printed. */
interface ShownTransfer {
  name: string;
  phase: string;
  startedAt: number;
  startBytes: number;
  tenth: number;
}

export class HostNotices {
  /** Names peers gave themselves, learned from events: the progress line says whose file it is. */
  private readonly peerNames = new Map<string, string>();
  private readonly transfers = new Map<string, ShownTransfer>();
  /** The transfer whose progress line is on screen, not ended by a newline yet (terminal only). */
  private openLine: string | null = null;
  /** Names members are listed under in their groups, kept for the lines about members that left. */
  private readonly memberNames = new Map<string, string>();
  private groupLines: Promise<void> = Promise.resolve();
  private readonly now: () => number;

  constructor(
    private readonly write: (line: string) => void,
    private readonly progress: ProgressOutput = {},
    private readonly lookups: NoticeLookups = {},
  ) {
    this.now = progress.now ?? Date.now;
  }

  /** Writes a line for the events a person should see; other events are left to plugins. */
  event(event: ExtensionEvent): void {
    const data = isFields(event.data) ? event.data : {};
    if (typeof data['peer'] === 'string' && typeof data['display_name'] === 'string') this.peerNames.set(data['peer'], data['display_name']);
    if (event.type === 'p2p.file.progress') return this.fileProgress(data);
    if (event.type === 'p2p.file.received' || event.type === 'p2p.file.failed') return this.fileEnded(event.type, data);
    if (event.type.startsWith('p2p.group.')) return this.groupEvent(event.type, data);
    const notice = Object.hasOwn(NOTICES, event.type) ? NOTICES[event.type] : undefined;
    if (notice === undefined) return;
    const line = notice(data);
    if (line !== null) this.print(line);
  }

  exited(exit: SupervisedExit): void {
    if (exit.restartInMs === null) return;
    const how = exit.signal === null ? `with code ${String(exit.code)}` : `on signal ${exit.signal}`;
    this.print(`the p2p-comm extension exited ${how}; restarting it in ${exit.restartInMs} ms`);
  }

  restarted(pid: number | undefined): void {
    this.print(`the p2p-comm extension was restarted (pid ${String(pid)}) and takes calls again`);
  }

  /** A whole line: a progress line on screen is ended first, so the two never share a line. */
  private print(line: string): void {
    if (this.openLine !== null) {
      this.openLine = null;
      this.progress.endLine?.();
    }
    this.write(line);
  }

  /** `file "report.pdf" from Alice: 37 % (95.0 of 256.0 MiB), 112 MB/s`: rewritten in place on a terminal, else at each tenth. */
  private fileProgress(data: Fields): void {
    const id = data['transfer_id'];
    const size = data['size'];
    const done = data['bytes_done'];
    if (typeof id !== 'string' || typeof size !== 'number' || typeof done !== 'number' || size <= 0) return;
    const phase = text(data['phase']);
    const now = this.now();
    let shown = this.transfers.get(id);
    if (shown === undefined || shown.phase !== phase) {
      shown = { name: typeof data['name'] === 'string' ? data['name'] : shown?.name ?? `transfer ${id}`, phase, startedAt: now, startBytes: done, tenth: -1 };
      this.transfers.set(id, shown);
    }
    const percent = Math.floor((done * 100) / size);
    const seconds = (now - shown.startedAt) / 1000;
    const rate = seconds > 0 && done > shown.startBytes ? `, ${((done - shown.startBytes) / seconds / 1e6).toFixed(0)} MB/s` : '';
    const what = phase === 'receiving' || phase === 'sending' ? '' : `${phase} `;
    const line = `${this.fileLabel(shown.name, data)}: ${what}${percent} % (${mebibytes(done)} of ${mebibytes(size)} MiB)${rate}`;
    if (this.progress.rewrite !== undefined) {
      this.openLine = id;
      this.progress.rewrite(line);
      return;
    }
    const tenth = Math.floor((done * 10) / size);
    if (tenth <= shown.tenth) return;
    shown.tenth = tenth;
    this.write(line);
  }

  /** received or failed: ends the transfer's progress line with a line saying how it ended. */
  private fileEnded(type: string, data: Fields): void {
    const id = text(data['transfer_id']);
    const shown = this.transfers.get(id);
    this.transfers.delete(id);
    const name = typeof data['name'] === 'string' ? data['name'] : shown?.name ?? `transfer ${id}`;
    const label = this.fileLabel(name, data);
    if (type === 'p2p.file.failed') return this.print(`${label}: failed (${text(data['reason'])})`);
    this.print(
      data['direction'] === 'incoming'
        ? `${label}: received, SHA-256 checked; saved as ${text(data['path'])}`
        : `${label}: the peer received it and checked its SHA-256`,
    );
  }

  private fileLabel(name: string, data: Fields): string {
    const peer = text(data['peer']);
    const known = this.peerNames.get(peer);
    const who = known === undefined ? `peer ${peer}` : printableJson(known);
    return `file ${printableJson(name)} ${data['direction'] === 'outgoing' ? 'to' : 'from'} ${who}`;
  }

  /** Group lines name the group and its members, which the event does not: each waits for the extension's `groups`, in event order. */
  private groupEvent(type: string, data: Fields): void {
    this.groupLines = this.groupLines.then(async () => {
      const listed = await this.lookups.groups?.().catch(() => undefined);
      const group = listed?.find((candidate) => candidate.group === data['group']);
      for (const member of group?.members ?? []) this.memberNames.set(member.peer, member.name);
      const line = groupNotice(type, data, group, (peer) => this.memberLabel(peer));
      if (line !== null) this.print(line);
    }).catch((error: unknown) => this.print(`a group notice could not be written: ${printable(error instanceof Error ? error.message : String(error))}`));
  }

  private memberLabel(peer: unknown): string {
    const name = typeof peer === 'string' ? this.memberNames.get(peer) ?? this.peerNames.get(peer) : undefined;
    return name === undefined ? `peer ${text(peer)}` : `${printableJson(name)} (peer ${text(peer)})`;
  }
}

/** What the host asks the extension for to word a notice; absent, the notice says less. */
export interface NoticeLookups {
  /** The extension's `groups`. */
  groups?: () => Promise<ListedGroupFacts[]>;
}

/** What each change of a `p2p.group.changed` event did, as a person reads it. */
const GROUP_CHANGES: Record<string, string> = {
  add: 'joined',
  leave: 'left',
  remove: 'was removed by the creator',
  key: 'has a new key (the creator lists it)',
};

/** Why this node is no longer in a group (`p2p.group.left`). */
const LEFT_REASONS: Record<string, string> = {
  left: 'this node left it',
  declined: 'this node declined the invite',
  removed: 'the creator removed this node',
  dissolved: 'the creator dissolved it',
  creator_revoked: 'its creator is no longer paired with you',
};

function groupNotice(type: string, data: Fields, group: ListedGroupFacts | undefined, member: (peer: unknown) => string): string | null {
  const named = group === undefined ? `the group ${text(data['group'])}` : `the group ${printableJson(group.name)} (${text(data['group'])})`;
  switch (type) {
    case 'p2p.group.invited': {
      const creator = group?.members.find((candidate) => candidate.peer === data['creator']);
      const who = creator === undefined ? `peer ${text(data['creator'])}` : `${printableJson(creator.name)} (name chosen by them) fingerprint ${text(creator.fingerprint)}`;
      const name = `the group ${printableJson(String(data['name']))} (name chosen by the creator)`;
      const size = group === undefined ? '' : ` with ${group.members.length} member(s)`;
      return `${who} invites you to ${name}${size}; a plugin with group_accept can join, you will be asked`;
    }
    case 'p2p.group.changed': {
      const changes = Array.isArray(data['changes']) ? (data['changes'] as unknown[]).filter(isFields) : [];
      const said = changes.map((change) =>
        change['op'] === 'dissolve' ? 'the creator dissolved the group' : `${member(change['peer'])} ${GROUP_CHANGES[String(change['op'])] ?? `(${text(change['op'])})`}`,
      );
      const epoch = typeof data['epoch'] === 'number' ? `, epoch ${data['epoch']}` : '';
      return `${named}${epoch}: ${said.length === 0 ? 'no change' : said.join('; ')}`;
    }
    case 'p2p.group.left': {
      const reason = String(data['reason']);
      return `you are no longer in ${named}: ${Object.hasOwn(LEFT_REASONS, reason) ? LEFT_REASONS[reason] : text(data['reason'])}`;
    }
    default:
      return null;
  }
}

function mebibytes(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
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
