import type { ResourceTypeDefinition } from '../../extension/common/manifest';
import { html, type Html } from './html';
import { createForm, editForm } from './resource-forms';
import { editableProperties, idProperty, label, properties, type PropertySchema } from './resource-schema';

/**
 * One resource type as the web page shows it, read from the manifest as
 * Nexus reads it (one source): a table of `list_view.columns` with each
 * property's `x-display` label, every row's other fields and its edit form
 * behind a disclosure, a create form when `capabilities.create` is not false.
 * Editable fields are those with `x-resource-role: editable`.
 */

export type Row = Record<string, unknown>;

export interface ListedPage {
  items: Row[];
  total: number;
  page: number;
  pageSize: number;
  sortBy: string | undefined;
  sortOrder: 'asc' | 'desc';
}

export interface ResourceViewOptions {
  type: string;
  definition: ResourceTypeDefinition;
  listed: ListedPage;
  /** Added to a row's details: the peers' recent messages. */
  rowExtra?: (row: Row) => Html | null;
  /** Where a sort or page link goes: the page's URL with this type's list parameters set. */
  listHref: (changes: { page?: number; sortBy?: string; sortOrder?: 'asc' | 'desc' }) => string;
  now: number;
}

export function renderResource(options: ResourceViewOptions): Html {
  const { type, definition, listed } = options;
  const props = properties(definition);
  const columns = definition.list_view?.columns ?? Object.keys(props);
  const capabilities = { create: true, update: true, delete: true, ...definition.capabilities };
  const idKey = idProperty(definition);
  const pages = Math.max(1, Math.ceil(listed.total / listed.pageSize));
  return html`<section class="resource" id="resource-${type}" data-live>
  <h2>${definition.label} <span class="count">${listed.total}</span></h2>
  ${definition.description === undefined ? '' : html`<p class="description">${definition.description}</p>`}
  ${capabilities.create && createForm(type, definition)}
  ${
    listed.items.length === 0
      ? html`<p class="empty">None.</p>`
      : html`<table>
    <thead><tr>${columns.map((column) => sortHeader(options, column, label(props, column)))}<th></th></tr></thead>
    <tbody>${listed.items.map((row) => renderRow(options, row, columns, idKey, capabilities))}</tbody>
  </table>`
  }
  ${
    pages > 1 &&
    html`<nav class="pages">page ${listed.page} of ${pages}
    ${listed.page > 1 && html`<a href="${options.listHref({ page: listed.page - 1 })}">previous</a>`}
    ${listed.page < pages && html`<a href="${options.listHref({ page: listed.page + 1 })}">next</a>`}</nav>`
  }
</section>`;
}

function sortHeader(options: ResourceViewOptions, column: string, text: string): Html {
  const { sortBy, sortOrder } = options.listed;
  const current = sortBy === column;
  const next = current && sortOrder === 'asc' ? 'desc' : 'asc';
  const arrow = current ? (sortOrder === 'asc' ? ' ▲' : ' ▼') : '';
  return html`<th><a href="${options.listHref({ sortBy: column, sortOrder: next, page: 1 })}">${text}${arrow}</a></th>`;
}

function renderRow(options: ResourceViewOptions, row: Row, columns: string[], idKey: string, capabilities: { update: boolean; delete: boolean }): Html {
  const { type, definition } = options;
  const props = properties(definition);
  const id = String(row[idKey] ?? '');
  const others = Object.keys(props).filter((name) => !columns.includes(name) && Object.hasOwn(row, name));
  const editable = editableProperties(definition).filter((name) => Object.hasOwn(row, name) || props[name]?.enum !== undefined);
  const rowExtra = options.rowExtra?.(row) ?? null;
  return html`<tr class="row" data-id="${id}">
  ${columns.map((column) => html`<td data-column="${column}">${value(props[column], row[column], options.now)}</td>`)}
  <td class="more"><details data-key="${type}/${id}"><summary>Details</summary>
    <dl>${[idKey, ...others.filter((name) => name !== idKey)].map((name) => html`<dt>${label(props, name)}</dt><dd data-field="${name}">${value(props[name], row[name], options.now)}</dd>`)}</dl>
    ${rowExtra}
    ${capabilities.update && editable.length > 0 && editForm(type, definition, row, id, editable)}
    ${
      capabilities.delete &&
      html`<details class="danger" data-key="${type}/${id}/delete"><summary>Delete…</summary>
      <form method="post" action="/ui/resources/${type}/delete">
        <input type="hidden" name="id" value="${id}">
        <p>${definition.description ?? ''}</p>
        <button type="submit" class="delete">Delete</button>
      </form></details>`
    }
  </details></td>
</tr>`;
}

/** A value as its `x-display` asks: a chip for a status, code for monospace, a relative time, a list, a JSON block. */
export function value(schema: PropertySchema | undefined, raw: unknown, now: number): Html {
  if (raw === null || raw === undefined || raw === '') return html`<span class="none">—</span>`;
  const display = schema?.['x-display'];
  if (typeof raw === 'boolean') return html`<span class="flag flag-${String(raw)}">${raw ? 'yes' : 'no'}</span>`;
  if (Array.isArray(raw)) return html`${raw.map((item, index) => html`${index > 0 && ', '}<code><bdi>${String(item)}</bdi></code>`)}`;
  if (typeof raw === 'object') return html`<pre>${JSON.stringify(raw, null, 2)}</pre>`;
  const text = String(raw);
  if (display?.variant === 'status-indicator') return html`<span class="chip chip-${text}">${text.replaceAll('_', ' ')}</span>`;
  if (display?.variant === 'monospace') return html`<code>${text}</code>`;
  if (display?.variant === 'relative-time' || display?.format === 'relative-time') return html`<time datetime="${text}" title="${text}">${relativeTime(text, now)}</time>`;
  // Self-chosen text is isolated, so a right-to-left name cannot reorder what follows it.
  return html`<bdi>${text}</bdi>`;
}

export function relativeTime(iso: string, now: number): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const seconds = Math.round((now - at) / 1000);
  const future = seconds < 0;
  const span = Math.abs(seconds);
  const amount =
    span < 60 ? `${span} s` : span < 3600 ? `${Math.floor(span / 60)} min` : span < 86_400 ? `${Math.floor(span / 3600)} h` : `${Math.floor(span / 86_400)} d`;
  return future ? `in ${amount}` : `${amount} ago`;
}
