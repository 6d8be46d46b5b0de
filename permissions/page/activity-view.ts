import { html, type Html } from './html';
import type { PeerActivity } from './peer-activity';
import { relativeTime } from './resource-view';

/** A peer's recent messages as metadata; a received one still in the inbox links to its content. */
export function renderActivity(activity: PeerActivity, peer: string, now: number): Html {
  const entries = activity.recent(peer);
  if (entries.length === 0) return html`<p class="empty">No messages since this host started.</p>`;
  return html`<table class="activity"><caption>Recent messages (what, not what they said)</caption>
  <thead><tr><th></th><th>Type</th><th>Size</th><th>State</th><th>When</th><th></th></tr></thead>
  <tbody>${entries.map(
    (entry) => html`<tr data-message="${entry.messageId}">
    <td>${entry.direction === 'in' ? 'from them' : 'to them'}</td><td>${entry.type}</td><td>${entry.size} B</td>
    <td><span class="chip chip-${entry.state}">${entry.state}</span>${entry.reason === undefined ? '' : html` <small>${entry.reason}</small>`}</td>
    <td>${relativeTime(new Date(entry.at).toISOString(), now)}</td>
    <td>${entry.cursor !== undefined && html`<a href="/ui/message?peer=${peer}&amp;cursor=${entry.cursor}">Open</a>`}</td>
  </tr>`,
  )}</tbody></table>`;
}
