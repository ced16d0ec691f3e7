/**
 * Signed unsubscribe links (RFC 8058 one-click). A token names a recipient and a type and is
 * signed with HMAC-SHA256, so the public endpoint needs no login and nobody can unsubscribe
 * someone else. The key is `unsubscribeSecret` when configured, else a random one Herald makes
 * on first use and keeps in the database (every process of a deployment shares it).
 *
 * Token: base64url(JSON {r, t, e}) "." base64url(HMAC(key, that first part)), where `e` is
 * when the link stops working (Unix seconds): `unsubscribeTtlDays` after the email was made,
 * so a link found in an old mailbox, a forwarded email or a leaked log cannot change someone's
 * preferences for ever. An expired link changes nothing (docs/security.md#unsubscribe-links).
 *
 * Links made before links expired carry no `e`; they are honoured until LEGACY_UNTIL (the 90
 * days a link made on the day of the change would have had), then refused like expired ones.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { HeraldError } from '../errors.js';
import { typeNameSchema } from './types.js';

/** Until when links without an expiry (made before expiry existed) are honoured. */
export const LEGACY_UNTIL = new Date('2027-03-04T00:00:00Z');

const DAY_SECONDS = 86_400;

export interface UnsubscribeTarget {
  recipientId: string;
  type: string;
}

export function makeUnsubscribe(
  db: Db,
  schema: string,
  options: { secret?: string | undefined; baseUrl: string; ttlDays: number },
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
    /** A token for `target`, made at `madeAt` (now; tests make old ones). */
    async token(target: UnsubscribeTarget, madeAt = new Date()): Promise<string> {
      const e = Math.floor(madeAt.getTime() / 1000) + options.ttlDays * DAY_SECONDS;
      const body = Buffer.from(
        JSON.stringify({ r: target.recipientId, t: target.type, e }),
      ).toString('base64url');
      return `${body}.${mac((await signingKey(true)) as Buffer, body).toString('base64url')}`;
    },

    /** The link put in emails (and offered to templates as `unsubscribeUrl`). */
    async url(target: UnsubscribeTarget): Promise<string> {
      return `${options.baseUrl}/v1/unsubscribe?token=${await this.token(target)}`;
    },

    /**
     * The target of a token; invalid_token if it is malformed or its signature is wrong,
     * link_expired if it was sound but its time is over (checked at `now`).
     */
    async verify(token: string, now = new Date()): Promise<UnsubscribeTarget> {
      const invalid = new HeraldError(
        'invalid_token',
        'this unsubscribe link is not valid: use the whole link from the email',
      );
      const expired = new HeraldError(
        'link_expired',
        'this unsubscribe link has expired: use the link in a newer email, or change your notification settings in the app',
      );
      const [body, sig, extra] = token.split('.');
      if (!body || !sig || extra !== undefined) throw invalid;
      const signing = await signingKey(false);
      if (!signing) throw invalid;
      const expected = mac(signing, body);
      const given = Buffer.from(sig, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid;
      let claims: { r?: unknown; t?: unknown; e?: unknown };
      try {
        claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as typeof claims;
      } catch {
        throw invalid;
      }
      // Signed by us, so sound; still, only what a preference can hold is acted on.
      const type = typeNameSchema.safeParse(claims.t);
      if (typeof claims.r !== 'string' || !type.success) throw invalid;
      const until =
        claims.e === undefined
          ? LEGACY_UNTIL.getTime()
          : typeof claims.e === 'number'
            ? claims.e * 1000
            : Number.NaN;
      if (Number.isNaN(until)) throw invalid;
      if (now.getTime() >= until) throw expired;
      return { recipientId: claims.r, type: type.data };
    },
  };
}

export type Unsubscribe = ReturnType<typeof makeUnsubscribe>;
