import { fingerprintOf, PEER_ID_PATTERN, publicKeyFromPeerId } from '../../extension/common/peer-id';
import { parsePairingLink } from '../../extension/common/pairing-link';
import { printable, printableJson } from '../terminal-text';

/**
 * The facts a consent dialog shows about a call, so that a person can judge
 * who the other side is and what is asked: for a peer its fingerprint (from
 * the key itself), the name it chose (quoted, escaped and marked as its own
 * claim), its address and the safety number of the pair; for a message its
 * type, size and a short escaped preview.
 *
 * A request id or a display name is chosen by the remote side, so they are
 * never the only thing shown: the fingerprint comes from the peer id, which
 * names the peer's first key, unless the extension reports the key the
 * peer holds now (a paired peer or a request, once that peer rotated). Facts the host has to ask the extension for (a pending
 * request, a paired peer's name) come from a PeerDirectory; when it cannot
 * answer, the dialog says so rather than failing the call.
 */
export interface KnownRequest {
  peer: string;
  /** The name and address the request arrived with; the ones accept pins. */
  display_name: string;
  address: string | null;
  created_at: string;
  /** Of the key the requester proved; absent, the key its peer id names. */
  fingerprint?: string;
  /** The extension's, from both nodes' current keys (a rotation on either side changes it); absent from an older extension. */
  safety_number?: string;
  /** How the requester's later repeats differ; null (absent from an older extension) while they do not. */
  changed?: RequestChanges | null;
  /** The A2A agent card the requester sent with its request; absent from an extension before agent cards. */
  agent_card?: AgentCardFacts | null;
  /** How often that card changed since the request arrived. */
  agent_card_changes?: number;
}

/**
 * What a dialog reads of a peer's A2A agent card. Every word of it is the
 * peer's own (signed by its key, which says who wrote it, not that it is
 * true), so each field is read as unknown and shown escaped.
 */
export interface AgentCardFacts {
  name?: unknown;
  description?: unknown;
  skills?: unknown;
}

export interface RequestChanges {
  /** Present while the latest repeat claims another name than the request arrived with. */
  display_name?: { from: string; to: string };
  address?: { from: string | null; to: string | null };
  /** Repeats that changed the name or the address. */
  changes: number;
  changed_at: string;
}

export interface KnownPeer {
  display_name: string;
  /** Of the key the peer signs with now, which a rotation moves away from the one its id names; absent, that one. */
  fingerprint?: string;
  /** Of the keys it signed with before, oldest first; absent or empty while it never rotated. */
  previous_fingerprints?: readonly string[];
  /** When it made its current key, as its last rotation statement says; null or absent while it never rotated. */
  key_rotated_at?: string | null;
  addresses: readonly string[];
  /** The A2A agent card the peer sent; absent from an extension before agent cards. */
  agent_card?: AgentCardFacts | null;
}

export interface DiscoveredPeer {
  display_name: string;
  addresses: readonly string[];
}

/** A file a peer offered, as the extension's `files` lists it. Every word of it but the sizes is the peer's own. */
export interface OfferedFile {
  name: string;
  size: number;
  sha256: string | null;
  media_type: string | null;
  description: string | null;
  correlation_id: string | null;
  state: string;
}

export interface PeerDirectory {
  /**
   * The safety number of this node and the peer; null when this node's key
   * is unknown. `peerKey` is the key the peer signs with now when the call
   * names it (a rotated node's link); absent, the key its peer id names.
   */
  safetyNumber(peer: string, peerKey?: Uint8Array): Promise<string | null>;
  /** An incoming pairing request as the extension lists it; undefined when not pending. */
  incomingRequest(requestId: string): Promise<KnownRequest | undefined>;
  /** A paired peer as the extension lists it; undefined when not paired. */
  pairedPeer(peer: string): Promise<KnownPeer | undefined>;
  /** A node LAN discovery heard announce itself; undefined when not heard (or discovery is off). */
  discoveredPeer(peer: string): Promise<DiscoveredPeer | undefined>;
  /** An incoming offer from the peer not answered yet, as the extension lists it (files); undefined when no open offer has that id. */
  offeredFile(peer: string, transferId: string): Promise<OfferedFile | undefined>;
  /** The size of a file under files/outgoing, named relative to it; undefined when there is no regular file there. */
  outgoingFileSize(relativePath: string): Promise<number | undefined>;
  /** This node as the extension's `identity` reports it; absent, a rotate_identity dialog says it could not tell. */
  ownIdentity?(): Promise<OwnIdentity>;
  /** The peers the extension's `peers` lists; absent, a rotate_identity dialog counts none. */
  listedPeers?(): Promise<ListedPeer[]>;
  /** The groups and invites the extension's `groups` lists; absent, a group dialog says it could not tell. */
  listedGroups?(): Promise<ListedGroupFacts[]>;
}

/** A group as the extension's `groups` lists it. Its name and the members' names are the creator's words. */
export interface ListedGroupFacts {
  group: string;
  name: string;
  creator: string;
  state: string;
  members: readonly { peer: string; name: string; fingerprint: string; paired: boolean }[];
}

export interface OwnIdentity {
  peer_id: string;
  fingerprint: string;
  /** The key it signs with now, spelled like a peer id. */
  key?: string;
  /** Rotations so far; absent from an extension before key rotation. */
  key_seq?: number;
  /** This node's pairing link, which names its current key once it rotated; null while it does not listen. */
  link?: string | null;
}

/**
 * The key this node signs with now, as `identity` reports it (spelled like
 * a peer id); null when the report has none that decodes: the dialog then
 * says the safety number is unknown rather than compute one from a key the
 * node may no longer use.
 */
export function ownCurrentKey(own: OwnIdentity): Uint8Array | null {
  if (typeof own.key !== 'string') return null;
  try {
    return publicKeyFromPeerId(own.key);
  } catch {
    return null;
  }
}

/** What a rotate_identity dialog reads of a peer to say whether it will follow the new key. */
export interface ListedPeer {
  state: string;
  online?: boolean;
  /** The peer's last hello; null until it sent one. */
  capabilities?: { capabilities?: unknown } | null;
}

/** Longest message preview, in characters, before it is cut. */
export const PREVIEW_CHARACTERS = 120;

const LABEL_WIDTH = 12;
const SELF_CHOSEN = '(chosen by them; anyone can pick any name: compare the fingerprint)';
const CARD_CHOSEN = '(chosen by them, in their agent card)';
/** Skill names a dialog lists before it says how many more there are. */
const MAX_SKILLS_SHOWN = 8;

export class CallFacts {
  constructor(private readonly directory: PeerDirectory) {}

  /** The fact lines for one call; already escaped, so safe to print anywhere. Never throws. */
  async describe(operation: string, input: Record<string, unknown>): Promise<string[]> {
    try {
      return await this.factsOf(operation, input);
    } catch (error) {
      return [line('note', `the host could not gather facts about this call: ${printable(error instanceof Error ? error.message : String(error))}`)];
    }
  }

  private async factsOf(operation: string, input: Record<string, unknown>): Promise<string[]> {
    const peer = peerIn(input);
    switch (operation) {
      case 'pair':
        return typeof input['link'] === 'string' ? this.linkFacts(input['link']) : this.pairByIdFacts(peer, input['address']);
      case 'accept':
      case 'reject':
        return this.requestFacts(operation, input['request_id'], peer);
      case 'send':
        return [...(await this.peerFacts(peer)), ...contentFacts(input['type'], input['content'])];
      case 'set_display_name':
        return typeof input['display_name'] === 'string' ? [line('new name', printableJson(input['display_name']))] : [];
      case 'a2a_set_card':
        return ownCardFacts(input['card']);
      case 'accept_file':
        return this.offeredFileFacts(peer, input['transfer_id']);
      case 'send_file':
        return this.sentFileFacts(peer, input);
      case 'rotate_identity':
        return this.rotationFacts(input['grace_seconds']);
      case 'group_accept':
        return this.groupAcceptFacts(input['group']);
      case 'group_invite':
        return this.groupInviteFacts(input['group'], peer);
      case 'group_send':
        return [...(await this.groupFacts(input['group'])), ...contentFacts(input['type'], input['content'])];
      case 'group_leave':
      case 'group_remove':
      case 'group_receive':
        return [...(await this.groupFacts(input['group'])), ...(await this.peerFacts(peer))];
      default:
        return this.peerFacts(peer);
    }
  }

  private async linkFacts(text: string): Promise<string[]> {
    let link: ReturnType<typeof parsePairingLink>;
    try {
      link = parsePairingLink(text);
    } catch (error) {
      return [line('link', `NOT a valid pairing link (${printable((error as Error).message)}); the extension will refuse it`)];
    }
    const fingerprint = link.rotation === undefined ? undefined : fingerprintOf(link.rotation.key);
    return [
      ...(await this.linkAsks(link.peerId, fingerprint)),
      ...(await this.identityFacts(link.peerId, link.displayName, { fingerprint, key: link.rotation?.key })),
      ...(fingerprint === undefined ? [] : [line('key', 'not its first: the link carries the chain of its keys, each signed by the one before (the extension checks it)')]),
      line('address', link.addresses.length === 0 ? 'none (reached through the DHT only)' : printable(link.addresses.join(', '))),
      ...(link.dhtBinding === null ? [] : [line('DHT', 'also reachable beyond the local network, through the Hyperswarm DHT')]),
      ...(link.expiresAt === null ? [] : [line('link expires', link.expiresAt.toISOString())]),
    ];
  }

  /**
   * A pairing request, unless the link comes from a peer already paired:
   * then a key it names other than the one pinned may be a key change,
   * which pair takes without asking the peer anything, or an older or
   * forked key, which it refuses. The host cannot verify the chain, so the
   * dialog does not say which.
   */
  private async linkAsks(peer: string, fingerprint: string | undefined): Promise<string[]> {
    const paired = await this.directory.pairedPeer(peer);
    if (paired === undefined) return [line('asks', 'to send a pairing request to the node below; once its owner accepts, your agents can exchange messages')];
    const pinned = paired.fingerprint ?? fingerprintOf(publicKeyFromPeerId(peer));
    if (fingerprint === undefined || fingerprint === pinned) {
      return [line('asks', 'nothing new: you are already paired with the node below')];
    }
    return [
      line('asks', 'to take another key for a peer you are already paired with; nothing is sent and no request is made'),
      line(
        'other key',
        `for ${printableJson(paired.display_name)}, ${printable(fingerprint)} differs from the key pinned (${printable(pinned)}); ` +
          'the extension takes it only if its chain continues from the pinned key',
      ),
    ];
  }

  private async pairByIdFacts(peer: string | undefined, address: unknown): Promise<string[]> {
    if (peer === undefined) return [];
    const discovered = await this.directory.discoveredPeer(peer);
    const heard = discovered === undefined || discovered.addresses.length === 0 ? null : printable(discovered.addresses.join(', '));
    const where =
      typeof address === 'string'
        ? printable(address)
        : heard === null
          ? 'none: LAN discovery has not heard this node, so the extension will refuse the call without an address'
          : `${heard} (heard on the local network; the handshake proves the key)`;
    return [
      line('asks', 'to send a pairing request to the node below; once its owner accepts, your agents can exchange messages'),
      ...(await this.identityFacts(peer, discovered?.display_name ?? null)),
      line('address', where),
    ];
  }

  private async requestFacts(operation: string, requestId: unknown, peer: string | undefined): Promise<string[]> {
    if (typeof requestId !== 'string') return this.peerFacts(peer);
    const request = await this.directory.incomingRequest(requestId);
    if (request === undefined) {
      return [line('request', `${printable(requestId)} is not pending; the extension will refuse this call`), ...(await this.peerFacts(peer))];
    }
    const facts = [
      line('asks', operation === 'accept' ? 'to pair with the node below: you trust it, and your agents can exchange messages' : 'to refuse the pairing request of the node below'),
      // The extension's number, of the key the requester proved; never one the host would compute from the peer id's key.
      ...(await this.identityFacts(request.peer, request.display_name, { fingerprint: request.fingerprint, safetyNumber: request.safety_number ?? null })),
      line('address', request.address === null ? 'unknown' : printable(request.address)),
      line('requested', printable(request.created_at)),
      ...changeFacts(operation, request.changed ?? null),
      ...agentCardFacts(request.agent_card ?? null, CARD_CHOSEN),
      ...cardChangeFacts(request.agent_card_changes ?? 0),
    ];
    if (peer !== undefined && peer !== request.peer) {
      facts.unshift(line('WARNING', `request ${printable(requestId)} comes from another peer than the one this call names (${peer}); the extension will refuse it`));
    }
    return facts;
  }

  /** What accepting stores on this disk, from whom: the offer as the extension recorded it, every word of it the peer's. */
  private async offeredFileFacts(peer: string | undefined, transferId: unknown): Promise<string[]> {
    if (peer === undefined || typeof transferId !== 'string') return this.peerFacts(peer);
    const [offered, paired] = await Promise.all([this.directory.offeredFile(peer, transferId), this.directory.pairedPeer(peer)]);
    const owner = paired === undefined ? `Peer ${peer}` : printableJson(paired.display_name);
    const facts = [line('offer', `${owner}'s agent wants to share a file with you. Allow?`)];
    facts.push(line('asks', 'to receive the file below from this peer; it is saved in files/incoming once its SHA-256 matches the offer'));
    facts.push(...(await this.peerFacts(peer)));
    if (offered === undefined) return [...facts, line('file', `transfer ${printable(transferId)} is not a file this peer offered; the extension will refuse this call`)];
    return [
      ...facts,
      line('file', `${printableJson(offered.name)} (chosen by them)`),
      line('size', sizeText(offered.size)),
      line('sha256', offered.sha256 === null ? 'unknown' : printable(offered.sha256)),
      line('type', offered.media_type === null ? 'not given' : `${printable(offered.media_type)} (as they say)`),
      ...(offered.description === null ? [] : [line('about', preview(offered.description))]),
      ...(offered.correlation_id === null ? [] : [line('context', printable(offered.correlation_id))]),
      ...(offered.state === 'offered' ? [] : [line('state', `${printable(offered.state)}: only an offered file can be accepted; the extension will refuse this call`)]),
    ];
  }

  /** What leaves this node, to whom: the file's name, size and where its bytes come from. */
  private async sentFileFacts(peer: string | undefined, input: Record<string, unknown>): Promise<string[]> {
    const source = input['source'] as { folder?: unknown; upload?: { data?: unknown } } | undefined;
    const folder = typeof source?.folder === 'string' ? source.folder : null;
    const name = typeof input['name'] === 'string' ? input['name'] : folder === null ? null : folder.slice(folder.lastIndexOf('/') + 1);
    let size: string;
    if (folder !== null) {
      const bytes = await this.directory.outgoingFileSize(folder);
      size = bytes === undefined ? 'no such file in files/outgoing; the extension will refuse this call' : sizeText(bytes);
    } else {
      size = 'given by the plugin, in parts';
    }
    return [
      line('asks', 'to offer the file below to this peer; its user is asked before any byte is sent'),
      ...(await this.peerFacts(peer)),
      line('file', name === null ? 'not named yet (the last part names it)' : printableJson(name)),
      line('size', size),
      line('from', folder === null ? 'bytes the plugin uploads' : `files/outgoing/${printable(folder)}`),
      ...(typeof input['media_type'] === 'string' ? [line('type', printable(input['media_type']))] : []),
      ...(typeof input['description'] === 'string' ? [line('about', preview(input['description']))] : []),
      ...(typeof input['correlation_id'] === 'string' ? [line('context', printable(input['correlation_id']))] : []),
    ];
  }

  private async peerFacts(peer: string | undefined): Promise<string[]> {
    if (peer === undefined) return [];
    const paired = await this.directory.pairedPeer(peer);
    const facts = await this.identityFacts(peer, paired?.display_name ?? null, { fingerprint: paired?.fingerprint });
    if (paired === undefined) facts.push(line('paired', 'no: this node has not paired with that peer'));
    else {
      facts.push(...keyChangeFacts(paired));
      if (paired.addresses.length > 0) facts.push(line('address', printable(paired.addresses.join(', '))));
    }
    facts.push(...agentCardFacts(paired?.agent_card ?? null, CARD_CHOSEN));
    return facts;
  }

  /** What replacing this node's key means, and which paired peers will follow it at once, later, or not at all. */
  private async rotationFacts(graceSeconds: unknown): Promise<string[]> {
    const [own, listed] = await Promise.all([this.directory.ownIdentity?.(), this.directory.listedPeers?.()]);
    const facts = [
      line('asks', `to replace this node’s key; paired peers follow automatically (signed by the current key); peers offline for more than ${graceText(graceSeconds)} may need a new link`),
      line('peer id', own === undefined ? 'unknown (the extension could not be asked)' : `${printable(own.peer_id)} (stays: grants and pairings keep working)`),
      line('old key', own === undefined ? 'fingerprint unknown' : `fingerprint ${printable(own.fingerprint)}`),
      line('new key', 'fingerprint (made after you approve)'),
      line('safety no.', 'changes for every pair: compare it with each peer again'),
    ];
    if (own?.key_seq !== undefined) facts.push(line('rotation', `${own.key_seq + 1} of at most ${MAX_ROTATIONS} this identity can make`));
    const paired = (listed ?? []).filter((peer) => peer.state === 'trusted');
    const unsupported = paired.filter((peer) => lacksKeyRotation(peer)).length;
    const online = paired.filter((peer) => peer.online === true && !lacksKeyRotation(peer)).length;
    facts.push(
      line(
        'peers',
        `${paired.length} paired: ${online} online (follow within seconds), ${paired.length - online - unsupported} offline (follow at their next connection), ` +
          `${unsupported} on a p2p-comm without key rotation (must update it, or pair again)`,
      ),
    );
    return facts;
  }

  /**
   * Peer id, fingerprint, name (as a claim) and safety number. `known` holds
   * what the extension or the call already says of the peer's current key
   * (its fingerprint, the safety number — null when it cannot be told —, the
   * key itself); absent, they come from the key its peer id names.
   */
  private async identityFacts(peer: string, displayName: string | null, known: { fingerprint?: string | undefined; safetyNumber?: string | null; key?: Uint8Array | undefined } = {}): Promise<string[]> {
    const { fingerprint } = known;
    const safetyNumber = known.safetyNumber !== undefined ? known.safetyNumber : await this.directory.safetyNumber(peer, known.key);
    return [
      line('peer', peer),
      line('fingerprint', fingerprint === undefined ? fingerprintOf(publicKeyFromPeerId(peer)) : printable(fingerprint)),
      line('name', displayName === null ? 'not known yet' : `${printableJson(displayName)} ${SELF_CHOSEN}`),
      line('safety no.', safetyNumber === null ? 'unknown (the extension did not report the keys it is computed from)' : printable(safetyNumber)),
    ];
  }

  /**
   * Joining lets every member's agent reach this node's, members it never
   * paired with included: each is named with the fingerprint of the key
   * the creator lists for it, and whether their messages come straight
   * from them or through the creator (still signed by their author).
   */
  private async groupAcceptFacts(groupId: unknown): Promise<string[]> {
    const group = await this.listedGroup(groupId);
    const facts = [line('asks', "to join the group below: its members' agents can send messages to yours, and yours to theirs")];
    if (typeof group === 'string') return [...facts, line('group', group)];
    facts.push(...groupNameFacts(group), line('creator', 'the node below, which invites you'), ...(await this.peerFacts(group.creator)));
    const others = group.members.filter((member) => member.peer !== group.creator);
    facts.push(line('members', `${group.members.length}, the creator included; names as the creator lists them (anyone can pick any name: compare the fingerprint)`));
    for (const member of others) facts.push(memberLine(member));
    if (group.state !== 'invited') facts.push(line('state', `${printable(group.state)}: only an open invite can be accepted; the extension will refuse this call`));
    return facts;
  }

  /** Inviting shows the invitee the whole member list: the people on it may not know the invitee. */
  private async groupInviteFacts(groupId: unknown, peer: string | undefined): Promise<string[]> {
    return [
      line('asks', 'to invite the peer below to the group; its user decides whether to join'),
      ...(await this.groupFacts(groupId)),
      ...(await this.peerFacts(peer)),
      line('shares', "the invitee will see every member's name and fingerprint"),
    ];
  }

  /** The group a call names: its name (the creator's choice), id and member count. */
  private async groupFacts(groupId: unknown): Promise<string[]> {
    const group = await this.listedGroup(groupId);
    return typeof group === 'string' ? [line('group', group)] : groupNameFacts(group);
  }

  /** The group as the extension lists it, or why the dialog cannot show it. */
  private async listedGroup(groupId: unknown): Promise<ListedGroupFacts | string> {
    if (typeof groupId !== 'string') return 'not named';
    const listed = await this.directory.listedGroups?.();
    if (listed === undefined) return `${printable(groupId)}: unknown (the extension could not be asked)`;
    return listed.find((group) => group.group === groupId) ?? `${printable(groupId)} is not a group this node holds or was invited to; the extension will refuse this call`;
  }
}

function groupNameFacts(group: ListedGroupFacts): string[] {
  return [line('group', `${printableJson(group.name)} (chosen by the creator)`), line('group id', `${printable(group.group)}, ${group.members.length} member(s)`)];
}

/** One member of a group this node is asked to join: who, and whether its messages come straight from it or through the creator. */
function memberLine(member: ListedGroupFacts['members'][number]): string {
  const paired = member.paired ? 'yes' : 'no — its messages reach you through the creator, signed by it';
  return line('member', `${printableJson(member.name)} fingerprint ${printable(member.fingerprint)}; paired with you: ${paired}`);
}

/** The most rotations a key chain holds (docs/protocol.md §19). */
const MAX_ROTATIONS = 16;
const KEY_ROTATION_CAPABILITY = 'key-rotation-v1';

/** A paired peer whose last hello did not list key rotation: its handshake would refuse the chain. */
function lacksKeyRotation(peer: ListedPeer): boolean {
  const capabilities = peer.capabilities?.capabilities;
  return Array.isArray(capabilities) && !capabilities.includes(KEY_ROTATION_CAPABILITY);
}

function graceText(graceSeconds: unknown): string {
  if (typeof graceSeconds !== 'number' || !Number.isSafeInteger(graceSeconds)) return 'the grace period (30 days unless P2P_COMM_KEY_GRACE_SECONDS sets another)';
  return graceSeconds >= 86_400 ? `${Math.floor(graceSeconds / 86_400)} day(s)` : `${graceSeconds} seconds`;
}

/** A rotated peer: from which key, when, and that the old key vouched for the new one. */
function keyChangeFacts(peer: KnownPeer): string[] {
  const previous = peer.previous_fingerprints?.at(-1);
  if (previous === undefined) return [];
  const when = typeof peer.key_rotated_at === 'string' ? ` on ${printable(peer.key_rotated_at)}` : '';
  return [line('key changed', `from ${printable(previous)}${when}, signed by the old key`)];
}

/** The peer a call names, when its `peer` field is a well-formed peer id. */
function peerIn(input: Record<string, unknown>): string | undefined {
  const peer = input['peer'];
  return typeof peer === 'string' && PEER_ID_PATTERN.test(peer) ? peer : undefined;
}

/**
 * A requester that renamed itself after its request arrived could otherwise
 * be accepted under a name the person never saw: each change is spelled out,
 * next to the name the request arrived with (the one accept pins).
 */
function changeFacts(operation: string, changed: RequestChanges | null): string[] {
  if (changed === null) return [];
  const facts: string[] = [];
  if (changed.display_name !== undefined) {
    const { from, to } = changed.display_name;
    const pinned = operation === 'accept' ? `; accepting pairs under the name it arrived with, ${printableJson(from)}` : '';
    facts.push(line('WARNING', `name changed from ${printableJson(from)} to ${printableJson(to)} since the request arrived${pinned}`));
  }
  if (changed.address !== undefined) {
    facts.push(line('WARNING', `address changed from ${addressText(changed.address.from)} to ${addressText(changed.address.to)} since the request arrived`));
  }
  const now = changed.display_name === undefined && changed.address === undefined ? '; its latest name and address are again the ones above' : '';
  facts.push(line('changes', `the requester changed its name or address ${printable(String(changed.changes))} time(s), last at ${printable(changed.changed_at)}${now}`));
  return facts;
}

/**
 * The agent's name, a preview of its description and its skills' names,
 * each escaped and marked as whose words they are. Nothing when there is
 * no card (a peer before agent cards sends none).
 */
function agentCardFacts(card: AgentCardFacts | null, whose: string): string[] {
  if (card === null || typeof card !== 'object') return [];
  const facts: string[] = [];
  if (typeof card.name === 'string') facts.push(line('agent', `${printableJson(card.name)} ${whose}`));
  if (typeof card.description === 'string') facts.push(line('about', preview(card.description)));
  const skills = Array.isArray(card.skills) ? card.skills.map((skill: unknown) => (skill as { name?: unknown } | null)?.name).filter((name): name is string => typeof name === 'string') : [];
  if (skills.length > 0) {
    const more = skills.length > MAX_SKILLS_SHOWN ? ` and ${skills.length - MAX_SKILLS_SHOWN} more` : '';
    facts.push(line('skills', `${skills.slice(0, MAX_SKILLS_SHOWN).map((name) => printableJson(name)).join(', ')}${more}`));
  }
  return facts;
}

/** A requester that swapped its card after the request arrived may hope the person read the first one. */
function cardChangeFacts(changes: number): string[] {
  if (!Number.isSafeInteger(changes) || changes <= 0) return [];
  return [line('WARNING', `its agent card changed ${changes} time(s) since the request arrived; the lines above are the latest`)];
}

/** What a2a_set_card will show every paired peer, as the plugin wrote it (the extension checks the rest). */
function ownCardFacts(card: unknown): string[] {
  if (card === null) return [line('asks', 'to withdraw this node’s agent card: paired peers no longer see one')];
  if (typeof card !== 'object') return [];
  return [line('asks', 'to show every paired peer this agent card for your agent, signed with this node’s key'), ...agentCardFacts(card as AgentCardFacts, '(as the plugin wrote it)')];
}

/** "268,435,456 bytes (256.0 MiB)": exact, and as people read it. */
function sizeText(bytes: number): string {
  return `${bytes.toLocaleString('en-US')} bytes (${(bytes / (1024 * 1024)).toFixed(1)} MiB)`;
}

function addressText(address: string | null): string {
  return address === null ? 'none' : printable(address);
}

function contentFacts(type: unknown, content: unknown): string[] {
  if (content === undefined) return [];
  const text = typeof content === 'string' ? content : JSON.stringify(content) ?? '';
  return [
    line('content', `${typeof type === 'string' ? printable(type) : 'unknown type'}, ${Buffer.byteLength(text, 'utf8').toLocaleString('en-US')} bytes`),
    line('preview', preview(text)),
  ];
}

/** The text's first PREVIEW_CHARACTERS characters, escaped, saying when it was cut. */
function preview(text: string): string {
  const characters = [...text];
  const shown = printableJson(characters.slice(0, PREVIEW_CHARACTERS).join(''));
  return characters.length > PREVIEW_CHARACTERS ? `${shown} … (first ${PREVIEW_CHARACTERS} of ${characters.length} characters)` : shown;
}

function line(label: string, value: string): string {
  return `${label.padEnd(LABEL_WIDTH)}${value}`;
}
