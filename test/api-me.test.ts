/**
 * The recipient realm on both backends: a JWT signed with HERALD_JWT_SECRET opens /v1/me for
 * its `sub` only. The auth matrix: no token, a wrong secret, an expired token, a token without
 * exp, an unsigned token, a server key on /v1/me, a recipient token on server endpoints: all
 * refused, nothing changed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT, UnsecuredJWT } from 'jose';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';
import { apiCaller, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();
const SECRET = 'a-jwt-secret-of-at-least-32-characters!';
const SERVER_KEY = 'me-test-server-key-0123456789';

async function token(
  sub: string | undefined,
  options: { secret?: string; exp?: string | number | null } = {},
) {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (sub !== undefined) jwt = jwt.setSubject(sub);
  if (options.exp !== null) jwt = jwt.setExpirationTime(options.exp ?? '5m');
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

for (const backend of BACKENDS) {
  describe(
    `recipient realm (/v1/me) on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      let app: Hono;
      before(async () => {
        herald = await openHerald(backend, { apiKey: SERVER_KEY, jwtSecret: SECRET });
        app = makeApp(herald);
        await herald.recipients.upsert('u-1', {});
        await herald.recipients.upsert('u-2', {});
        await herald.preferences.put('u-2', { digest: 'weekly' });
      });
      after(async () => {
        await closeHerald(herald);
      });
      const call = (auth: string | null, method: string, path: string, body?: unknown) =>
        apiCaller(app, '')(method, path, body, auth);

      it('a recipient reads and replaces their own preferences', async () => {
        const t = await token('u-1');
        const put = await call(t, 'PUT', '/v1/me/preferences', { digest: 'daily' });
        assert.equal(put.status, 200);
        const got = (await (await call(t, 'GET', '/v1/me/preferences')).json()) as {
          digest: string;
        };
        assert.equal(got.digest, 'daily');
        assert.equal((await herald.preferences.get('u-2')).digest, 'weekly', "u-2's untouched");
      });

      it('refuses every token that is not valid for this realm, and changes nothing', async () => {
        const cases: [string, string | null][] = [
          ['no token', null],
          [
            'wrong secret',
            await token('u-2', { secret: 'another-secret-that-is-32-chars-long!!' }),
          ],
          ['expired', await token('u-2', { exp: Math.floor(Date.now() / 1000) - 60 })],
          ['no exp', await token('u-2', { exp: null })],
          ['no sub', await token(undefined)],
          [
            'unsigned (alg none)',
            new UnsecuredJWT({ sub: 'u-2' }).setExpirationTime('5m').encode(),
          ],
          ['a server API key', SERVER_KEY],
        ];
        for (const [name, auth] of cases) {
          const res = await call(auth, 'PUT', '/v1/me/preferences', { digest: 'hourly' });
          assert.equal(res.status, 401, name);
          assert.equal(((await res.json()) as Problem).code, 'unauthorized', name);
        }
        assert.equal((await herald.preferences.get('u-2')).digest, 'weekly');
      });

      it("a recipient token does not open server endpoints (another recipient's data)", async () => {
        const t = await token('u-1');
        for (const [method, path] of [
          ['GET', '/v1/recipients/u-2'],
          ['GET', '/v1/recipients/u-2/preferences'],
          ['PUT', '/v1/recipients/u-2/preferences'],
        ] as const) {
          const res = await call(
            t,
            method,
            path,
            method === 'PUT' ? { digest: 'hourly' } : undefined,
          );
          assert.equal(res.status, 401, `${method} ${path}`);
        }
        assert.equal((await herald.preferences.get('u-2')).digest, 'weekly');
      });
    },
  );
}
