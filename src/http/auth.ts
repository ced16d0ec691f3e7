/**
 * Server realm: `Authorization: Bearer <api key>`. Admin routes need a key created with
 * `--admin` (or HERALD_ADMIN_KEY). A refused request changes nothing.
 */
import { createMiddleware } from 'hono/factory';
import type { Keys, KeyRealm } from '../notify/keys.js';
import { problem } from './problem.js';

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
