/**
 * A lost database answers 503 `database_unreachable` with Retry-After on every route, in one
 * place (problemFor in http/problem.ts): PostgreSQL behind a TCP proxy that cuts every
 * connection and refuses new ones, and a closed PGlite. `/ready` says the same without the
 * driver's words. When the database is back, the same routes answer again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeApp } from '../src/http/app.js';
import { isDatabaseLost, fromDatabase } from '../src/db/faults.js';
import type { Herald } from '../src/index.js';
import { apiCaller, recipientToken, type Problem } from './helpers/api.js';
import { closeHerald, openHerald, PG_URL, pgSkipReason } from './helpers/db.js';
import { startPgProxy, type PgProxy } from './helpers/proxy.js';

const KEY = 'db-faults-server-key-0123456789';
const ADMIN = 'db-faults-admin-key-0123456789';
const JWT_SECRET = 'db-faults-jwt-secret-0123456789-0123456789';
const skip = await pgSkipReason();

/** A sample of routes of each realm: [method, path, body, realm]. */
const ROUTES: [string, string, unknown, 'server' | 'admin' | 'recipient' | 'public'][] = [
  ['POST', '/v1/notifications', { type: 'hello', to: 'ada' }, 'server'],
  ['GET', '/v1/recipients/ada', undefined, 'server'],
  ['PUT', '/v1/recipients/bob', { email: 'bob@example.com' }, 'server'],
  [
    'PUT',
    '/v1/types/other',
    { channels: ['inapp'], templates: { inapp: { title: 'A', body: 'B' } } },
    'server',
  ],
  ['GET', '/v1/notifications/00000000-0000-4000-8000-000000000000', undefined, 'server'],
  ['GET', '/v1/admin/deliveries', undefined, 'admin'],
  ['GET', '/v1/admin/jobs/status', undefined, 'admin'],
  ['GET', '/v1/admin/schedules', undefined, 'admin'],
  ['GET', '/v1/me/notifications', undefined, 'recipient'],
  ['PUT', '/v1/me/preferences', { channels: { email: false } }, 'recipient'],
  ['GET', '/ready', undefined, 'public'],
];

async function expectUnreachable(res: Response, what: string): Promise<void> {
  const body = (await res.json()) as Problem;
  assert.equal(res.status, 503, `${what}: ${JSON.stringify(body)}`);
  assert.equal(body.code, 'database_unreachable', what);
  assert.match(res.headers.get('retry-after') ?? '', /^\d+$/, `${what}: Retry-After`);
  // The driver's words (hosts, ports, users, SQL) stay in the log.
  assert.doesNotMatch(body.detail, /127\.0\.0\.1|ECONN|terminated|postgres|SELECT/i, what);
}

async function callAll(herald: Herald, expect: (res: Response, what: string) => Promise<void>) {
  const app = makeApp(herald);
  const server = apiCaller(app, KEY);
  const token = await recipientToken('ada', JWT_SECRET);
  for (const [method, path, body, realm] of ROUTES) {
    const auth = { server: KEY, admin: ADMIN, recipient: token, public: null }[realm];
    await expect(await server(method, path, body, auth), `${method} ${path}`);
  }
}

const settings = {
  apiKey: KEY,
  adminKey: ADMIN,
  jwtSecret: JWT_SECRET,
  logLevel: 'silent',
  queryTimeoutMs: 5_000,
} as const;

async function seed(herald: Herald): Promise<void> {
  const call = apiCaller(makeApp(herald), KEY);
  const type = { channels: ['inapp'], templates: { inapp: { title: 'Hi', body: 'Hello' } } };
  assert.equal((await call('PUT', '/v1/types/hello', type)).status, 201);
  assert.equal((await call('PUT', '/v1/recipients/ada', { email: 'ada@example.com' })).status, 201);
}

describe('a lost PostgreSQL, through a proxy that cuts it', { skip }, () => {
  let proxy: PgProxy;
  let herald: Herald;
  before(async () => {
    proxy = await startPgProxy(PG_URL);
    herald = await openHerald('pg', { ...settings, databaseUrl: proxy.url });
    await seed(herald);
  });
  after(async () => {
    proxy.refuse(false);
    await closeHerald(herald);
    await proxy.close();
  });

  it('answers 503 database_unreachable with Retry-After on every realm, then recovers', async () => {
    proxy.refuse(true);
    proxy.cut();
    await callAll(herald, expectUnreachable);
    proxy.refuse(false);
    await callAll(herald, async (res, what) => {
      assert.ok(res.status < 500, `${what} after the database came back: ${res.status}`);
      await res.arrayBuffer();
    });
  });
});

describe('a closed PGlite', () => {
  it('answers 503 database_unreachable, not 500', async () => {
    const herald = await openHerald('pglite', settings);
    await seed(herald);
    await herald.db.close();
    try {
      await callAll(herald, expectUnreachable);
    } finally {
      await closeHerald(herald).catch(() => undefined);
    }
  });
});

describe('isDatabaseLost', () => {
  it('tells an outage from a bad statement and from other sockets', () => {
    const coded = (code: string, message = 'x') => Object.assign(new Error(message), { code });
    assert.ok(isDatabaseLost(coded('57P01')));
    assert.ok(isDatabaseLost(coded('08006')));
    assert.ok(isDatabaseLost(coded('57P03')));
    assert.ok(isDatabaseLost(new Error('Connection terminated unexpectedly')));
    assert.ok(isDatabaseLost(new Error('timeout exceeded when trying to connect')));
    assert.ok(isDatabaseLost(new Error('wrapped', { cause: coded('08001') })));
    assert.ok(isDatabaseLost(fromDatabase(coded('ECONNREFUSED'))));
    // A provider's refused socket is not the database.
    assert.ok(!isDatabaseLost(coded('ECONNREFUSED')));
    assert.ok(!isDatabaseLost(coded('23505')));
    assert.ok(!isDatabaseLost(coded('42P01')));
    assert.ok(!isDatabaseLost(new Error('boom')));
  });
});
