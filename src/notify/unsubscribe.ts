/**
 * Signed unsubscribe links (RFC 8058 one-click). A token names a recipient and a type and is
 * signed with HMAC-SHA256, so the public endpoint needs no login and nobody can unsubscribe
 * someone else. The key is `unsubscribeSecret` when configured, else a random one Herald makes
 * on first use and keeps in the database (every process of a deployment shares it).
 *
 * Token: base64url(JSON {r, t}) "." base64url(HMAC(key, that first part)).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { HeraldError } from '../errors.js';
import { typeNameSchema } from './types.js';

export interface UnsubscribeTarget {
  recipientId: string;
  type: string;
}

export function makeUnsubscribe(
  db: Db,
  schema: string,
  options: { secret?: string | undefined; baseUrl: string },
) {
  const secrets = `${quoteIdent(schema)}.secrets`;
  let key: Buffer | undefined;

  /**
   * The configured secret, or the stored one. Making links (`create`) makes the stored key if
   * there is none yet (whichever process asks first wins); checking a link only reads it, so a
   * refused link writes nothing, and with no key yet no link can be valid.
   */
  async function signingKey(create: boolean): Promise<Buffer | null> {
    if (options.secret) return Buffer.from(options.secret);
    if (key) return key;
    if (create) {
      await db.query(
        `INSERT INTO ${secrets} (name, value) VALUES ('unsubscribe', $1) ON CONFLICT (name) DO NOTHING`,
        [randomBytes(32).toString('base64url')],
      );
    }
    const { rows } = await db.query<{ value: string }>(
      `SELECT value FROM ${secrets} WHERE name = 'unsubscribe'`,
    );
    if (rows[0]) key = Buffer.from(rows[0].value);
    return key ?? null;
  }

  const mac = (k: Buffer, body: string) => createHmac('sha256', k).update(body).digest();

  return {
    async token(target: UnsubscribeTarget): Promise<string> {
      const body = Buffer.from(JSON.stringify({ r: target.recipientId, t: target.type })).toString(
        'base64url',
      );
      return `${body}.${mac((await signingKey(true)) as Buffer, body).toString('base64url')}`;
    },

    /** The link put in emails (and offered to templates as `unsubscribeUrl`). */
    async url(target: UnsubscribeTarget): Promise<string> {
      return `${options.baseUrl}/v1/unsubscribe?token=${await this.token(target)}`;
    },

    /** The target of a token; invalid_token if it is malformed or its signature is wrong. */
    async verify(token: string): Promise<UnsubscribeTarget> {
      const invalid = new HeraldError(
        'invalid_token',
        'this unsubscribe link is not valid: use the whole link from the email',
      );
      const [body, sig, extra] = token.split('.');
      if (!body || !sig || extra !== undefined) throw invalid;
      const signing = await signingKey(false);
      if (!signing) throw invalid;
      const expected = mac(signing, body);
      const given = Buffer.from(sig, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid;
      try {
        const { r, t } = JSON.parse(Buffer.from(body, 'base64url').toString()) as {
          r: unknown;
          t: unknown;
        };
        // Signed by us, so sound; still, only what a preference can hold is acted on.
        const type = typeNameSchema.safeParse(t);
        if (typeof r !== 'string' || !type.success) throw invalid;
        return { recipientId: r, type: type.data };
      } catch {
        throw invalid;
      }
    },
  };
}

export type Unsubscribe = ReturnType<typeof makeUnsubscribe>;
