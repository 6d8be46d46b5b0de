/**
 * The page's only script and style sheet, served from /ui/ so that the
 * content security policy can forbid every inline script and style.
 *
 * The script keeps an open page current: the host sends `change` on
 * /ui/updates when a dialog opens or closes or something happens to a peer,
 * and the script fetches the page again and swaps in every `data-live`
 * section, except one where the person is typing or has changed an open
 * form (it is brought up to date once they move on). When dialogs come or
 * go, their section takes no clicks for a moment, so a button moving under
 * the pointer cannot be clicked by mistake.
 * The fetch says so in a header, so the host keeps the page's one-time
 * notice for the next real load. The page works without it (reload by
 * hand).
 */
export const PAGE_SCRIPT = `'use strict';
(() => {
  let fetching = false;
  let again = false;
  const typing = (element) => document.activeElement !== null && element.contains(document.activeElement) && document.activeElement.matches('input, textarea, select');
  const changed = (input) =>
    input instanceof HTMLSelectElement ? [...input.options].some((option) => option.selected !== option.defaultSelected) :
    (input instanceof HTMLInputElement || input instanceof HTMLTextAreaElement) && input.value !== input.defaultValue;
  const edited = (element) => [...element.querySelectorAll('details[open] form')].some((form) => [...form.elements].some(changed));
  const busy = (element) => typing(element) || edited(element);
  const dialogs = (element) => [...element.querySelectorAll('[data-dialog]')].map((dialog) => dialog.dataset.dialog).join();
  // When dialogs come or go the buttons move: for a moment nothing there can be clicked, so a click meant for one dialog cannot land on another.
  const steady = (element) => { element.inert = true; setTimeout(() => { element.inert = false; }, 700); };
  const refresh = async () => {
    if (fetching) { again = true; return; }
    fetching = true;
    try {
      const response = await fetch(location.href, { credentials: 'same-origin', headers: { 'x-page-refresh': '1' } });
      // Logged out, expired, or a restarted host: the page itself says how to log in again.
      if (response.status === 401) { location.reload(); return; }
      if (!response.ok) return;
      const next = new DOMParser().parseFromString(await response.text(), 'text/html');
      for (const fresh of next.querySelectorAll('[data-live]')) {
        const current = document.getElementById(fresh.id);
        if (current === null) continue;
        if (busy(current)) {
          // Left alone for now; brought up to date once the person moves on.
          current.addEventListener('focusout', () => void refresh(), { once: true });
          continue;
        }
        const open = new Set([...current.querySelectorAll('details[open]')].map((element) => element.dataset.key).filter(Boolean));
        for (const details of fresh.querySelectorAll('details[data-key]')) if (open.has(details.dataset.key)) details.open = true;
        const replacement = document.importNode(fresh, true);
        if (dialogs(current) !== dialogs(replacement)) steady(replacement);
        current.replaceWith(replacement);
      }
      document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed ?? '0') + 1);
    } finally {
      fetching = false;
      if (again) { again = false; void refresh(); }
    }
  };
  const updates = new EventSource('/ui/updates');
  updates.addEventListener('change', () => void refresh());
  // On every (re)connection: what changed while no stream was open is fetched too.
  updates.addEventListener('open', () => { document.body.dataset.live = 'yes'; void refresh(); });
})();
`;

export const PAGE_STYLE = `
:root { font-family: system-ui, sans-serif; color: #1d232b; background: #f6f7f9; }
body { margin: 0 auto; max-width: 78rem; padding: 1rem 1.5rem 3rem; }
header { display: flex; flex-wrap: wrap; gap: 0.5rem 2rem; align-items: baseline; border-bottom: 1px solid #d6dae0; padding-bottom: 0.75rem; }
header h1 { font-size: 1.4rem; margin: 0; }
header dl { display: grid; grid-template-columns: auto 1fr; gap: 0.2rem 0.8rem; margin: 0; flex: 1; }
header form { margin-left: auto; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 0.3rem; }
.count { font-size: 0.85rem; color: #5b6573; font-weight: normal; }
.description, small { color: #5b6573; }
small { display: block; margin: 0.1rem 0 0.6rem; font-size: 0.8rem; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: 0.4rem 0.5rem; border-bottom: 1px solid #e3e6ea; vertical-align: top; }
th a { color: inherit; text-decoration: none; }
code, .mono, textarea.link { font-family: ui-monospace, monospace; font-size: 0.85rem; word-break: break-all; }
pre { white-space: pre-wrap; word-break: break-word; background: #f0f2f5; padding: 0.5rem; margin: 0; }
dl { display: grid; grid-template-columns: minmax(8rem, max-content) 1fr; gap: 0.2rem 0.8rem; }
dt { color: #5b6573; }
dd { margin: 0; }
label { display: block; font-weight: 600; margin-top: 0.5rem; }
label input, label textarea, label select { display: block; width: 100%; max-width: 40rem; margin-top: 0.2rem; font: inherit; font-weight: normal; }
button { font: inherit; padding: 0.3rem 0.9rem; margin: 0.4rem 0.4rem 0 0; cursor: pointer; }
button.delete, .danger summary { color: #a3161b; }
.chip { border-radius: 1rem; padding: 0.05rem 0.55rem; font-size: 0.8rem; background: #e3e6ea; white-space: nowrap; }
.chip-trusted, .chip-delivered, .chip-accepted { background: #d3f0da; }
.chip-requested, .chip-queued, .chip-waiting_for_you, .chip-sent { background: #fdf0c4; }
.chip-revoked_by_peer, .chip-rejected, .chip-failed, .chip-expired { background: #f8d4d4; }
.flag-true { color: #146c2e; }
.none { color: #98a1ad; }
.notice { padding: 0.6rem 0.8rem; margin: 1rem 0; background: #e4f1fb; border-left: 4px solid #2c7bb6; }
.notice.failed { background: #fbe6e6; border-color: #a3161b; }
.dialogs .dialog { background: #fff8e1; border: 2px solid #e0a800; padding: 0.6rem 0.9rem; margin: 0.6rem 0; }
.dialog h3 { margin: 0 0 0.3rem; font-size: 1rem; }
.activity td, .activity th { font-size: 0.85rem; }
.untrusted { border: 2px dashed #a3161b; padding: 0.5rem; background: #fff; }
`;
