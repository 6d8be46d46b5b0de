import t from 'tap';
import { manifest, type ResourceTypeDefinition } from '../../../extension/common/manifest';
import { html } from '../../../permissions/page/html';
import { relativeTime, renderResource, type ListedPage, type ResourceViewOptions, type Row } from '../../../permissions/page/resource-view';

const NOW = Date.parse('2026-11-30T12:00:00.000Z');
const PEERS = manifest.resources['peers'] as ResourceTypeDefinition;
const REQUESTS = manifest.resources['requests'] as ResourceTypeDefinition;

const RLO = '\u202E';
const SCRIPT = '<script>alert(1)</script>';
const BREAKOUT = `"><img src=x onerror=alert(1)>`;
const SINGLE = `' autofocus onfocus='alert(1)`;

function peerRow(text: (field: string) => string): Row {
  return {
    id: text('id'),
    self_chosen_name: text('self_chosen_name'),
    note: text('note'),
    fingerprint: text('fingerprint'),
    safety_number: text('safety_number'),
    state: text('state'),
    request_state: text('request_state'),
    online: true,
    path: text('path'),
    addresses: [text('address0'), text('address1')],
    last_seen: text('last_seen'),
    trusted_at: '2026-11-30T11:00:00.000Z',
    capabilities: { agent: text('agent') },
  };
}

function requestRow(text: (field: string) => string): Row {
  return {
    id: text('id'),
    direction: text('direction'),
    fingerprint: text('fingerprint'),
    self_chosen_name: text('self_chosen_name'),
    peer: text('peer'),
    safety_number: text('safety_number'),
    address: text('address'),
    state: text('state'),
    created_at: '2026-11-30T11:59:00.000Z',
    expires_at: text('expires_at'),
    changes_since_arrival: { name: text('changed_name') },
    attempts: 2,
    last_error: text('last_error'),
  };
}

/** Plain letters: no character that could be markup. */
const benign = (field: string): string => `plain${field.replace(/[^a-z0-9]/g, '')}`;
const ATTACKS = [SCRIPT, BREAKOUT, SINGLE, `${RLO}evil.exe`];
/** Every text field of a row carrying the same attack. */
const hostile =
  (attack: string) =>
  (field: string): string =>
    `${attack}${field}`;

function listed(items: Row[], changes: Partial<ListedPage> = {}): ListedPage {
  return { items, total: items.length, page: 1, pageSize: 25, sortBy: undefined, sortOrder: 'asc', ...changes };
}

const hrefs: Parameters<ResourceViewOptions['listHref']>[0][] = [];
function render(type: string, definition: ResourceTypeDefinition, page: ListedPage, extra: Partial<ResourceViewOptions> = {}): string {
  return renderResource({
    type,
    definition,
    listed: page,
    now: NOW,
    listHref: (changes) => {
      hrefs.push(changes);
      return `/ui/?${type}.page=${changes.page ?? ''}&${type}.sort=${changes.sortBy ?? ''}&${type}.order=${changes.sortOrder ?? ''}`;
    },
    ...extra,
  }).text;
}

/** What makes markup: tag names in order, and every <, >, " and ' the template wrote. */
function skeleton(text: string): { tags: string[]; markup: string } {
  return { tags: [...text.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9]*)/g)].map((match) => match[0]), markup: text.replace(/[^<>"']/g, '') };
}

/** The values of an attribute, unescaped as a browser would read them. */
function attributeValues(text: string, name: string): string[] {
  return [...text.matchAll(new RegExp(`\\s${name}="([^"]*)"`, 'g'))].map((match) =>
    (match[1] as string).replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&'),
  );
}

for (const [type, definition, row] of [
  ['peers', PEERS, peerRow],
  ['requests', REQUESTS, requestRow],
] as const) {
  t.test(`${type}: hostile row values make no markup`, async (t) => {
    const safe = skeleton(render(type, definition, listed([row(benign)])));
    for (const attack of ATTACKS) {
      const attacked = render(type, definition, listed([row(hostile(attack))]));
      t.same(skeleton(attacked), safe, `${JSON.stringify(attack)} in every field: the same tags and quotes as a row of plain letters`);
      t.notMatch(attacked, /<script|<img|onerror=alert\(1\)>|' autofocus/);
    }
    t.match(render(type, definition, listed([row(hostile(SCRIPT))])), '<bdi>&lt;script&gt;alert(1)&lt;/script&gt;self_chosen_name</bdi>', 'a script is shown as text');
    t.match(render(type, definition, listed([row(hostile(BREAKOUT))])), 'data-id="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;id"', 'an attribute breakout stays inside the attribute');
    t.match(render(type, definition, listed([row(hostile(SINGLE))])), '&#39; autofocus onfocus=&#39;alert(1)', 'single quotes are escaped too');
  });

  t.test(`${type}: the row a form sends back is the row shown, quotes and all`, async (t) => {
    const hostileRow = row(hostile(BREAKOUT + SINGLE + RLO));
    const attacked = render(type, definition, listed([hostileRow]));
    const rows = attributeValues(attacked, 'value').filter((value) => value.startsWith('{'));
    t.equal(rows.length, 1, 'one hidden row in the edit form');
    t.same(JSON.parse(rows[0] as string), hostileRow);
    t.ok(attributeValues(attacked, 'data-id').includes(hostileRow['id'] as string), 'the id survives as an attribute value');
  });
}

t.test('a self-chosen name, a note and an address with a right-to-left override are isolated', async (t) => {
  const name = `${RLO}gpj.exe`;
  const peers = render('peers', PEERS, listed([{ ...peerRow(benign), self_chosen_name: name, note: `${RLO}note` }]));
  t.match(peers, `<td data-column="self_chosen_name"><bdi>${name}</bdi></td>`);
  t.match(peers, `<td data-column="note"><bdi>${RLO}note</bdi></td>`);
  const requests = render('requests', REQUESTS, listed([{ ...requestRow(benign), address: `${RLO}1.2.3.4:5`, self_chosen_name: name }]));
  t.match(requests, `<td data-column="address"><bdi>${RLO}1.2.3.4:5</bdi></td>`);
  t.match(requests, `<td data-column="self_chosen_name"><bdi>${name}</bdi></td>`);
});

t.test('columns and their labels are the manifest\'s', async (t) => {
  for (const [type, definition, row] of [
    ['peers', PEERS, peerRow],
    ['requests', REQUESTS, requestRow],
  ] as const) {
    const text = render(type, definition, listed([row(benign)]));
    const columns = definition.list_view?.columns ?? [];
    t.ok(columns.length > 0, `${type} declares columns`);
    const props = (definition.schema as { properties: Record<string, { 'x-display'?: { label?: string } }> }).properties;
    const head = /<thead>(.*?)<\/thead>/s.exec(text)?.[1] ?? '';
    const headers = [...head.matchAll(/<th><a href="[^"]*">([^<]*)<\/a><\/th>/g)].map((match) => (match[1] as string).replace(/ [▲▼]$/, ''));
    const labels = columns.map((column) => (props[column]?.['x-display']?.label ?? column).replaceAll('&', '&amp;'));
    t.same(headers, labels, `${type}: the header cells are the columns' x-display labels, in order`);
    t.same([...text.matchAll(/<td data-column="([^"]+)"/g)].map((match) => match[1]), columns, `${type}: one cell per column, in order`);
    const details = [...text.matchAll(/<dd data-field="([^"]+)"/g)].map((match) => match[1]);
    t.equal(details[0], 'id', 'the details start with the id');
    t.notOk(details.some((field) => columns.includes(field as string)), 'the details hold the other fields only');
  }
  t.match(render('peers', PEERS, listed([peerRow(benign)])), '<dt>Safety number</dt>', 'a detail\'s label is its x-display label');
});

t.test('a changed manifest changes the view: nothing is written into the view itself', async (t) => {
  const definition: ResourceTypeDefinition = {
    ...PEERS,
    label: 'Friends',
    list_view: { columns: ['fingerprint', 'note'] },
    schema: {
      ...PEERS.schema,
      properties: {
        ...(PEERS.schema['properties'] as Record<string, unknown>),
        fingerprint: { type: 'string', 'x-resource-role': 'readonly', 'x-display': { label: 'Key <print>' } },
        note: { type: ['string', 'null'], 'x-resource-role': 'editable' },
      },
    },
  };
  const text = render('peers', definition, listed([peerRow(benign)]));
  t.match(text, '<h2>Friends <span class="count">1</span></h2>');
  const head = /<thead>(.*?)<\/thead>/s.exec(text)?.[1] ?? '';
  t.same([...head.matchAll(/">([^<]*)<\/a>/g)].map((match) => match[1]), ['Key &lt;print&gt;', 'note'], 'a label is escaped; without one, the property name');
});

t.test('requests: create and delete are false, so no form offers them; update is offered', async (t) => {
  const text = render('requests', REQUESTS, listed([requestRow(benign)]));
  t.notMatch(text, '/create"', 'no create form');
  t.notMatch(text, 'details class="create"');
  t.notMatch(text, '/delete"', 'no delete form');
  t.notMatch(text, 'class="delete"');
  t.match(text, '<form method="post" action="/ui/resources/requests/update" class="edit">');
  t.match(text, /<select name="field\.decision" required><option value="" selected>choose…<\/option><option value="accept">accept<\/option><option value="reject">reject<\/option><\/select>/);
  const empty = render('requests', REQUESTS, listed([]));
  t.match(empty, '<p class="empty">None.</p>');
  t.notMatch(empty, '<form', 'an empty list offers no form at all');
});

t.test('peers: create, update and delete are offered, each posting to its own path', async (t) => {
  const text = render('peers', PEERS, listed([peerRow(benign)]));
  t.match(text, '<form method="post" action="/ui/resources/peers/create">');
  t.match(text, /<textarea name="field\.link" rows="3" required maxlength="8192"><\/textarea>/, 'the required link, with its limit');
  t.match(text, '<form method="post" action="/ui/resources/peers/update" class="edit">');
  t.match(text, '<input type="text" name="field.note" value="plainnote" maxlength="200">', 'the note, filled in');
  t.match(text, /<form method="post" action="\/ui\/resources\/peers\/delete">\s*<input type="hidden" name="id" value="plainid">/);
});

t.test('a capability declared false hides its form whatever the type', async (t) => {
  const readOnly: ResourceTypeDefinition = { ...PEERS, capabilities: { create: false, update: false, delete: false } };
  const text = render('peers', readOnly, listed([peerRow(benign)]));
  t.notMatch(text, '<form', 'no form at all');
  t.match(text, '<tr class="row" data-id="plainid">', 'the row is still shown');
});

t.test('paging links appear only when there is more than one page', async (t) => {
  const rows = [peerRow(benign)];
  t.notMatch(render('peers', PEERS, listed(rows, { total: 25, pageSize: 25 })), '<nav', 'exactly one full page: no links');
  t.notMatch(render('peers', PEERS, listed(rows, { total: 0, pageSize: 25 })), '<nav');
  hrefs.length = 0;
  const first = render('peers', PEERS, listed(rows, { total: 26, pageSize: 25 }));
  t.match(first, 'page 1 of 2');
  t.match(first, '>next</a>');
  t.notMatch(first, '>previous</a>', 'no previous page before the first');
  t.same(
    hrefs.filter((changes) => changes.sortBy === undefined),
    [{ page: 2 }],
    'the next link asks for page 2',
  );
  const last = render('peers', PEERS, listed(rows, { total: 51, pageSize: 25, page: 3 }));
  t.match(last, 'page 3 of 3');
  t.match(last, '>previous</a>');
  t.notMatch(last, '>next</a>', 'no next page after the last');
  const middle = render('peers', PEERS, listed(rows, { total: 51, pageSize: 25, page: 2 }));
  t.match(middle, '>previous</a>');
  t.match(middle, '>next</a>');
});

t.test('the sorted column shows its order and its link turns it round', async (t) => {
  hrefs.length = 0;
  const text = render('peers', PEERS, listed([peerRow(benign)], { sortBy: 'fingerprint', sortOrder: 'asc' }));
  t.match(text, 'Fingerprint ▲</a>');
  t.equal((text.match(/[▲▼]/g) ?? []).length, 1, 'only the sorted column has an arrow');
  t.same(hrefs.find((changes) => changes.sortBy === 'fingerprint'), { sortBy: 'fingerprint', sortOrder: 'desc', page: 1 });
  t.same(hrefs.find((changes) => changes.sortBy === 'note'), { sortBy: 'note', sortOrder: 'asc', page: 1 });
  t.match(render('peers', PEERS, listed([peerRow(benign)], { sortBy: 'fingerprint', sortOrder: 'desc' })), 'Fingerprint ▼</a>');
});

t.test('values are shown as x-display asks', async (t) => {
  const text = render('peers', PEERS, listed([{ ...peerRow(benign), state: 'revoked_by_peer', online: false, note: null, last_seen: '2026-11-30T11:58:00.000Z' }]));
  t.match(text, '<td data-column="state"><span class="chip chip-revoked_by_peer">revoked by peer</span></td>', 'a status as a chip');
  t.match(text, '<td data-column="fingerprint"><code>plainfingerprint</code></td>', 'monospace as code');
  t.match(text, '<td data-column="online"><span class="flag flag-false">no</span></td>');
  t.match(text, '<td data-column="note"><span class="none">—</span></td>', 'null as a dash');
  t.match(text, '<time datetime="2026-11-30T11:58:00.000Z" title="2026-11-30T11:58:00.000Z">2 min ago</time>');
  t.match(text, '<code><bdi>plainaddress0</bdi></code>, <code><bdi>plainaddress1</bdi></code>', 'a list');
  t.match(text, /<pre>\{\n {2}&quot;agent&quot;: &quot;plainagent&quot;\n\}<\/pre>/, 'an object as JSON');
});

t.test('rowExtra is added to each row\'s details, escaped as any Html', async (t) => {
  const seen: Row[] = [];
  const text = render('peers', PEERS, listed([peerRow(benign)]), {
    rowExtra: (row) => {
      seen.push(row);
      return html`<p class="extra">${String(row['self_chosen_name'])}${SCRIPT}</p>`;
    },
  });
  t.equal(seen.length, 1);
  t.match(text, '<p class="extra">plainselfchosenname&lt;script&gt;');
});

t.test('relativeTime', async (t) => {
  const at = (ms: number): string => new Date(NOW + ms).toISOString();
  t.equal(relativeTime(at(0), NOW), '0 s ago');
  t.equal(relativeTime(at(-59_000), NOW), '59 s ago');
  t.equal(relativeTime(at(-60_000), NOW), '1 min ago');
  t.equal(relativeTime(at(-3_599_000), NOW), '59 min ago');
  t.equal(relativeTime(at(-3_600_000), NOW), '1 h ago');
  t.equal(relativeTime(at(-86_399_000), NOW), '23 h ago');
  t.equal(relativeTime(at(-86_400_000 * 3), NOW), '3 d ago');
  t.equal(relativeTime(at(90_000), NOW), 'in 1 min', 'a time to come');
  t.equal(relativeTime(at(2 * 86_400_000), NOW), 'in 2 d');
  t.equal(relativeTime('not a date <b>', NOW), 'not a date <b>', 'an unreadable time is given back as it is (the caller escapes it)');
});
