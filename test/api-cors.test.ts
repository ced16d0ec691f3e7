/**
 * CORS on the recipient API: pages of the configured origins may call /v1/me from the
 * browser (the preflight is answered, the answer names the origin); other origins, and every
 * origin when none is configured, get no CORS headers, and the server realm never does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { closeHerald, openHerald } from './helpers/db.js';
import { recipientToken } from './helpers/api.js';

const SECRET = 'a-jwt-secret-of-at-least-32-characters!';
const APP = 'https://app.example.com';

const preflight = (app: Hono, origin: string, path = '/v1/me/notifications') =>
  app.request(path, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });

describe('CORS on the recipient API', () => {
  let withCors: Herald;
  let without: Herald;
  before(async () => {
    withCors = await openHerald('pglite', { jwtSecret: SECRET, corsOrigins: [APP] });
    without = await openHerald('pglite', {
      jwtSecret: SECRET,
      apiKey: 'cors-test-key-0123456789abcdef',
    });
  });
  after(async () => {
    await closeHerald(withCors);
    await closeHerald(without);
  });

  it('answers the preflight of a configured origin, and names it on the answer', async () => {
    const app = makeApp(withCors);
    const res = await preflight(app, APP);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.match(res.headers.get('access-control-allow-headers') ?? '', /authorization/i);
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
    const token = await recipientToken('ann', SECRET);
    const got = await app.request('/v1/me/unread-count', {
      headers: { origin: APP, authorization: `Bearer ${token}` },
    });
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('access-control-allow-origin'), APP);
  });

  it('gives other origins, the server realm, and a Herald without origins no CORS headers', async () => {
    const other = await preflight(makeApp(withCors), 'https://evil.example');
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const server = await preflight(makeApp(withCors), APP, '/v1/recipients/ann');
    assert.equal(server.headers.get('access-control-allow-origin'), null);
    const none = await preflight(makeApp(without), APP);
    assert.equal(none.headers.get('access-control-allow-origin'), null);
    assert.equal(none.status, 404);
  });

  it('refuses a setting that is not an origin', async () => {
    await assert.rejects(
      openHerald('pglite', { corsOrigins: ['https://app.example.com/path'] }),
      /must be an origin/,
    );
  });
});
