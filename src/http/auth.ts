/**
 * Server realm: `Authorization: Bearer <api key>`. Admin routes need a key created with
 * `--admin` (or HERALD_ADMIN_KEY). A refused request changes nothing.
 */
import { createMiddleware } from 'hono/factory';
import { jwtVerify } from 'jose';
import type { Keys, KeyRealm } from '../notify/keys.js';
import { problem } from './problem.js';
import { recipientIdSchema } from '../notify/recipients.js';

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
    c.set('realm', realm);
    await next();
  });
}

export type RecipientEnv = { Variables: { recipientId: string } };

/**
 * Recipient realm: `Authorization: Bearer <JWT>` signed by the app with HERALD_JWT_SECRET
 * (HS256), with `sub` (the recipient id) and `exp` required. The token opens `/v1/me/...` for
 * that recipient only; it is never accepted where an API key is needed.
 */
export function requireRecipient(secret: string | undefined) {
  const key = secret ? new TextEncoder().encode(secret) : undefined;
  return createMiddleware<RecipientEnv>(async (c, next) => {
    if (!key) {
      return problem(401, 'unauthorized', 'recipient tokens are not set up: set HERALD_JWT_SECRET');
    }
    const match = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    if (!match?.[1])
      return problem(401, 'unauthorized', 'send a recipient token: Authorization: Bearer <JWT>');
    let sub: string;
    try {
      const { payload } = await jwtVerify(match[1], key, {
        algorithms: ['HS256'],
        requiredClaims: ['exp', 'sub'],
      });
      sub = payload.sub as string;
    } catch {
      return problem(401, 'unauthorized', 'the recipient token is invalid or expired');
    }
    // Signed, but a `sub` no recipient can have (empty, too long, a NUL) opens nothing.
    if (!recipientIdSchema.safeParse(sub).success)
      return problem(401, 'unauthorized', "the token's sub is not a valid recipient id");
    c.set('recipientId', sub);
    await next();
  });
}
