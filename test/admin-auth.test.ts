/**
 * Who may reach the console (/admin), on both backends: nobody until an admin key exists
 * (404, as an unknown path); a server key or recipient token never opens it; an admin key
 * signs in to a signed, HttpOnly, SameSite=Strict cookie under a strict CSP; a forged,
 * expired, signed-out or revoked session is refused; a change needs the session's CSRF token
 * and this origin; a read-only key sees every page and changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';
import { recipientToken } from './helpers/api.js';

const pgSkip = await pgSkipReason();
const SERVER_KEY = 'console-test-server-key-0123456789';
const ADMIN_KEY = 'console-test-admin-key-0123456789';
const READ_KEY = 'console-test-read-only-key-0123456789';
const SECRET = 'a-jwt-secret-of-at-least-32-characters!';
const ORIGIN = 'http://herald.test';

/** A browser's request to the app: the Host of ORIGIN, an Origin on posts, the cookie. */
function browser(app: Hono) {
  let cookie = '';
  const request = async (
    method: string,
    path: string,
    options: {
      form?: Record<string, string>;
      origin?: string | null;
      cookie?: string;
      auth?: string;
    } = {},
  ) => {
    const headers: Record<string, string> = { host: 'herald.test' };
    const c = options.cookie ?? cookie;
    if (c) headers.cookie = c;
    if (options.auth) headers.authorization = `Bearer ${options.auth}`;
    if (method !== 'GET' && options.origin !== null) headers.origin = options.origin ?? ORIGIN;
    let body: string | undefined;
    if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    }
    const res = await app.request(`${ORIGIN}${path}`, {
      method,
      headers,
      body,
      redirect: 'manual',
    });
    // A request with a cookie of its own (a forged one) leaves the browser's cookie alone.
    const set = res.headers.get('set-cookie');
    if (set && options.cookie === undefined) cookie = /herald_admin=[^;]+/.exec(set)?.[0] ?? '';
    return res;
  };
  return {
    request,
    get cookie() {
      return cookie;
    },
    async signIn(key: string) {
      const res = await request('POST', '/admin/sign-in', { form: { key } });
      assert.equal(res.status, 303, await res.clone().text());
      return res;
    },
    /** The CSRF token in a page's forms. */
    async csrf(path = '/admin') {
      const text = await (await request('GET', path)).text();
      const m = /name="csrf" value="([^"]+)"/.exec(text);
      assert.ok(m, 'a form with a CSRF token');
      return m[1] as string;
    },
  };
}

for (const backend of BACKENDS) {
  describe(`console access on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    let app: Hono;
    before(async () => {
      herald = await openHerald(backend, {
        apiKey: SERVER_KEY,
        adminKey: ADMIN_KEY,
        adminReadOnlyKey: READ_KEY,
        jwtSecret: SECRET,
      });
      app = makeApp(herald);
      await herald.schedules.put('nightly', {
        cron: '0 3 * * *',
        task: 'notify',
        payload: { type: 'x', to: 'u' },
      });
    });
    after(() => closeHerald(herald));

    it('is 404 until an admin key exists', async () => {
      const bare = await openHerald(backend, { apiKey: SERVER_KEY });
      try {
        const plain = makeApp(bare);
        for (const path of ['/admin', '/admin/sign-in', '/admin/assets/admin.js'])
          assert.equal((await plain.request(path)).status, 404, path);
        const post = await plain.request('/admin/sign-in', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `key=${SERVER_KEY}`,
        });
        assert.equal(post.status, 404);
        // A stored admin key turns it on.
        await bare.keys.create({ admin: true });
        assert.equal((await plain.request('/admin/sign-in')).status, 200);
      } finally {
        await closeHerald(bare);
      }
    });

    it('sends a page without a session to sign-in, and a server key or recipient token gets no further', async () => {
      const b = browser(app);
      const res = await b.request('GET', '/admin/jobs?kind=x');
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/admin/sign-in?next=%2Fadmin%2Fjobs%3Fkind%3Dx');
      // Bearer credentials are not how the console is reached.
      for (const auth of [SERVER_KEY, ADMIN_KEY, await recipientToken('u-1', SECRET)])
        assert.equal((await b.request('GET', '/admin', { auth })).status, 303);
      const server = await b.request('POST', '/admin/sign-in', { form: { key: SERVER_KEY } });
      assert.equal(server.status, 401);
      assert.match(await server.text(), /server key\. The console needs an admin key/);
      const jwt = await b.request('POST', '/admin/sign-in', {
        form: { key: await recipientToken('u-1', SECRET) },
      });
      assert.equal(jwt.status, 401);
      assert.equal(b.cookie, '');
    });

    it('signs in to a signed, HttpOnly, SameSite=Strict cookie under a strict CSP', async () => {
      const b = browser(app);
      const res = await b.signIn(ADMIN_KEY);
      assert.equal(res.headers.get('location'), '/admin');
      const set = res.headers.get('set-cookie') ?? '';
      assert.match(set, /HttpOnly/);
      assert.match(set, /SameSite=Strict/);
      assert.match(set, /Path=\/admin/);
      assert.match(set, /Max-Age=28800/);
      assert.match(b.cookie, /^herald_admin=[\w-]{43}\.[\w-]{43}$/);
      const page = await b.request('GET', '/admin');
      assert.equal(page.status, 200);
      const csp = page.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(page.headers.get('cache-control'), 'no-store');
      const text = await page.text();
      assert.doesNotMatch(
        text,
        /<script>|<style>| style="| on[a-z]+="/,
        'no inline script or style',
      );
      // `next` goes back where the operator was, and never off the console.
      const next = browser(app);
      const back = await next.request('POST', '/admin/sign-in', {
        form: { key: ADMIN_KEY, next: '/admin/jobs?kind=x' },
      });
      assert.equal(back.headers.get('location'), '/admin/jobs?kind=x');
      const away = await browser(app).request('POST', '/admin/sign-in', {
        form: { key: ADMIN_KEY, next: '//evil.example/admin' },
      });
      assert.equal(away.headers.get('location'), '/admin');
    });

    it('refuses a forged, expired, signed-out or revoked session', async () => {
      const b = browser(app);
      await b.signIn(ADMIN_KEY);
      const [id, mac] = b.cookie.slice('herald_admin='.length).split('.') as [string, string];
      const forged = [
        `herald_admin=${id}.${mac.slice(0, -2)}AA`,
        `herald_admin=${'A'.repeat(43)}.${mac}`,
        `herald_admin=${id}`,
        'herald_admin=..',
      ];
      for (const cookie of forged)
        assert.equal((await b.request('GET', '/admin', { cookie })).status, 303, cookie);
      assert.equal((await b.request('GET', '/admin')).status, 200, 'the real one works');
      // Expired: the row says so (the cookie's own Max-Age is the browser's business).
      await herald.db.query(
        `UPDATE "${herald.config.schema}".admin_sessions SET expires_at = now() - interval '1 second' WHERE id = $1`,
        [id],
      );
      const expired = await b.request('GET', '/admin');
      assert.equal(expired.status, 303);
      assert.match(
        expired.headers.get('set-cookie') ?? '',
        /herald_admin=;/,
        'the cookie is cleared',
      );

      const c = browser(app);
      await c.signIn(ADMIN_KEY);
      const token = await c.csrf();
      const signedOut = c.cookie;
      assert.equal(
        (await c.request('POST', '/admin/sign-out', { form: { csrf: token } })).status,
        303,
      );
      assert.equal((await c.request('GET', '/admin', { cookie: signedOut })).status, 303);

      const made = await herald.keys.create({ admin: true });
      const d = browser(app);
      await d.signIn(made.key);
      assert.equal((await d.request('GET', '/admin')).status, 200);
      await herald.db.query(
        `UPDATE "${herald.config.schema}".api_keys SET revoked_at = now() WHERE id = $1`,
        [made.id],
      );
      assert.equal(
        (await d.request('GET', '/admin')).status,
        303,
        'revoking the key ends its sessions',
      );
    });

    it('refuses a change without the CSRF token or from another origin, and changes nothing', async () => {
      const b = browser(app);
      await b.signIn(ADMIN_KEY);
      const csrf = await b.csrf();
      const runs = async () =>
        Number(
          (
            await herald.db.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM "${herald.config.schema}".job_runs WHERE schedule = 'nightly'`,
            )
          ).rows[0]?.n,
        );
      const before = await runs();
      const attempts: { form: Record<string, string>; origin?: string | null }[] = [
        { form: {} },
        { form: { csrf: 'x'.repeat(csrf.length) } },
        { form: { csrf: `${csrf}x` } },
        { form: { csrf }, origin: 'http://evil.example' },
        { form: { csrf }, origin: null },
      ];
      for (const a of attempts) {
        const res = await b.request('POST', '/admin/schedules/nightly/run', a);
        assert.equal(res.status, 403, JSON.stringify(a));
      }
      assert.equal(await runs(), before, 'nothing ran');
      const ok = await b.request('POST', '/admin/schedules/nightly/run', { form: { csrf } });
      assert.equal(ok.status, 303);
      assert.equal(await runs(), before + 1);
    });

    it('erases a recipient only when the id is typed to confirm, and pauses a kind', async () => {
      await herald.recipients.upsert('erase-me', { email: 'erase@example.com' });
      const b = browser(app);
      await b.signIn(ADMIN_KEY);
      const csrf = await b.csrf('/admin/recipients/erase-me');
      const wrong = await b.request('POST', '/admin/recipients/erase-me/erase', {
        form: { csrf, confirm: 'erase-m' },
      });
      assert.equal(wrong.status, 400);
      assert.ok(await herald.recipients.get('erase-me'), 'nothing erased');
      const right = await b.request('POST', '/admin/recipients/erase-me/erase', {
        form: { csrf, confirm: 'erase-me' },
      });
      assert.equal(right.status, 303);
      assert.equal(right.headers.get('location'), '/admin/recipients?notice=erased');
      assert.equal(await herald.recipients.get('erase-me'), null);

      const paused = await b.request('POST', '/admin/jobs/pause', {
        form: { csrf, kind: 'deliver', back: '/admin/jobs' },
      });
      assert.equal(paused.headers.get('location'), '/admin/jobs?notice=paused');
      assert.deepEqual(
        (await herald.pauses.list()).map((p) => p.kind),
        ['deliver'],
      );
      assert.match(await (await b.request('GET', '/admin/jobs')).text(), /Resume deliver/);
      await b.request('POST', '/admin/jobs/resume', { form: { csrf, kind: 'deliver' } });
      assert.deepEqual(await herald.pauses.list(), []);
      // A `back` off the console is ignored.
      const away = await b.request('POST', '/admin/jobs/resume', {
        form: { csrf, kind: 'deliver', back: 'https://evil.example/' },
      });
      assert.equal(away.headers.get('location'), '/admin/jobs?notice=resumed');
    });

    it('lets a read-only key see every page and change nothing', async () => {
      const b = browser(app);
      await b.signIn(READ_KEY);
      for (const path of [
        '/admin',
        '/admin/notifications',
        '/admin/jobs',
        '/admin/schedules',
        '/admin/recipients',
        '/admin/types',
        '/admin/overview.json',
      ]) {
        const res = await b.request('GET', path);
        assert.equal(res.status, 200, path);
      }
      const page = await (await b.request('GET', '/admin/schedules')).text();
      assert.match(page, /read-only/);
      assert.match(page, /disabled title="read-only key"/);
      const csrf = await b.csrf();
      const schedule = await herald.schedules.get('nightly');
      for (const path of [
        '/admin/schedules/nightly/run',
        '/admin/schedules/nightly/pause',
        '/admin/jobs/pause',
        '/admin/jobs/dead/replay',
      ]) {
        const res = await b.request('POST', path, { form: { csrf, kind: 'deliver' } });
        assert.equal(res.status, 403, path);
        assert.match(await res.text(), /read-only key/);
      }
      assert.deepEqual(await herald.schedules.get('nightly'), schedule);
      assert.deepEqual(await herald.pauses.list(), []);
      // The same key on the API: reads yes, changes no.
      const api = (method: string, path: string) =>
        app.request(path, {
          method,
          headers: { authorization: `Bearer ${READ_KEY}`, 'content-type': 'application/json' },
          body: method === 'GET' ? undefined : '{}',
        });
      assert.equal((await api('GET', '/v1/admin/schedules')).status, 200);
      assert.equal((await api('POST', '/v1/admin/schedules/nightly/run')).status, 403);
      assert.equal((await api('PUT', '/v1/recipients/ro-1')).status, 403);
      assert.equal(await herald.recipients.get('ro-1'), null);
      // And signing out is allowed.
      assert.equal((await b.request('POST', '/admin/sign-out', { form: { csrf } })).status, 303);
    });
  });
}
