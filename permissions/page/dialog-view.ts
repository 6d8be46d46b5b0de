import { html, type Html } from './html';
import type { OpenDialog } from './page-prompter';
import { relativeTime } from './resource-view';

/** The dialogs waiting for the person, each a form whose buttons are the answers the terminal offers too. */
export function renderDialogs(dialogs: readonly OpenDialog[] | undefined, now: number): Html {
  if (dialogs === undefined) {
    return html`<section class="dialogs" id="dialogs" data-live><h2>Waiting for your answer</h2><p class="description">Dialogs are answered by the policy file this host was started with.</p></section>`;
  }
  return html`<section class="dialogs" id="dialogs" data-live>
  <h2>Waiting for your answer <span class="count">${dialogs.length}</span></h2>
  ${
    dialogs.length === 0
      ? html`<p class="empty">No plugin is waiting for you. Questions appear here as plugins ask, and on the terminal too; the first answer counts.</p>`
      : dialogs.map((dialog) => renderDialog(dialog, now))
  }
</section>`;
}

/** "plugin “agent”: send": how a notice names the dialog it answered. */
export function dialogName(dialog: OpenDialog): string {
  return `plugin “${dialog.context.plugin}”: ${dialog.context.operation}`;
}

const HEADLINES: Record<OpenDialog['kind'], string> = {
  permission: 'uses a permission that is not granted yet',
  scope: 'asks for a scope it has not been allowed yet',
  risk: 'makes a high-risk call, approved one call at a time',
};

function renderDialog(dialog: OpenDialog, now: number): Html {
  const { context } = dialog;
  return html`<form method="post" action="/ui/dialogs" class="dialog" data-dialog="${dialog.id}">
  <h3>Plugin “${context.plugin}” ${HEADLINES[dialog.kind]}</h3>
  <dl>
    <dt>Operation</dt><dd><code>${context.extension} / ${context.operation}</code>: ${context.description}</dd>
    <dt>Permission</dt><dd><code>${context.permission}</code></dd>
    <dt>Risk</dt><dd>${context.riskLevel}</dd>
    ${context.scope !== undefined && html`<dt>Scope</dt><dd><code>${context.scope.key} = ${context.scope.value}</code> ${context.scope.description}</dd>`}
    ${context.details.map((detail) => html`<dt></dt><dd>${detail}</dd>`)}
    ${dialog.kind === 'risk' && html`<dt>Input</dt><dd><pre>${JSON.stringify(context.input, null, 2)}</pre></dd>`}
    <dt>Asked</dt><dd>${relativeTime(new Date(dialog.openedAt).toISOString(), now)}</dd>
  </dl>
  <input type="hidden" name="dialog" value="${dialog.id}">
  ${dialog.answers.map(({ answer, meaning }) => html`<button type="submit" name="answer" value="${answer}">${meaning}</button>`)}
</form>`;
}
