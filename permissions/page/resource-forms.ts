import type { ResourceTypeDefinition } from '../../extension/common/manifest';
import { html, type Html } from './html';
import { PageError } from './page-http';
import { editableProperties, label, properties, type PropertySchema } from './resource-schema';
import type { Row } from './resource-view';

/**
 * The forms of a resource type, from its schema: a create form of the
 * editable fields, an edit form that sends the row back as it was shown
 * (as Nexus's form does), and the data such a form sends.
 */

export function createForm(type: string, definition: ResourceTypeDefinition): Html {
  const props = properties(definition);
  const required = ((definition.schema as { required?: string[] }).required ?? []) as string[];
  return html`<details class="create" data-key="${type}/create"><summary>Add</summary>
  <form method="post" action="/ui/resources/${type}/create">
    ${editableProperties(definition).map((name) => field(name, props[name] ?? {}, undefined, required.includes(name)))}
    <button type="submit">Add</button>
  </form></details>`;
}

/** Nexus sends the whole row with the edited fields; so does this form, the row as it was shown. */
export function editForm(type: string, definition: ResourceTypeDefinition, row: Row, id: string, editable: string[]): Html {
  const props = properties(definition);
  return html`<form method="post" action="/ui/resources/${type}/update" class="edit">
    <input type="hidden" name="id" value="${id}">
    <input type="hidden" name="row" value="${JSON.stringify(row)}">
    ${editable.map((name) => field(name, props[name] ?? {}, row[name], false))}
    <button type="submit">Save</button>
  </form>`;
}

function field(name: string, schema: PropertySchema, current: unknown, required: boolean): Html {
  const text = label({ [name]: schema }, name);
  const input = schema['x-display']?.input;
  const shown = typeof current === 'string' ? current : '';
  let control: Html;
  if (schema.enum !== undefined) {
    const choices = schema.enum.filter((choice): choice is string => typeof choice === 'string');
    control = html`<select name="field.${name}" required><option value=""${choices.includes(current as string) ? '' : ' selected'}>choose…</option>${choices.map((choice) => html`<option value="${choice}"${choice === current ? ' selected' : ''}>${choice}</option>`)}</select>`;
  } else if (input === 'textarea') {
    control = html`<textarea name="field.${name}" rows="3"${required ? ' required' : ''}${schema.maxLength === undefined ? '' : html` maxlength="${schema.maxLength}"`}>${shown}</textarea>`;
  } else {
    control = html`<input type="text" name="field.${name}" value="${shown}"${required ? ' required' : ''}${schema.maxLength === undefined ? '' : html` maxlength="${schema.maxLength}"`}>`;
  }
  return html`<label>${text}${control}</label>${schema.description === undefined ? '' : html`<small>${schema.description}</small>`}`;
}

/** The data a create or update form sends: the row as shown (for an update), with the editable fields entered. */
export function formData(definition: ResourceTypeDefinition, verb: 'create' | 'update', form: URLSearchParams): Row {
  let data: Row = {};
  if (verb === 'update') {
    try {
      const row: unknown = JSON.parse(form.get('row') ?? '{}');
      if (typeof row === 'object' && row !== null && !Array.isArray(row)) data = row as Row;
    } catch {
      throw new PageError(400, 'invalid_input', 'the form lost the row it was shown with; reload the page and try again');
    }
  }
  const props = properties(definition);
  for (const name of editableProperties(definition)) {
    const entered = form.get(`field.${name}`);
    if (entered === null) continue;
    const type = props[name]?.type;
    // An emptied field means "none" where the schema allows it (a note removed), and is left out where it does not.
    if (entered === '') {
      if (Array.isArray(type) && type.includes('null')) data[name] = null;
      else delete data[name];
      continue;
    }
    data[name] = entered;
  }
  return data;
}
