/**
 * The public unsubscribe endpoint, opened by the signed token in the link (no login).
 *
 * - `POST /v1/unsubscribe?token=...` unsubscribes at once: this is the RFC 8058 one-click
 *   request mail clients send (body `List-Unsubscribe=One-Click`), and the page's button.
 * - `GET` only shows a page with that button: link scanners and previews follow GET links,
 *   and must not unsubscribe anyone.
 *
 * Unsubscribing switches the type off in the recipient's preferences (`types.<type>: false`).
 * A link that is altered (400 `invalid_token`) or expired (410 `link_expired`) changes nothing
 * and says what to do instead: a page for a person, problem+json for a mail client's one-click
 * POST (one that does not ask for HTML).
 */
import { Hono, type Context } from 'hono';
import type { Herald } from '../herald.js';
import { HeraldError } from '../errors.js';
import { problem } from './problem.js';

const page = (title: string, body: string, status = 200) =>
  new Response(
    `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>
<link rel="icon" href="data:,">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}
button{font:inherit;padding:.5rem 1.25rem;border:0;border-radius:6px;background:#2456d3;color:#fff;cursor:pointer}</style>
</head><body>${body}</body></html>`,
    { status, headers: { 'content-type': 'text/html; charset=utf-8' } },
  );

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] as string,
  );

export function unsubscribeRoutes(herald: Herald): Hono {
  const app = new Hono();

  app.get('/', async (c) => {
    const token = c.req.query('token') ?? '';
    const target = await herald.unsubscribe.verify(token).catch(refusedAs);
    if (target instanceof HeraldError) return refusal(c, target);
    return page(
      'Unsubscribe',
      `<h1>Unsubscribe</h1><p>Stop receiving <strong>${escapeHtml(target.type.replace(/[_.-]/g, ' '))}</strong> messages?</p>
<form method="post" action="?token=${encodeURIComponent(token)}">
<input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
    );
  });

  app.post('/', async (c) => {
    const target = await herald.unsubscribe.verify(c.req.query('token') ?? '').catch(refusedAs);
    if (target instanceof HeraldError) return refusal(c, target, c.req.method === 'POST');
    // An erased recipient has nothing to switch off; the answer is the same, and says nothing.
    await herald.preferences.optOut(target.recipientId, target.type);
    herald.log.info({ recipientId: target.recipientId, type: target.type }, 'unsubscribe:done');
    return page(
      'Unsubscribed',
      `<h1>You are unsubscribed</h1><p>You will no longer receive <strong>${escapeHtml(target.type.replace(/[_.-]/g, ' '))}</strong> messages.</p>`,
    );
  });
  return app;
}

/** A refused link as a HeraldError (expired or not); anything else is a real fault. */
function refusedAs(err: unknown): HeraldError {
  if (err instanceof HeraldError) return err;
  throw err;
}

const WHAT_TO_DO =
  '<p>Nothing was changed. To stop these messages, use the unsubscribe link in a newer email, or change your notification settings in the app.</p>';

/**
 * The answer to a link that was refused. A person gets a page saying what to do next; a mail
 * client's RFC 8058 one-click POST (which does not ask for HTML) gets problem+json.
 */
function refusal(c: Context, err: HeraldError, oneClick = false): Response {
  const expired = err.code === 'link_expired';
  if (oneClick && !(c.req.header('accept') ?? '').includes('text/html'))
    return problem(expired ? 410 : 400, err.code, err.message);
  return expired
    ? page('Link expired', `<h1>This link has expired</h1>${WHAT_TO_DO}`, 410)
    : page(
        'Link not valid',
        `<h1>This link is not valid</h1><p>Use the whole unsubscribe link from the email.</p>${WHAT_TO_DO}`,
        400,
      );
}
