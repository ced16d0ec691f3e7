/**
 * Unknown paths answer 404 `not_found` under every realm (/v1/me/*, /v1/admin/*, /v1/*),
 * whatever credential comes with them, instead of an auth complaint about the wrong kind of
 * credential; known routes keep their checks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { closeHerald, openHerald } from './helpers/db.js';
import { apiCaller, recipientToken, type Problem } from './helpers/api.js';

const SECRET = 'a-jwt-secret-of-at-least-32-characters!';
const KEY = 'unknown-routes-server-key-0123456789';
const ADMIN = 'unknown-routes-admin-key-0123456789';

describe('unknown routes', () => {
  let herald: Herald;
  let app: Hono;
  let jwt: string;
  before(async () => {
    herald = await openHerald('pglite', { apiKey: KEY, adminKey: ADMIN, jwtSecret: SECRET });
    app = makeApp(herald);
    await herald.recipients.upsert('u-1', {});
    jwt = await recipientToken('u-1', SECRET);
  });
  after(async () => {
    await closeHerald(herald);
  });
  const call = (auth: string | null, method: string, path: string) =>
    apiCaller(app, '')(method, path, undefined, auth);

  const unknown = [
    ['GET', '/v1/me/nope'],
    ['POST', '/v1/me/preferences/extra'],
    ['GET', '/v1/admin/nope'],
    ['GET', '/v1/nope'],
    ['PATCH', '/v1/recipients/u-1'],
    ['HEAD', '/v1/me/nope'],
  ] as const;

  for (const [method, path] of unknown) {
    it(`${method} ${path} is 404 with any credential or none`, async () => {
      for (const auth of [null, 'garbage', jwt, KEY, ADMIN]) {
        const res = await call(auth, method, path);
        assert.equal(res.status, 404, `${method} ${path} with ${String(auth)}`);
        if (method === 'HEAD') continue;
        const body = (await res.json()) as Problem;
        assert.equal(body.code, 'not_found');
        assert.match(body.detail, /no route/);
      }
    });
  }

  it('known routes keep their checks', async () => {
    assert.equal((await call(null, 'GET', '/v1/me/preferences')).status, 401);
    assert.equal((await call(KEY, 'GET', '/v1/me/preferences')).status, 401);
    assert.equal((await call(jwt, 'GET', '/v1/me/preferences')).status, 200);
    assert.equal((await call(jwt, 'HEAD', '/v1/me/preferences')).status, 200);
    assert.equal((await call(jwt, 'GET', '/v1/recipients/u-1')).status, 401);
    assert.equal((await call(null, 'GET', '/v1/recipients/u-1')).status, 401);
    assert.equal((await call(KEY, 'GET', '/v1/recipients/u-2')).status, 404, 'no such recipient');
    assert.equal((await call(KEY, 'GET', '/health')).status, 200);
  });
});
