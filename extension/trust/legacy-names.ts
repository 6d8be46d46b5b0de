import { isLegacyDisplayName, UNNAMED_PEER } from '../common/display-name';

/**
 * Earlier p2p-comm builds stored a peer's claimed name under a narrower rule
 * (common/display-name.ts), so trusted_peers.json and pending_requests.json
 * may hold names the display-name rule now refuses. Refusing the whole file
 * for that would stop a node whose trust is intact; such a name is replaced
 * by UNNAMED_PEER instead, as a name claimed today would be, until the peer
 * names itself again. Any other damage is left for the file's checks.
 *
 * Runs on the parsed file before it is checked, so it touches only entries
 * of the expected shape. The names themselves are never repeated in the
 * note: they hold the very characters that make them unfit to show.
 */
const LISTED_PEERS = 8;

/** Replaces legacy names in the entries under each of `lists`; returns at most one sentence saying which. */
export function replaceLegacyNames(file: unknown, lists: readonly string[]): string[] {
  const replaced: string[] = [];
  for (const list of lists) {
    for (const [peer, entry] of peerEntries(file, list)) {
      if (!isRecord(entry)) continue;
      const name = entry['display_name'];
      if (typeof name !== 'string' || !isLegacyDisplayName(name)) continue;
      entry['display_name'] = UNNAMED_PEER;
      replaced.push(peer);
    }
  }
  if (replaced.length === 0) return [];
  const more = replaced.length > LISTED_PEERS ? ` and ${replaced.length - LISTED_PEERS} more` : '';
  return [
    `${replaced.length} stored display name(s) held zero-width, C1 control or other invisible characters the display-name rule now refuses ` +
      `(peers ${replaced.slice(0, LISTED_PEERS).join(', ')}${more}); they are shown as "${UNNAMED_PEER}" until each peer names itself again`,
  ];
}

/** `file[list]` labelled by peer id: an object's entries by key (trusted_peers.json), an array's by their `peer` field (pending_requests.json). */
function peerEntries(file: unknown, list: string): [string, unknown][] {
  const entries = isRecord(file) ? file[list] : undefined;
  if (Array.isArray(entries)) return entries.map((entry) => [isRecord(entry) ? String(entry['peer']) : '?', entry]);
  return isRecord(entries) ? Object.entries(entries) : [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
