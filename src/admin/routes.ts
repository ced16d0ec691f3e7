/**
 * The operator's console at /admin (docs/console.md): server-rendered pages, one stylesheet
 * and one script, no CDN and no build step. Off (404, like any unknown path) until an admin
 * key exists. Every page needs a session (session.ts); without one a GET is sent to sign-in
 * and anything else is refused. Every change is a POST that must carry the session's CSRF
 * token, come from this origin, and not be a read-only key's.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Herald } from '../herald.js';
import { problem } from '../http/problem.js';
import { assetRoutes } from './assets.js';
import { signInPage } from './layout.js';
import { checkCsrf, COOKIE, makeSessions, SESSION_MS } from './session.js';
import { safeNext, type AdminEnv } from './env.js';
import { overviewRoutes } from './pages/overview.js';
import { notificationRoutes } from './pages/notifications.js';
import { jobRoutes } from './pages/jobs.js';
import { scheduleRoutes } from './pages/schedules.js';
import { recipientRoutes } from './pages/recipients.js';
import { typeRoutes } from './pages/types.js';

/**
 * Scripts and styles only from /admin/assets, no frames of this page elsewhere, forms only
 * to here; the one frame allowed is the email preview, itself sandboxed (notifications.ts).
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function adminConsole(herald: Herald): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();
  const sessions = makeSessions(herald.db, herald.config.schema, herald.keys);

  app.use(async (c, next) => {
    if (!(await herald.keys.anyAdmin()))
      return problem(404, 'not_found', `no route ${c.req.method} ${c.req.path}`);
    await next();
    if (!c.res.headers.has('content-security-policy'))
      c.res.headers.set('content-security-policy', CSP);
    c.res.headers.set('x-content-type-options', 'nosniff');
    // same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on form posts.
    c.res.headers.set('referrer-policy', 'same-origin');
    if (!c.res.headers.has('cache-control')) c.res.headers.set('cache-control', 'no-store');
  });
  app.route('/assets', assetRoutes());

  app.get('/sign-in', (c) => c.html(signInPage(undefined, safeNext(c.req.query('next')))));
  app.post('/sign-in', async (c) => {
    if (!sameOrigin(c)) return c.html(signInPage('Sign in from this page.'), 403);
    const form = await c.req.parseBody();
    const next = safeNext(typeof form.next === 'string' ? form.next : undefined);
    const result = await sessions.signIn(typeof form.key === 'string' ? form.key : '');
    if (!result.ok) return c.html(signInPage(result.why, next), 401);
    setCookie(c, COOKIE, result.cookie, {
      httpOnly: true,
      sameSite: 'Strict',
      path: '/admin',
      secure: isHttps(c, herald),
      maxAge: SESSION_MS / 1_000,
      expires: result.session.expiresAt,
    });
    herald.log.info({ keyId: result.session.keyId }, 'console:sign-in');
    return c.redirect(next ?? '/admin', 303);
  });

  const requireSession: MiddlewareHandler<AdminEnv> = async (c, next) => {
    const session = await sessions.check(getCookie(c, COOKIE));
    if (!session) {
      deleteCookie(c, COOKIE, { path: '/admin' });
      if (c.req.method === 'GET') {
        const next = c.req.path + (c.req.url.includes('?') ? `?${c.req.url.split('?')[1]}` : '');
        return c.redirect(`/admin/sign-in?next=${encodeURIComponent(next)}`, 303);
      }
      return c.text('Your session has ended: sign in again.', 401);
    }
    c.set('session', session);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      if (!sameOrigin(c)) return c.text('This form was not sent from the console.', 403);
      const form = await c.req.parseBody();
      if (!checkCsrf(session, form.csrf))
        return c.text('This form is stale or forged (no valid CSRF token): reload the page.', 403);
      const signingOut = c.req.path === '/admin/sign-out';
      if (session.readOnly && !signingOut)
        return c.text('This is a read-only key: it may look, and change nothing.', 403);
    }
    await next();
  };
  app.use(requireSession);

  app.post('/sign-out', async (c) => {
    await sessions.signOut(c.get('session').id);
    deleteCookie(c, COOKIE, { path: '/admin' });
    return c.redirect('/admin/sign-in', 303);
  });

  overviewRoutes(app, herald);
  notificationRoutes(app, herald);
  jobRoutes(app, herald);
  scheduleRoutes(app, herald);
  recipientRoutes(app, herald);
  typeRoutes(app, herald);
  return app;
}

/**
 * Whether a POST comes from this origin: its Origin (or, without one, its Referer) names this
 * host. Browsers send Origin on every POST; a request with neither is refused too.
 */
function sameOrigin(c: Context): boolean {
  const from = c.req.header('origin') ?? c.req.header('referer');
  if (!from) return false;
  try {
    return new URL(from).host === c.req.header('host');
  } catch {
    return false;
  }
}

function isHttps(c: Context, herald: Herald): boolean {
  return (
    new URL(c.req.url).protocol === 'https:' || (herald.config.publicUrl ?? '').startsWith('https:')
  );
}
