import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExtensionManifest, ResourceTypeDefinition } from '../../extension/common/manifest';
import { PEER_ID_PATTERN } from '../../extension/common/peer-id';
import type { RpcResponse } from '../host/extension-process';
import { renderActivity } from './activity-view';
import { dialogName, renderDialogs } from './dialog-view';
import { html, type Html } from './html';
import { PAGE_SCRIPT, PAGE_STYLE } from './page-assets';
import {
  cookieName,
  cookieValues,
  PageError,
  readForm,
  redirect,
  refuseOtherOrigins,
  refuseOtherSites,
  sendAsset,
  sendHtml,
  sessionCookie,
} from './page-http';
import type { PagePrompter } from './page-prompter';
import type { LoginRefusal, PageSession, PageSessions } from './page-sessions';
import type { PeerActivity } from './peer-activity';
import { formData } from './resource-forms';
import { properties } from './resource-schema';
import { renderResource, type ListedPage, type Row } from './resource-view';
import { UpdateStreams } from './update-streams';

/**
 * The reference host's web page, on the Host API's port under /ui/: the
 * person's own window onto the node, as Nexus's resource views are. It
 * lists and edits the manifest's resource types through the extension's
 * `resources.*` methods (the person's decisions, never a plugin's), answers
 * the gate's dialogs, and shows recent message activity per peer.
 *
 * Who may use it: whoever opened a login link (a session cookie,
 * SameSite=Strict, named after this port). The Host API has already refused
 * any Host header but its own. Besides, a request that a browser marks as
 * coming from another site (Sec-Fetch-Site) is refused, and every form must
 * come from this page itself (Origin), so no other page, not even one on
 * another port of 127.0.0.1, can act here (page-http.ts).
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
  /** Open pages are told of changes at most this often (update-streams.ts). */
  minChangeIntervalMs?: number;
}

export const DEFAULT_PAGE_SIZE = 25;

const LOGIN_REFUSALS: Record<LoginRefusal, [number, string]> = {
  wrong_code: [403, 'this is not a login link of this host (a restarted host has new ones): run p2p-comm-host page for one'],
  expired_code: [403, 'this login link has expired: run p2p-comm-host page for a new one'],
  used_code: [403, 'this login link was used already: each works once; run p2p-comm-host page for a new one'],
  rate_limited: [429, 'too many login attempts; wait a few seconds and open the link again'],
};

interface PageRequest {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  port: number;
}

export class PageServer {
  private readonly streams: UpdateStreams;
  private readonly pageSize: number;
  private readonly now: () => number;

  constructor(
    private readonly deps: PageDeps,
    options: PageOptions = {},
  ) {
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    this.now = deps.now ?? Date.now;
    this.streams = new UpdateStreams({
      ...(options.maxUpdateStreams === undefined ? {} : { maxStreams: options.maxUpdateStreams }),
      ...(options.minChangeIntervalMs === undefined ? {} : { minChangeIntervalMs: options.minChangeIntervalMs }),
      sessionLive: (id) => deps.sessions.find(id) !== undefined,
    });
  }

  /** Whether a path is the page's rather than the Host API's. */
  serves(path: string): boolean {
    return path === '/' || path === '/ui' || path.startsWith('/ui/');
  }

  /** Tells every open page that something it shows may have changed. */
  changed(): void {
    this.streams.changed();
  }

  /** `port` is the one the Host API listens on: it names the session cookie. */
  async handle(request: IncomingMessage, response: ServerResponse, port: number): Promise<void> {
    const url = new URL(request.url ?? '/', `http://${request.headers.host ?? '127.0.0.1'}`);
    try {
      await this.route({ request, response, url, port });
    } catch (error) {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      const refusal = error instanceof PageError ? error : new PageError(500, 'internal_error', "the page could not be made; see the host's terminal");
      if (!(error instanceof PageError)) process.stderr.write(`p2p-comm-host: web page: ${error instanceof Error ? error.message : String(error)}\n`);
      sendHtml(request, response, refusal.status, layout('Refused', html`<p class="notice failed">${refusal.message} <code>${refusal.code}</code></p>`));
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
      this.streams.endSession(session.id);
      response.setHeader('set-cookie', sessionCookie(context.port, '', 0));
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
      const [status, message] = LOGIN_REFUSALS[outcome.refused];
      throw new PageError(status, outcome.refused === 'rate_limited' ? 'rate_limited' : `login_${outcome.refused}`, message);
    }
    response.setHeader('set-cookie', sessionCookie(port, outcome.session.id, this.deps.sessions.ttlSeconds));
    // The code leaves the address bar at once.
    redirect(response, '/ui/');
  }

  private session({ request, port }: PageRequest): PageSession {
    for (const id of cookieValues(request, cookieName(port))) {
      const session = this.deps.sessions.find(id);
      if (session !== undefined) return session;
    }
    const hours = Math.round(this.deps.sessions.ttlSeconds / 3600);
    throw new PageError(
      401,
      'not_logged_in',
      `open a login link: p2p-comm-host prints one when it starts, and p2p-comm-host page prints a new one (it logs this browser in for ${hours} hours)`,
    );
  }

  private async main({ request, response, url }: PageRequest, session: PageSession): Promise<void> {
    const now = this.now();
    const types = Object.entries(this.deps.manifest.resources);
    // Asked together: the extension answers in turn, but no call waits for the one before to come back.
    const [identity, ...lists] = await Promise.all([
      this.execute('identity', {}).catch((error: unknown) => error as PageError),
      ...types.map(([type, definition]) => this.list(type, definition, url).catch((error: unknown) => error as PageError)),
    ]);
    const notice = session.notice;
    // A refresh by the page's script shows only the live sections: the notice waits for the page itself.
    if (request.headers['x-page-refresh'] === undefined) session.notice = undefined;
    const body = html`${this.header(identity)}
${notice !== undefined && html`<p class="notice${notice.failed ? ' failed' : ''}" role="status">${notice.text}</p>`}
${renderDialogs(this.deps.dialogs?.list(), now)}
${types.map(([type, definition], index) => {
  const listed = lists[index];
  if (listed instanceof PageError || listed === undefined) return unavailableSection(type, definition, listed);
  return renderResource({
    type,
    definition,
    listed,
    now,
    listHref: (changes) => listHref(url, type, listed, changes),
    ...(type === 'peers' ? { rowExtra: (row: Row) => renderActivity(this.deps.activity, String(row['id']), now) } : {}),
  });
})}`;
    sendHtml(request, response, 200, layout('p2p-comm', body, true));
  }

  private header(identity: Row | PageError): Html {
    if (identity instanceof PageError) {
      return html`<header><h1>p2p-comm</h1><p class="notice failed">Your node's identity could not be read: ${identity.message}</p></header>`;
    }
    return html`<header>
  <h1>p2p-comm</h1>
  <dl>
    <dt>Your name</dt><dd><bdi>${String(identity['display_name'] ?? '—')}</bdi></dd>
    <dt>Your fingerprint</dt><dd><code id="own-fingerprint">${String(identity['fingerprint'] ?? '')}</code></dd>
    <dt>Your pairing link</dt><dd><textarea class="link" id="own-link" rows="2" readonly>${String(identity['link'] ?? '')}</textarea>
      <small>Give it to the other person with your fingerprint, by a channel you trust; they paste it under Peers → Add.</small></dd>
  </dl>
  <form method="post" action="/ui/logout"><button type="submit">Log out</button></form>
</header>`;
  }

  /** One received message's content, shown only when the person asks for it, as untrusted text from that peer. */
  private async message({ request, response, url }: PageRequest): Promise<void> {
    const peer = url.searchParams.get('peer') ?? '';
    const cursor = Number(url.searchParams.get('cursor'));
    if (!PEER_ID_PATTERN.test(peer) || !Number.isSafeInteger(cursor) || cursor < 1) {
      throw new PageError(400, 'invalid_input', 'the link names no peer id and message cursor');
    }
    const data = await this.execute('receive', { peer, after: cursor - 1, limit: 1 });
    const found = (data['messages'] as Row[] | undefined)?.find((message) => message['cursor'] === cursor);
    const from = (found?.['from'] ?? {}) as Row;
    const body =
      found === undefined
        ? html`<p class="notice">This message is no longer in the inbox: a plugin read it and acknowledged it.</p>`
        : html`<dl>
  <dt>From peer</dt><dd><code>${peer}</code></dd>
  <dt>Fingerprint</dt><dd><code>${String(from['fingerprint'] ?? '')}</code></dd>
  <dt>Name they chose</dt><dd><bdi>${String(from['self_chosen_name'] ?? '—')}</bdi> (anyone can pick any name: compare the fingerprint)</dd>
  <dt>Message id</dt><dd><code>${String(found['message_id'])}</code></dd>
  <dt>Type</dt><dd>${String(found['type'])}</dd>
  <dt>Sent</dt><dd>${String(found['sent_at'])}</dd>
  <dt>Signature</dt><dd>verified: signed by this peer's key</dd>
</dl>
<p class="description">What follows was written by the peer (or its agent): read it as their words, not as instructions from this host.</p>
<pre class="untrusted" id="message-content">${typeof found['content'] === 'string' ? found['content'] : JSON.stringify(found['content'], null, 2)}</pre>`;
    sendHtml(request, response, 200, layout('Message', html`<p><a href="/ui/">← back</a></p>${body}`));
  }

  private updates({ response }: PageRequest, session: PageSession): void {
    if (this.streams.full) {
      throw new PageError(503, 'too_many_pages', `${this.streams.limit} pages are open already; close one (the page still works, reload it by hand)`);
    }
    this.streams.open(response, session.id);
  }

  private async answerDialog({ request, response }: PageRequest, session: PageSession, form: URLSearchParams): Promise<void> {
    const id = form.get('dialog') ?? '';
    const answer = form.get('answer') ?? '';
    const dialog = this.deps.dialogs?.list().find((open) => open.id === id);
    const outcome = dialog === undefined ? 'not_open' : (this.deps.dialogs?.answer(id, answer) ?? 'not_open');
    session.notice =
      outcome === 'answered' && dialog !== undefined
        ? { text: `Answered “${answer}” to ${dialogName(dialog)}.`, failed: false }
        : outcome === 'not_open'
          ? { text: 'That question is no longer open: it was answered on the terminal, or nobody answered in time and the call was refused.', failed: true }
          : { text: 'That is not one of the answers offered.', failed: true };
    redirect(response, backTo(request, '#dialogs'));
  }

  private async changeResource({ request, response }: PageRequest, session: PageSession, type: string, verb: 'create' | 'update' | 'delete', form: URLSearchParams): Promise<void> {
    const definition = Object.hasOwn(this.deps.manifest.resources, type) ? this.deps.manifest.resources[type] : undefined;
    if (definition === undefined) throw new PageError(404, 'unknown_resource_type', `there is no resource type "${type}"`);
    const params: Row = { resource_type: type };
    if (verb !== 'create') params['id'] = form.get('id') ?? '';
    if (verb !== 'delete') params['data'] = formData(definition, verb, form);
    const answer = await this.deps.call(`resources.${verb}`, params);
    if (answer.error !== undefined) {
      session.notice = { text: `${definition.label}: ${answer.error.message}`, failed: true };
    } else {
      const message = (answer.result as { message?: unknown } | undefined)?.message;
      session.notice = { text: `${definition.label}: ${typeof message === 'string' ? message : 'done'}.`, failed: false };
    }
    redirect(response, backTo(request, `#resource-${type}`));
  }

  private async list(type: string, definition: ResourceTypeDefinition, url: URL): Promise<ListedPage> {
    const page = positiveInteger(url.searchParams.get(`${type}.page`)) ?? 1;
    const asked = url.searchParams.get(`${type}.sort`);
    // A column the schema does not have (an old bookmark) falls back to the manifest's order.
    const sorted = asked !== null && Object.hasOwn(properties(definition), asked);
    const sortBy = sorted ? asked : definition.list_view?.sort_by;
    const order = sorted ? url.searchParams.get(`${type}.order`) : (definition.list_view?.sort_order ?? null);
    const sortOrder = order === 'desc' ? 'desc' : 'asc';
    const params = { resource_type: type, page, page_size: this.pageSize, sort_order: sortOrder, ...(sortBy === undefined ? {} : { sort_by: sortBy }) };
    const answer = await this.deps.call('resources.list', params);
    if (answer.error !== undefined) throw new PageError(502, 'extension_refused', answer.error.message);
    const result = resultData(answer) as { items?: Row[]; total?: number };
    return { items: result.items ?? [], total: result.total ?? 0, page, pageSize: this.pageSize, sortBy, sortOrder };
  }

  private async execute(operation: string, input: unknown): Promise<Row> {
    const answer = await this.deps.call('execute', { operation, input });
    if (answer.error !== undefined) throw new PageError(502, 'extension_refused', `${operation}: ${answer.error.message}`);
    return ((answer.result as { data?: Row } | undefined)?.data ?? {}) as Row;
  }
}

/** `live`: the page follows /ui/updates (only a logged-in page may). */
function layout(title: string, body: Html, live = false): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><link rel="stylesheet" href="/ui/page.css">${live && html`<script src="/ui/page.js" defer></script>`}</head>
<body>${body}</body></html>`.text;
}

/** A resource type the extension could not list now (restarting, refusing): the rest of the page still works. */
function unavailableSection(type: string, definition: ResourceTypeDefinition, error: PageError | undefined): Html {
  return html`<section class="resource" id="resource-${type}" data-live>
  <h2>${definition.label}</h2>
  <p class="notice failed">Could not be listed: ${error?.message ?? 'no answer'}. Reload the page in a moment.</p>
</section>`;
}

/** What Nexus hands its UI: the `data` of a `{success, data}` result, the whole result otherwise. */
function resultData(answer: RpcResponse): unknown {
  const result = answer.result;
  if (typeof result === 'object' && result !== null && typeof (result as Row)['success'] === 'boolean' && Object.hasOwn(result, 'data')) return (result as Row)['data'];
  return result;
}

/** Back to the page the form was on, with its paging and sorting (the browser names it, same-origin only), at `anchor`. */
function backTo(request: IncomingMessage, anchor: string): string {
  const referer = request.headers.referer;
  if (referer !== undefined) {
    try {
      const from = new URL(referer);
      if (from.host === request.headers.host && from.pathname === '/ui/') return `/ui/${from.search}${anchor}`;
    } catch {
      // Not a URL: back to the page as it starts.
    }
  }
  return `/ui/${anchor}`;
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
