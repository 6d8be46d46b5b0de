import type { PendingIncoming } from '../trust/pending-requests';

/** One claimed value then and now. */
export interface ClaimChange<T> {
  from: T;
  to: T;
}

/**
 * How a pending request's latest repeat differs from the request as it
 * arrived, as the `requests` operation and the `p2p.peer.request` event show
 * it: a field is named only while it differs, and `changes` counts every
 * change, so a name changed and changed back is still shown as changed.
 */
export interface ChangesSinceArrival {
  display_name?: ClaimChange<string>;
  address?: ClaimChange<string | null>;
  changes: number;
  changed_at: string;
}

/** null while no repeat has changed the name or the address. */
export function changesSinceArrival(request: PendingIncoming): ChangesSinceArrival | null {
  const latest = request.latestClaim;
  if (latest === null) return null;
  return {
    ...(latest.displayName === request.displayName ? {} : { display_name: { from: request.displayName, to: latest.displayName } }),
    ...(latest.address === request.address ? {} : { address: { from: request.address, to: latest.address } }),
    changes: latest.changes,
    changed_at: latest.changedAt.toISOString(),
  };
}
