import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The web page's side of HTTP: who may ask (the browser's own marks of
 * where a request comes from), its session cookie, reading a form, and the
 * headers every answer carries.
 */

/** Room for a pairing link (3 KiB) and the row a form sends back. */
export const MAX_FORM_BYTES = 64 * 1024;

export const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // Not no-referrer: browsers then send "Origin: null" with the page's own forms.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** A refusal shown as a small page, with a code. */
export class PageError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Browsers say where a request comes from: `none` for a link opened from
 * outside any page (the terminal) or typed, `same-origin` from this page.
 * Anything else, another port of 127.0.0.1 included (same-site), is refused.
 */
export function refuseOtherSites(request: IncomingMessage): void {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new PageError(403, 'cross_site_request', 'this page answers only itself: open its login link from the terminal, or paste it into the address bar');
  }
}

/** A form must come from this very page: its Origin is this page's own. */
export function refuseOtherOrigins(request: IncomingMessage): void {
  if (request.headers.origin !== `http://${request.headers.host ?? ''}`) {
    throw new PageError(403, 'origin_not_allowed', 'forms are accepted only from this page itself');
  }
}

/**
 * The cookie names the port: browsers send a 127.0.0.1 cookie to every
 * port, and two hosts on one machine must not share one.
 */
export function cookieName(port: number): string {
  return `p2p_comm_page_${port}`;
}

export function sessionCookie(port: number, sessionId: string, maxAgeSeconds: number): string {
  return `${cookieName(port)}=${sessionId}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=${maxAgeSeconds}`;
}

/**
 * Every value the request's cookies give the name. All of them, not the
 * first: a page on another port of 127.0.0.1 can set a cookie of the same
 * name with a longer path, which browsers send first.
 */
export function cookieValues(request: IncomingMessage, name: string): string[] {
  const values: string[] = [];
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) values.push(rest.join('='));
  }
  return values;
}

export async function readForm(request: IncomingMessage): Promise<URLSearchParams> {
  const type = request.headers['content-type'] ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) throw new PageError(415, 'not_a_form', 'the page sends forms as application/x-www-form-urlencoded');
  const tooLarge = new PageError(413, 'form_too_large', `a form may carry ${MAX_FORM_BYTES} bytes at most`);
  if (Number(request.headers['content-length']) > MAX_FORM_BYTES) throw tooLarge;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) throw tooLarge;
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof PageError) throw error;
    // The browser gave up on the upload: nobody is left to answer.
    throw new PageError(400, 'form_incomplete', 'the form did not arrive whole; send it again');
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export function redirect(response: ServerResponse, location: string): void {
  response.writeHead(303, { ...SECURITY_HEADERS, location, 'content-length': 0 });
  response.end();
}

export function sendAsset(response: ServerResponse, type: string, text: string): void {
  response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': `${type}; charset=utf-8`, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

export function sendHtml(request: IncomingMessage, response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...(request.complete ? {} : { connection: 'close' }),
  });
  response.end(text);
}
