/**
 * The public unsubscribe endpoint, opened by the signed token in the link (no login).
 *
 * - `POST /v1/unsubscribe?token=...` unsubscribes at once: this is the RFC 8058 one-click
 *   request mail clients send (body `List-Unsubscribe=One-Click`), and the page's button.
 * - `GET` only shows a page with that button: link scanners and previews follow GET links,
 *   and must not unsubscribe anyone.
 *
 * Unsubscribing switches the type off in the recipient's preferences (`types.<type>: false`).
 */
import { Hono } from 'hono';
import type { Herald } from '../herald.js';

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
  const invalid = () =>
    page(
      'Link not valid',
      '<h1>This link is not valid</h1><p>Use the whole unsubscribe link from the email.</p>',
      400,
    );

  app.get('/', async (c) => {
    const token = c.req.query('token') ?? '';
    const target = await herald.unsubscribe.verify(token).catch(() => null);
    if (!target) return invalid();
    return page(
      'Unsubscribe',
      `<h1>Unsubscribe</h1><p>Stop receiving <strong>${escapeHtml(target.type.replace(/[_.-]/g, ' '))}</strong> messages?</p>
<form method="post" action="?token=${encodeURIComponent(token)}">
<input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
    );
  });

  app.post('/', async (c) => {
    const target = await herald.unsubscribe.verify(c.req.query('token') ?? '').catch(() => null);
    if (!target) return invalid();
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
