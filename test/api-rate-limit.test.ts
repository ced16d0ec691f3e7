/**
 * The per-API-key request limit (HERALD_API_RATE_LIMIT): the token buckets on a clock moved by
 * hand, then the API itself: a key past its burst is refused 429 `rate_limited` with
 * Retry-After before its handler runs (nothing written), other keys keep their own buckets,
 * admin and server routes draw on the same one, and with the setting off nothing is limited.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { resolveConfig } from '../src/config.js';
import { tokenBuckets } from '../src/http/rate-limit.js';
import { closeHerald, openHerald } from './helpers/db.js';
import type { Problem } from './helpers/api.js';

const SERVER_KEY = 'rate-limit-server-key-0123456789';
const ADMIN_KEY = 'rate-limit-admin-key-0123456789';

describe('token buckets', () => {
  it('lets a burst through, refuses the next, and refills at the rate', () => {
    let t = 1_000_000;
    const buckets = tokenBuckets({ rate: 2, burst: 3, now: () => t });
    for (let i = 0; i < 3; i++) assert.equal(buckets.take('k').ok, true, `request ${i + 1}`);
    const refused = buckets.take('k');
    assert.deepEqual(refused, { ok: false, retryAfterS: 1 });
    t += 499; // not yet one token back (2 per second)
    assert.equal(buckets.take('k').ok, false);
    t += 1; // 500 ms: one token
    assert.equal(buckets.take('k').ok, true);
    assert.equal(buckets.take('k').ok, false);
    t += 60_000; // a long quiet spell refills to the burst, no further
    for (let i = 0; i < 3; i++) assert.equal(buckets.take('k').ok, true);
    assert.equal(buckets.take('k').ok, false);
  });

  it('asks a slow key to wait as long as one token takes', () => {
    let t = 0;
    const buckets = tokenBuckets({ rate: 0.1, burst: 1, now: () => t });
    assert.equal(buckets.take('k').ok, true);
    assert.deepEqual(buckets.take('k'), { ok: false, retryAfterS: 10 });
    t += 4_000;
    assert.deepEqual(buckets.take('k'), { ok: false, retryAfterS: 6 });
  });

  it('keeps each key apart', () => {
    const t = 0;
    const buckets = tokenBuckets({ rate: 1, burst: 1, now: () => t });
    assert.equal(buckets.take('a').ok, true);
    assert.equal(buckets.take('a').ok, false);
    assert.equal(buckets.take('b').ok, true);
  });

  it('remembers at most maxKeys keys, forgetting the least recently seen', () => {
    const t = 0;
    const buckets = tokenBuckets({ rate: 1, burst: 1, maxKeys: 3, now: () => t });
    for (const k of ['a', 'b', 'c']) buckets.take(k);
    buckets.take('a'); // refused, and now the most recently seen
    buckets.take('d'); // forgets b
    assert.equal(buckets.size, 3);
    assert.equal(buckets.take('a').ok, false, 'a is still remembered (empty)');
    assert.equal(buckets.take('c').ok, false, 'c is still remembered (empty)');
    assert.equal(buckets.take('b').ok, true, 'b was forgotten, so it starts full');
  });
});

describe('the API with HERALD_API_RATE_LIMIT', () => {
  let herald: Herald;
  let app: Hono;
  // 0.01 per second: no token comes back during the test however slow the machine is.
  before(async () => {
    herald = await openHerald('pglite', {
      apiKey: SERVER_KEY,
      adminKey: ADMIN_KEY,
      apiRateLimit: 0.01,
      apiRateBurst: 3,
    });
    app = makeApp(herald);
  });
  after(() => closeHerald(herald));

  const call = (key: string, method: string, path: string, body?: unknown) =>
    app.request(path, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it('refuses a key past its burst with 429 rate_limited and Retry-After, writing nothing', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await call(SERVER_KEY, 'PUT', `/v1/recipients/r${i}`, { email: `r${i}@x.test` });
      assert.equal(res.status, 201, `request ${i + 1} is within the burst`);
    }
    const res = await call(SERVER_KEY, 'PUT', '/v1/recipients/r3', { email: 'r3@x.test' });
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    assert.equal(res.headers.get('retry-after'), '100');
    const body = (await res.json()) as Problem;
    assert.equal(body.code, 'rate_limited');
    assert.match(body.detail, /HERALD_API_RATE_LIMIT/);
    assert.equal(await herald.recipients.get('r3'), null, 'the refused request wrote nothing');
    assert.ok(await herald.recipients.get('r2'));
  });

  it("gives another key its own bucket, shared by that key's admin and server routes", async () => {
    const admin = [
      await call(ADMIN_KEY, 'GET', '/v1/admin/jobs/status'),
      await call(ADMIN_KEY, 'GET', '/v1/recipients/r0'),
      await call(ADMIN_KEY, 'GET', '/v1/admin/deliveries'),
      await call(ADMIN_KEY, 'GET', '/v1/recipients/r1'),
    ];
    assert.deepEqual(
      admin.map((r) => r.status),
      [200, 200, 200, 429],
    );
  });

  it('answers a wrong key 401, not 429', async () => {
    const res = await call('not-a-key-0123456789', 'GET', '/v1/recipients/r0');
    assert.equal(res.status, 401);
  });

  it('does not limit /health', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await app.request('/health')).status, 200);
  });
});

describe('the API without the setting', () => {
  it('is not limited (the default)', async () => {
    assert.equal(resolveConfig({ env: {}, noFile: true }).apiRateLimit, undefined);
    const herald = await openHerald('pglite', { apiKey: SERVER_KEY });
    try {
      const app = makeApp(herald);
      for (let i = 0; i < 50; i++) {
        const res = await app.request('/v1/recipients/nobody', {
          headers: { authorization: `Bearer ${SERVER_KEY}` },
        });
        assert.equal(res.status, 404);
      }
    } finally {
      await closeHerald(herald);
    }
  });

  it('reads HERALD_API_RATE_LIMIT and HERALD_API_RATE_BURST from the environment', () => {
    const config = resolveConfig({
      env: { HERALD_API_RATE_LIMIT: '50', HERALD_API_RATE_BURST: '200' },
      noFile: true,
    });
    assert.equal(config.apiRateLimit, 50);
    assert.equal(config.apiRateBurst, 200);
  });
});
