/**
 * Server realm: `Authorization: Bearer <api key>`. Admin routes need a key created with
 * `--admin` (or HERALD_ADMIN_KEY). A read-only key (`--read-only`, HERALD_ADMIN_READONLY_KEY)
 * may only GET. A refused request changes nothing.
 */
import { createMiddleware } from 'hono/factory';
import {
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  importSPKI,
  jwtVerify,
  type FetchImplementation,
} from 'jose';
import { makeEgress, type Egress } from '../net/egress.js';
import type { Keys, KeyRealm } from '../notify/keys.js';
import { problem } from './problem.js';
import { recipientIdSchema } from '../notify/recipients.js';
import { lifetimeProblem, refusalText, REQUIRED_CLAIMS, type ClaimRules } from './token-claims.js';

export type AuthEnv = { Variables: { realm: KeyRealm } };

export function requireKey(keys: Keys, options: { admin?: boolean } = {}) {
  return createMiddleware<AuthEnv>(async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) {
      return problem(
        401,
        'unauthorized',
        'send an API key: Authorization: Bearer <key> (herald keys create)',
      );
    }
    const realm = await keys.verify(match[1]);
    if (!realm) return problem(401, 'unauthorized', 'this API key is not known (or was revoked)');
    if (options.admin && !realm.admin) {
      return problem(
        403,
        'forbidden',
        'this endpoint needs an admin key (herald keys create --admin)',
      );
    }
    if (realm.readOnly && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      return problem(
        403,
        'forbidden',
        'this is a read-only key: it may read, and change nothing (use an admin key)',
      );
    }
    c.set('realm', realm);
    await next();
  });
}

export type RecipientEnv = { Variables: { recipientId: string } };

/** How recipient tokens are checked: any of an HS256 secret, a public key, a JWKS URL. */
export interface RecipientKeys {
  secret?: string | undefined;
  publicKey?: string | undefined;
  algorithm?: string;
  jwksUrl?: string | undefined;
  /** The egress guard of the JWKS fetch (egressFromConfig). Default: no allow-list. */
  egress?: Egress | undefined;
  /** The `aud`, `iss` and longest lifetime every token must keep to (token-claims.ts). */
  claims?: ClaimRules;
}

/** The most of a JWKS answer read: a key set is a few KiB. */
const JWKS_ANSWER_BYTES = 64 * 1024;

/**
 * jose's fetch of the JWKS, through the egress guard: the URL is configuration, but a
 * mistaken or hostile one must not reach the metadata service or follow a redirect inward.
 * A refusal or an answer past the bound fails the key fetch (the token is then refused, 401).
 */
export function guardedJwksFetch(egress: Egress, timeoutMs = 5000): FetchImplementation {
  return async (url, init) => {
    const answer = await egress.request(url, {
      method: 'GET',
      headers: Object.fromEntries(init.headers),
      timeoutMs,
      signal: init.signal,
      maxAnswerBytes: JWKS_ANSWER_BYTES,
    });
    if (answer.truncated) throw new Error('the JWKS answer is larger than 64 KiB');
    return new Response(new Uint8Array(answer.body), { status: answer.status });
  };
}

/**
 * Recipient realm: `Authorization: Bearer <JWT>` signed by the app with HERALD_JWT_SECRET
 * (HS256), or by its identity provider (a public key, or the keys at a JWKS URL), with `sub`
 * (the recipient id) and `exp` required, `aud` and `iss` when configured, and a lifetime of at
 * most `jwtMaxLifetime` (token-claims.ts). The token opens `/v1/me/...` for that recipient only;
 * it is never accepted where an API key is needed. The token's `alg` picks the key: HS256 the
 * secret, anything else the public key or the JWKS, so a public key can never be used as an
 * HMAC secret (the classic algorithm-confusion attack).
 */
export function requireRecipient(keys: RecipientKeys) {
  const verify = makeRecipientVerifier(keys);
  return createMiddleware<RecipientEnv>(async (c, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    const result = await verify(match?.[1]);
    if (!result.ok) return problem(401, 'unauthorized', result.detail);
    c.set('recipientId', result.sub);
    await next();
  });
}

/** A recipient token checked: its recipient and expiry (seconds since epoch), or why not. */
export type TokenCheck =
  { ok: true; sub: string; exp: number | undefined } | { ok: false; detail: string };

/**
 * Checks recipient tokens (the rules above `requireRecipient`); the real-time routes use it for
 * tokens that arrive in a subprotocol or a message. `undefined` is "no token sent".
 */
export function makeRecipientVerifier(
  keys: RecipientKeys,
): (token: string | undefined) => Promise<TokenCheck> {
  const secret = keys.secret ? new TextEncoder().encode(keys.secret) : undefined;
  const algorithm = keys.algorithm ?? 'RS256';
  const publicKey = keys.publicKey ? importSPKI(keys.publicKey, algorithm) : undefined;
  publicKey?.catch(() => undefined); // reported when a token arrives
  const jwks = keys.jwksUrl
    ? createRemoteJWKSet(new URL(keys.jwksUrl), {
        [customFetch]: guardedJwksFetch(keys.egress ?? makeEgress()),
      })
    : undefined;
  const asymmetric = jwks
    ? ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']
    : publicKey
      ? [algorithm]
      : [];
  const algorithms = [...(secret ? ['HS256'] : []), ...asymmetric];
  const claims = keys.claims ?? { maxLifetime: 86_400 };

  return async (token) => {
    if (algorithms.length === 0) {
      return {
        ok: false,
        detail:
          'recipient tokens are not set up: set HERALD_JWT_SECRET, HERALD_JWT_PUBLIC_KEY or HERALD_JWKS_URL',
      };
    }
    if (!token) return { ok: false, detail: 'send a recipient token: Authorization: Bearer <JWT>' };
    let sub: string;
    let exp: number | undefined;
    try {
      const options = {
        algorithms,
        requiredClaims: REQUIRED_CLAIMS,
        ...(claims.audience ? { audience: claims.audience } : {}),
        ...(claims.issuer ? { issuer: claims.issuer } : {}),
      };
      const { payload } =
        decodeProtectedHeader(token).alg === 'HS256' || !(publicKey || jwks)
          ? await jwtVerify(token, secret ?? new Uint8Array(0), options)
          : jwks
            ? await jwtVerify(token, jwks, options)
            : await jwtVerify(token, await (publicKey as ReturnType<typeof importSPKI>), options);
      const tooLong = lifetimeProblem(payload, claims.maxLifetime);
      if (tooLong) return { ok: false, detail: tooLong };
      sub = payload.sub as string;
      exp = payload.exp;
    } catch (err) {
      return { ok: false, detail: refusalText(err) };
    }
    // Signed, but a `sub` no recipient can have (empty, too long, a NUL) opens nothing.
    if (!recipientIdSchema.safeParse(sub).success)
      return { ok: false, detail: "the token's sub is not a valid recipient id" };
    return { ok: true, sub, exp };
  };
}
