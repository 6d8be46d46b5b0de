import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExtensionManifest } from '../../extension/common/manifest';
import type { RpcResponse } from '../host/extension-process';
import { html, type Html } from './html';
import { PAGE_SCRIPT, PAGE_STYLE } from './page-assets';
import type { PagePrompter, OpenDialog } from './page-prompter';
import type { PageSessions, PageSession } from './page-sessions';
import type { PeerActivity } from './peer-activity';
import { editableProperties, relativeTime, renderResource, type ListedPage, type Row } from './resource-view';

/**
 * The reference host's web page, on the Host API's port under /ui/: the
 * person's own window onto the node, as Nexus's resource views are. It
 * lists and edits the manifest's resource types through the extension's
 * `resources.*` methods (the person's decisions, never a plugin's), answers
 * the gate's dialogs, and shows recent message activity per peer.
 *
 * Who may use it: whoever opened the login link the host printed (a session
 * cookie, SameSite=Strict, bound to this port by its name). The Host API has
 * already refused any Host header but its own. Besides, a request that a
 * browser marks as coming from another site (Sec-Fetch-Site) is refused, and
 * every form must come from this page itself (Origin), so no other page,
 * not even one on another port of 127.0.0.1, can act here.
 */
export interface PageDeps {
  manifest: ExtensionManifest;
  /** A JSON-RPC call to the extension (`resources.list`, `execute`, ...). */
  call(method: string, params: unknown): Promise<RpcResponse>;
  /** The web page's dialogs; absent when a policy file answers them. */
  dialogs: PagePrompter | undefined;
  activity: PeerActivity;
  sessions: PageSessions;
  now?: () => number;
}

export interface PageOptions {
  /** Rows per resource list page. */
  pageSize?: number;
  /** Open /ui/updates streams at once. */
  maxUpdateStreams?: number;
  /**
   * Open pages are told of changes at most this often: each one then
   * fetches itself again, which costs the extension three calls, and a
   * busy node has many message events a second.
   */
  minChangeIntervalMs?: number;
}

export const DEFAULT_PAGE_SIZE = 25;
export const DEFAULT_MAX_UPDATE_STREAMS = 16;
export const DEFAULT_MIN_CHANGE_INTERVAL_MS = 500;
/** Room for a pairing link (3 KiB) and the row a form sends back. */
export const MAX_FORM_BYTES = 64 * 1024;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // Not no-referrer: browsers then send "Origin: null" with the page's own forms.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** A refusal shown as a small page. */
class PageError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface PageRequest {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  port: number;
}

export class PageServer {
  /** Open /ui/updates streams and the session each belongs to. */
  private readonly streams = new Map<ServerResponse, string>();
  private readonly pageSize: number;
  private readonly maxUpdateStreams: number;
  private readonly minChangeIntervalMs: number;
  private readonly now: () => number;
  private lastChangeAt = Number.NEGATIVE_INFINITY;
  private changeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: PageDeps,
    options: PageOptions = {},
  ) {
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    this.maxUpdateStreams = options.maxUpdateStreams ?? DEFAULT_MAX_UPDATE_STREAMS;
    this.minChangeIntervalMs = options.minChangeIntervalMs ?? DEFAULT_MIN_CHANGE_INTERVAL_MS;
    this.now = deps.now ?? Date.now;
  }

  /** Whether a path is the page's rather than the Host API's. */
  serves(path: string): boolean {
    return path === '/' || path === '/ui' || path.startsWith('/ui/');
  }

  /** Tells every open page that something it shows may have changed: at once, or once the interval since the last telling has passed. */
  changed(): void {
    if (this.changeTimer !== undefined || this.streams.size === 0) return;
    const tell = (): void => {
      this.changeTimer = undefined;
      this.lastChangeAt = this.now();
      for (const [stream, sessionId] of this.streams) {
        // A session logged out or expired hears nothing more.
        if (this.deps.sessions.find(sessionId) === undefined) stream.end();
        else stream.write('event: change\ndata: \n\n');
      }
    };
    const wait = this.lastChangeAt + this.minChangeIntervalMs - this.now();
    if (wait <= 0) return tell();
    this.changeTimer = setTimeout(tell, wait);
    this.changeTimer.unref();
  }

  /** `port` is the one the Host API listens on: it names the session cookie. */
  async handle(request: IncomingMessage, response: ServerResponse, port: number): Promise<void> {
    const url = new URL(request.url ?? '/', `http://${request.headers.host ?? '127.0.0.1'}`);
    const context: PageRequest = { request, response, url, port };
    try {
      await this.route(context);
    } catch (error) {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      const refusal = error instanceof PageError ? error : new PageError(500, 'internal_error', 'the page could not be made; see the host\'s terminal');
      if (!(error instanceof PageError)) process.stderr.write(`p2p-comm-host: web page: ${error instanceof Error ? error.message : String(error)}\n`);
      sendHtml(request, response, refusal.status, this.layout('Refused', html`<p class="notice failed">${refusal.message} <code>${refusal.code}</code></p>`));
    }
  }

  private async route(context: PageRequest): Promise<void> {
    const { request, response, url } = context;
    const path = url.pathname;
    const method = request.method ?? 'GET';
    // Before the login too: another site could otherwise spend the login attempts and lock the person out.
    refuseOtherSites(request);
    if (path === '/ui/login' && method === 'GET') return this.login(context);
    if (method === 'GET') {
      if (path === '/' || path === '/ui') return redirect(response, '/ui/');
      if (path === '/ui/page.js') return sendAsset(response, 'text/javascript', PAGE_SCRIPT);
      if (path === '/ui/page.css') return sendAsset(response, 'text/css', PAGE_STYLE);
      const session = this.session(context);
      if (path === '/ui/') return this.main(context, session);
      if (path === '/ui/updates') return this.updates(context, session);
      if (path === '/ui/message') return this.message(context);
      throw new PageError(404, 'not_found', 'there is no such page');
    }
    if (method !== 'POST') throw new PageError(405, 'method_not_allowed', 'only GET and POST are used here');
    refuseOtherOrigins(request);
    const session = this.session(context);
    const form = await readForm(request);
    if (path === '/ui/logout') {
      this.deps.sessions.end(session.id);
      for (const [stream, sessionId] of this.streams) if (sessionId === session.id) stream.end();
      response.setHeader('set-cookie', `${cookieName(context.port)}=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0`);
      return redirect(response, '/ui/');
    }
    if (path === '/ui/dialogs') return this.answerDialog(context, session, form);
    const resource = /^\/ui\/resources\/([a-z_]+)\/(create|update|delete)$/.exec(path);
    if (resource !== null) return this.changeResource(context, session, resource[1] as string, resource[2] as 'create' | 'update' | 'delete', form);
    throw new PageError(404, 'not_found', 'there is no such form');
  }

  private login({ response, url, port }: PageRequest): void {
    const outcome = this.deps.sessions.login(url.searchParams.get('code') ?? '');
    if ('refused' in outcome) {
      if (outcome.refused === 'rate_limited') throw new PageError(429, 'rate_limited', 'too many login attempts; wait a few seconds and open the link again');
      throw new PageError(403, 'wrong_login_code', 'this login link is not the one this host printed (a restarted host prints a new one)');
    }
    response.setHeader('set-cookie', `${cookieName(port)}=${outcome.session.id}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=${this.deps.sessions.ttlSeconds}`);
    // The code leaves the address bar at once.
    redirect(response, '/ui/');
  }

  private session({ request, port }: PageRequest): PageSession {
    const session = this.deps.sessions.find(readCookie(request, cookieName(port)));
    if (session === undefined) {
      throw new PageError(401, 'not_logged_in', 'open the login link that p2p-comm-host printed when it started (it logs this browser in for 12 hours)');
    }
    return session;
  }

  private async main({ request, response, url }: PageRequest, session: PageSession): Promise<void> {
    const now = this.now();
    const identity = await this.execute('identity', {});
    const sections: Html[] = [];
    for (const [type, definition] of Object.entries(this.deps.manifest.resources)) {
      const listed = await this.list(type, url);
      sections.push(
        renderResource({
          type,
          definition,
          listed,
          now,
          listHref: (changes) => listHref(url, type, listed, changes),
          ...(type === 'peers' ? { rowExtra: (row: Row) => this.activity(String(row['id']), now) } : {}),
        }),
      );
    }
    const notice = session.notice;
    // A refresh by the page's script shows only the live sections: the notice waits for the page itself.
    if (request.headers['x-page-refresh'] === undefined) session.notice = undefined;
    const body = html`<header>
  <h1>p2p-comm</h1>
  <dl>
    <dt>Your name</dt><dd><bdi>${String(identity['display_name'] ?? '—')}</bdi></dd>
    <dt>Your fingerprint</dt><dd><code id="own-fingerprint">${String(identity['fingerprint'] ?? '')}</code></dd>
    <dt>Your pairing link</dt><dd><textarea class="link" id="own-link" rows="2" readonly>${String(identity['link'] ?? '')}</textarea>
      <small>Give it to the other person with your fingerprint, by a channel you trust; they paste it under Peers → Add.</small></dd>
  </dl>
  <form method="post" action="/ui/logout"><button type="submit">Log out</button></form>
</header>
${notice !== undefined && html`<p class="notice${notice.failed ? ' failed' : ''}" role="status">${notice.text}</p>`}
${this.dialogSection(now)}
${sections}`;
    sendHtml(request, response, 200, this.layout('p2p-comm', body, true));
  }

  private dialogSection(now: number): Html {
    const dialogs = this.deps.dialogs;
    if (dialogs === undefined) {
      return html`<section class="dialogs" id="dialogs" data-live><h2>Waiting for your answer</h2><p class="description">Dialogs are answered by the policy file this host was started with.</p></section>`;
    }
    const open = dialogs.list();
    return html`<section class="dialogs" id="dialogs" data-live>
  <h2>Waiting for your answer <span class="count">${open.length}</span></h2>
  ${open.length === 0 ? html`<p class="empty">No plugin is waiting for you. Questions appear here and on the terminal as plugins ask; the first answer counts.</p>` : open.map((dialog) => renderDialog(dialog, now))}
</section>`;
  }

  private activity(peer: string, now: number): Html {
    const entries = this.deps.activity.recent(peer);
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

  /** One received message's content, shown only when the person asks for it, as untrusted text from that peer. */
  private async message({ request, response, url }: PageRequest): Promise<void> {
    const peer = url.searchParams.get('peer') ?? '';
    const cursor = Number(url.searchParams.get('cursor'));
    if (!/^[a-z2-7]{51}[aq]$/.test(peer) || !Number.isSafeInteger(cursor) || cursor < 1) {
      throw new PageError(400, 'invalid_input', 'the link names no peer id and message cursor');
    }
    const data = await this.execute('receive', { peer, after: cursor - 1, limit: 1 });
    const found = (data['messages'] as Row[] | undefined)?.find((message) => message['cursor'] === cursor);
    const body =
      found === undefined
        ? html`<p class="notice">This message is no longer in the inbox: a plugin read it and acknowledged it.</p>`
        : html`<dl>
  <dt>From peer</dt><dd><code>${peer}</code></dd>
  <dt>Message id</dt><dd><code>${String(found['message_id'])}</code></dd>
  <dt>Type</dt><dd>${String(found['type'])}</dd>
  <dt>Sent</dt><dd>${String(found['sent_at'])}</dd>
  <dt>Signature</dt><dd>verified: signed by this peer's key</dd>
</dl>
<p class="description">What follows was written by the peer (or its agent): read it as their words, not as instructions from this host.</p>
<pre class="untrusted" id="message-content">${typeof found['content'] === 'string' ? found['content'] : JSON.stringify(found['content'], null, 2)}</pre>`;
    sendHtml(request, response, 200, this.layout('Message', html`<p><a href="/ui/">← back</a></p>${body}`));
  }

  private updates({ request, response }: PageRequest, session: PageSession): void {
    if (this.streams.size >= this.maxUpdateStreams) {
      throw new PageError(503, 'too_many_pages', `${this.maxUpdateStreams} pages are open already; close one (the page still works, reload it by hand)`);
    }
    response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream' });
    response.write(': connected\n\n');
    this.streams.set(response, session.id);
    request.once('close', () => this.streams.delete(response));
  }

  private async answerDialog({ response }: PageRequest, session: PageSession, form: URLSearchParams): Promise<void> {
    const outcome = this.deps.dialogs?.answer(form.get('dialog') ?? '', form.get('answer') ?? '') ?? 'not_open';
    session.notice =
      outcome === 'answered'
        ? { text: `Answered: ${form.get('answer') ?? ''}.`, failed: false }
        : outcome === 'not_open'
          ? { text: 'That question is no longer open: it was answered on the terminal, or nobody answered in time and the call was refused.', failed: true }
          : { text: 'That is not one of the answers offered.', failed: true };
    redirect(response, '/ui/');
  }

  private async changeResource({ response }: PageRequest, session: PageSession, type: string, verb: 'create' | 'update' | 'delete', form: URLSearchParams): Promise<void> {
    const definition = Object.hasOwn(this.deps.manifest.resources, type) ? this.deps.manifest.resources[type] : undefined;
    if (definition === undefined) throw new PageError(404, 'unknown_resource_type', `there is no resource type "${type}"`);
    const params: Record<string, unknown> = { resource_type: type };
    if (verb !== 'create') params['id'] = form.get('id') ?? '';
    if (verb !== 'delete') params['data'] = formData(definition, verb, form);
    const answer = await this.deps.call(`resources.${verb}`, params);
    if (answer.error !== undefined) {
      session.notice = { text: `${definition.label}: ${answer.error.message}`, failed: true };
    } else {
      const message = (answer.result as { message?: unknown } | undefined)?.message;
      session.notice = { text: `${definition.label}: ${typeof message === 'string' ? message : 'done'}.`, failed: false };
    }
    redirect(response, `/ui/#resource-${type}`);
  }

  private async list(type: string, url: URL): Promise<ListedPage> {
    const page = positiveInteger(url.searchParams.get(`${type}.page`)) ?? 1;
    const sortBy = url.searchParams.get(`${type}.sort`) ?? this.deps.manifest.resources[type]?.list_view?.sort_by;
    const sortOrder = url.searchParams.get(`${type}.order`) === 'desc' ? 'desc' : url.searchParams.get(`${type}.order`) === 'asc' ? 'asc' : this.deps.manifest.resources[type]?.list_view?.sort_order === 'desc' ? 'desc' : 'asc';
    const params = { resource_type: type, page, page_size: this.pageSize, sort_order: sortOrder, ...(sortBy === undefined ? {} : { sort_by: sortBy }) };
    const answer = await this.deps.call('resources.list', params);
    if (answer.error !== undefined) throw new PageError(502, 'extension_refused', `listing ${type}: ${answer.error.message}`);
    const result = resultData(answer) as { items?: Row[]; total?: number };
    return { items: result.items ?? [], total: result.total ?? 0, page, pageSize: this.pageSize, sortBy, sortOrder };
  }

  private async execute(operation: string, input: unknown): Promise<Row> {
    const answer = await this.deps.call('execute', { operation, input });
    if (answer.error !== undefined) throw new PageError(502, 'extension_refused', `${operation}: ${answer.error.message}`);
    return ((answer.result as { data?: Row } | undefined)?.data ?? {}) as Row;
  }

  /** `live`: the page follows /ui/updates (only a logged-in page may). */
  private layout(title: string, body: Html, live = false): string {
    return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><link rel="stylesheet" href="/ui/page.css">${live && html`<script src="/ui/page.js" defer></script>`}</head>
<body>${body}</body></html>`.text;
  }
}

function renderDialog(dialog: OpenDialog, now: number): Html {
  const { context } = dialog;
  const headline =
    dialog.kind === 'permission'
      ? `Plugin “${context.plugin}” uses a permission that is not granted yet`
      : dialog.kind === 'scope'
        ? `Plugin “${context.plugin}” asks for a scope it has not been allowed yet`
        : `Plugin “${context.plugin}” makes a high-risk call, approved one call at a time`;
  return html`<form method="post" action="/ui/dialogs" class="dialog" data-dialog="${dialog.id}">
  <h3>${headline}</h3>
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

/** What Nexus hands its UI: the `data` of a `{success, data}` result, the whole result otherwise. */
function resultData(answer: RpcResponse): unknown {
  const result = answer.result;
  if (typeof result === 'object' && result !== null && typeof (result as Row)['success'] === 'boolean' && Object.hasOwn(result, 'data')) return (result as Row)['data'];
  return result;
}

/** The data a create or update form sends: the row as shown (for an update), with the editable fields entered. */
function formData(definition: Parameters<typeof editableProperties>[0], verb: 'create' | 'update', form: URLSearchParams): Record<string, unknown> {
  let data: Record<string, unknown> = {};
  if (verb === 'update') {
    try {
      const row: unknown = JSON.parse(form.get('row') ?? '{}');
      if (typeof row === 'object' && row !== null && !Array.isArray(row)) data = row as Record<string, unknown>;
    } catch {
      throw new PageError(400, 'invalid_input', 'the form lost the row it was shown with; reload the page and try again');
    }
  }
  const schema = (definition.schema as { properties?: Record<string, { type?: string | string[] }> }).properties ?? {};
  for (const name of editableProperties(definition)) {
    const entered = form.get(`field.${name}`);
    if (entered === null) continue;
    const nullable = Array.isArray(schema[name]?.type) && (schema[name]?.type as string[]).includes('null');
    // An emptied field means "none" where the schema allows it (a note removed), and is left out where it does not.
    if (entered === '') {
      if (nullable) data[name] = null;
      else delete data[name];
      continue;
    }
    data[name] = entered;
  }
  return data;
}

function listHref(url: URL, type: string, listed: ListedPage, changes: { page?: number; sortBy?: string; sortOrder?: 'asc' | 'desc' }): string {
  const next = new URLSearchParams(url.searchParams);
  next.set(`${type}.page`, String(changes.page ?? listed.page));
  const sortBy = changes.sortBy ?? listed.sortBy;
  if (sortBy !== undefined) next.set(`${type}.sort`, sortBy);
  next.set(`${type}.order`, changes.sortOrder ?? listed.sortOrder);
  return `/ui/?${next.toString()}#resource-${type}`;
}

function positiveInteger(text: string | null): number | undefined {
  const value = Number(text);
  return text !== null && Number.isSafeInteger(value) && value >= 1 ? value : undefined;
}

/**
 * Browsers say where a request comes from: `none` for a link opened from
 * outside any page (the terminal) or typed, `same-origin` from this page.
 * Anything else, another port of 127.0.0.1 included (same-site), is refused.
 */
function refuseOtherSites(request: IncomingMessage): void {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new PageError(403, 'cross_site_request', 'this page answers only itself: open it from the link the host printed');
  }
}

/** A form must come from this very page: its Origin is this page's own. */
function refuseOtherOrigins(request: IncomingMessage): void {
  if (request.headers.origin !== `http://${request.headers.host ?? ''}`) {
    throw new PageError(403, 'origin_not_allowed', 'forms are accepted only from this page itself');
  }
}

/** The cookie names the port: browsers send a 127.0.0.1 cookie to every port, and two hosts on one machine must not share one. */
function cookieName(port: number): string {
  return `p2p_comm_page_${port}`;
}

function readCookie(request: IncomingMessage, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

async function readForm(request: IncomingMessage): Promise<URLSearchParams> {
  const type = request.headers['content-type'] ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) throw new PageError(415, 'not_a_form', 'the page sends forms as application/x-www-form-urlencoded');
  const tooLarge = new PageError(413, 'form_too_large', `a form may carry ${MAX_FORM_BYTES} bytes at most`);
  if (Number(request.headers['content-length']) > MAX_FORM_BYTES) throw tooLarge;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw tooLarge;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function redirect(response: ServerResponse, location: string): void {
  response.writeHead(303, { ...SECURITY_HEADERS, location, 'content-length': 0 });
  response.end();
}

function sendAsset(response: ServerResponse, type: string, text: string): void {
  response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': `${type}; charset=utf-8`, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function sendHtml(request: IncomingMessage, response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...(request.complete ? {} : { connection: 'close' }),
  });
  response.end(text);
}
