/**
 * What a signed recipient token must also say (docs/security.md#recipient-tokens): the
 * configured `aud` and `iss` (HERALD_JWT_AUDIENCE, HERALD_JWT_ISSUER), required with a JWKS URL
 * (`herald start` refuses to start without them), and a lifetime of at most
 * HERALD_JWT_MAX_LIFETIME; a token without `exp` is told so. A refused token changes nothing and
 * keeps the code `unauthorized`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { Herald } from '../src/index.js';
import { parseConfig } from '../src/config.js';
import { makeApp } from '../src/http/app.js';
import { closeHerald, openHerald } from './helpers/db.js';
import type { Problem } from './helpers/api.js';

const BIN = new URL('../bin/herald.js', import.meta.url).pathname;
const SECRET = 'a-jwt-secret-of-at-least-32-characters!';
const AUD = 'herald.acme.test';
const ISS = 'https://id.acme.test/';
const now = () => Math.floor(Date.now() / 1000);

type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'] | Uint8Array;
interface Claims {
  aud?: string;
  iss?: string;
  iat?: number;
  exp?: number;
}
/** A token for `ann`; each claim only when given (no defaults hide what a case is about). */
function sign(claims: Claims, key: Key = new TextEncoder().encode(SECRET), alg = 'HS256') {
  let jwt = new SignJWT({}).setProtectedHeader({ alg, kid: 'ec-1' }).setSubject('ann');
  if (claims.aud) jwt = jwt.setAudience(claims.aud);
  if (claims.iss) jwt = jwt.setIssuer(claims.iss);
  if (claims.iat !== undefined) jwt = jwt.setIssuedAt(claims.iat);
  if (claims.exp !== undefined) jwt = jwt.setExpirationTime(claims.exp);
  return jwt.sign(key);
}

/** PUT /v1/me/preferences with the token: the status and problem detail, if refused. */
async function put(herald: Herald, token: string): Promise<{ status: number; detail?: string }> {
  const res = await makeApp(herald).request('/v1/me/preferences', {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ digest: 'hourly' }),
  });
  if (res.status === 200) return { status: 200 };
  const body = (await res.json()) as Problem;
  assert.equal(body.code, 'unauthorized');
  return { status: res.status, detail: body.detail };
}

async function digest(herald: Herald): Promise<unknown> {
  return (await herald.preferences.get('ann')).digest;
}

describe('recipient token claims', () => {
  let ec: Awaited<ReturnType<typeof generateKeyPair>>;
  let jwksServer: Server;
  let jwksUrl: string;

  before(async () => {
    ec = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' };
    jwksServer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  });
  after(() => new Promise<void>((r) => jwksServer.close(() => r())));

  it('refuses a token for another audience or issuer, and accepts the right ones', async () => {
    const herald = await openHerald('pglite', {
      jwtSecret: SECRET,
      jwtAudience: AUD,
      jwtIssuer: ISS,
    });
    try {
      await herald.recipients.upsert('ann', {});
      await herald.preferences.put('ann', { digest: 'weekly' });
      const exp = now() + 300;
      for (const [name, claims, words] of [
        [
          'another audience',
          { aud: 'other-app', iss: ISS, exp },
          /aud claim .*HERALD_JWT_AUDIENCE/,
        ],
        ['no audience', { iss: ISS, exp }, /aud claim .*HERALD_JWT_AUDIENCE/],
        [
          'another issuer',
          { aud: AUD, iss: 'https://evil.test/', exp },
          /iss claim .*HERALD_JWT_ISSUER/,
        ],
        ['no issuer', { aud: AUD, exp }, /iss claim .*HERALD_JWT_ISSUER/],
      ] as const) {
        const got = await put(herald, await sign(claims));
        assert.equal(got.status, 401, name);
        assert.match(got.detail ?? '', words, name);
        assert.doesNotMatch(got.detail ?? '', /other-app|evil/, 'no claim value echoed');
      }
      assert.equal(await digest(herald), 'weekly', 'nothing changed');
      assert.equal((await put(herald, await sign({ aud: AUD, iss: ISS, exp }))).status, 200);
      assert.equal(await digest(herald), 'hourly');
    } finally {
      await closeHerald(herald);
    }
  });

  it("checks a JWKS provider's tokens for aud and iss too", async () => {
    const herald = await openHerald('pglite', {
      jwksUrl,
      jwtAudience: AUD,
      jwtIssuer: ISS,
      // The JWKS server is on loopback: the egress guard lets it through only when told.
      egressAllow: ['127.0.0.1/32'],
    });
    try {
      await herald.recipients.upsert('ann', {});
      const exp = now() + 300;
      // Signed by the same identity provider, for another of its apps: refused.
      const forOther = await sign({ aud: 'other-app', iss: ISS, exp }, ec.privateKey, 'ES256');
      assert.equal((await put(herald, forOther)).status, 401);
      const fromOther = await sign(
        { aud: AUD, iss: 'https://x.test/', exp },
        ec.privateKey,
        'ES256',
      );
      assert.equal((await put(herald, fromOther)).status, 401);
      const right = await sign({ aud: AUD, iss: ISS, exp }, ec.privateKey, 'ES256');
      assert.equal((await put(herald, right)).status, 200);
    } finally {
      await closeHerald(herald);
    }
  });

  it('a JWKS URL without audience and issuer is refused, naming both settings', () => {
    const both = /jwksUrl \(HERALD_JWKS_URL\): .*HERALD_JWT_AUDIENCE.*HERALD_JWT_ISSUER/;
    assert.throws(() => parseConfig({ jwksUrl: 'https://id.acme.test/jwks.json' }), both);
    assert.throws(
      () => parseConfig({ jwksUrl: 'https://id.acme.test/jwks.json', jwtAudience: AUD }),
      both,
    );
    assert.throws(
      () => parseConfig({ jwksUrl: 'https://id.acme.test/jwks.json', jwtIssuer: ISS }),
      both,
    );
    const ok = parseConfig({
      jwksUrl: 'https://id.acme.test/jwks.json',
      jwtAudience: AUD,
      jwtIssuer: ISS,
    });
    assert.equal(ok.jwtMaxLifetime, 86_400, 'the default lifetime is one day');
  });

  it('herald start refuses to start with a JWKS URL and no audience or issuer', () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-jwks-'));
    try {
      const r = spawnSync(process.execPath, [BIN, 'start', '--data-dir', dir, '--port', '0'], {
        encoding: 'utf8',
        env: { ...process.env, HERALD_JWKS_URL: 'https://id.acme.test/jwks.json' },
        timeout: 120_000,
      });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /^herald: .*HERALD_JWKS_URL.*HERALD_JWT_AUDIENCE.*HERALD_JWT_ISSUER/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a token that lives longer than HERALD_JWT_MAX_LIFETIME, with or without iat', async () => {
    const herald = await openHerald('pglite', { jwtSecret: SECRET, jwtMaxLifetime: 3_600 });
    try {
      await herald.recipients.upsert('ann', {});
      await herald.preferences.put('ann', { digest: 'weekly' });
      const t = now();
      for (const [name, claims] of [
        ['two hours from iat', { iat: t, exp: t + 7_200 }],
        // Ten minutes left, but made to live two hours: its lifetime is what counts.
        ['made two hours ago, ten minutes left', { iat: t - 6_600, exp: t + 600 }],
        ['no iat, two hours ahead', { exp: t + 7_200 }],
      ] as const) {
        const got = await put(herald, await sign(claims));
        assert.equal(got.status, 401, name);
        assert.match(
          got.detail ?? '',
          /longer than 3600 seconds \(HERALD_JWT_MAX_LIFETIME\)/,
          name,
        );
      }
      assert.equal(await digest(herald), 'weekly', 'nothing changed');
      assert.equal((await put(herald, await sign({ iat: t, exp: t + 3_000 }))).status, 200);
      assert.equal((await put(herald, await sign({ exp: t + 3_000 }))).status, 200);
    } finally {
      await closeHerald(herald);
    }
  });

  it('by default a token may live a day, not more', async () => {
    const herald = await openHerald('pglite', { jwtSecret: SECRET });
    try {
      await herald.recipients.upsert('ann', {});
      const t = now();
      assert.equal((await put(herald, await sign({ iat: t, exp: t + 2 * 86_400 }))).status, 401);
      assert.equal((await put(herald, await sign({ iat: t, exp: t + 86_400 }))).status, 200);
    } finally {
      await closeHerald(herald);
    }
  });

  it('a token without exp is told to carry one, and by how much', async () => {
    const herald = await openHerald('pglite', { jwtSecret: SECRET, jwtMaxLifetime: 900 });
    try {
      await herald.recipients.upsert('ann', {});
      await herald.preferences.put('ann', { digest: 'weekly' });
      const got = await put(herald, await sign({ iat: now() }));
      assert.equal(got.status, 401);
      assert.equal(
        got.detail,
        'the token has no exp claim: sign recipient tokens with an expiry of at most 900 seconds',
      );
      assert.equal(await digest(herald), 'weekly', 'nothing changed');
    } finally {
      await closeHerald(herald);
    }
  });
});
