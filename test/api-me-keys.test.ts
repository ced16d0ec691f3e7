/**
 * Recipient tokens signed by an identity provider: a configured public key (RS256) or the keys
 * at a JWKS URL (served here by a real HTTP server). A token signed with another key, a token
 * whose alg does not match, and an HS256 token made with the public key as its secret (the
 * algorithm-confusion attack) are refused.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { closeHerald, openHerald } from './helpers/db.js';

type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const AUD = 'herald.acme.test';
const ISS = 'https://id.acme.test/';
const sign = (alg: string, key: Key | Uint8Array, sub = 'ann', kid?: string) =>
  new SignJWT({})
    .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
    .setSubject(sub)
    .setAudience(AUD)
    .setIssuer(ISS)
    .setExpirationTime('5m')
    .sign(key);

describe('recipient tokens from an identity provider', () => {
  let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
  let other: Awaited<ReturnType<typeof generateKeyPair>>;
  let ec: Awaited<ReturnType<typeof generateKeyPair>>;
  let jwksServer: Server;
  let jwksUrl: string;
  let jwksHits = 0;

  before(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    other = await generateKeyPair('RS256', { extractable: true });
    ec = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' };
    jwksServer = createServer((req, res) => {
      jwksHits++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(() => new Promise<void>((r) => jwksServer.close(() => r())));

  const inbox = async (herald: Herald, token: string) =>
    (
      await makeApp(herald).request('/v1/me/unread-count', {
        headers: { authorization: `Bearer ${token}` },
      })
    ).status;

  it('accepts tokens signed with the configured public key, and nothing else', async () => {
    const pem = await exportSPKI(rsa.publicKey);
    const herald = await openHerald('pglite', { jwtPublicKey: pem, jwtAlgorithm: 'RS256' });
    try {
      await herald.recipients.upsert('ann', {});
      assert.equal(await inbox(herald, await sign('RS256', rsa.privateKey)), 200);
      assert.equal(await inbox(herald, await sign('RS256', other.privateKey)), 401);
      assert.equal(await inbox(herald, await sign('ES256', ec.privateKey)), 401);
      // HS256 keyed with the public key's text: refused, there is no HS256 secret.
      assert.equal(await inbox(herald, await sign('HS256', new TextEncoder().encode(pem))), 401);
    } finally {
      await closeHerald(herald);
    }
  });

  it('accepts tokens signed with a key from the JWKS URL, by kid', async () => {
    const secret = 'a-jwt-secret-of-at-least-32-characters!';
    const herald = await openHerald('pglite', {
      jwksUrl,
      jwtSecret: secret,
      // The JWKS server is on loopback: the egress guard lets it through only when told.
      egressAllow: ['127.0.0.1/32'],
      jwtAudience: AUD,
      jwtIssuer: ISS,
    });
    try {
      await herald.recipients.upsert('ann', {});
      assert.equal(await inbox(herald, await sign('ES256', ec.privateKey, 'ann', 'ec-1')), 200);
      assert.ok(jwksHits >= 1, 'the keys were fetched from the URL');
      assert.equal(await inbox(herald, await sign('RS256', rsa.privateKey, 'ann', 'ec-1')), 401);
      // The app's own HS256 tokens still work beside the provider's.
      assert.equal(await inbox(herald, await sign('HS256', new TextEncoder().encode(secret))), 200);
    } finally {
      await closeHerald(herald);
    }
  });

  it('refuses a setting that is not a PEM public key, naming it', async () => {
    await assert.rejects(
      openHerald('pglite', { jwtPublicKey: 'not a key' }),
      /jwtPublicKey \(HERALD_JWT_PUBLIC_KEY\)/,
    );
  });
});
