/**
 * Console sessions. Signing in with an admin key makes a session row (migration 0018) and a
 * cookie `herald_admin=<id>.<HMAC-SHA256 of the id>`: HttpOnly, SameSite=Strict, Path=/admin,
 * Secure over HTTPS, with the session's expiry. A request's session is valid only if the
 * signature checks (a forged cookie never reaches the database), the row exists and has not
 * expired (sign-out deletes it), and the key it was made with is still live (revoking the key
 * ends its sessions).
 *
 * The signing key is Herald's own (`secrets` row `admin_session`, made on first sign-in), used
 * for nothing else. Each session has a CSRF token that every form that changes something
 * sends back (`checkCsrf`), on top of SameSite=Strict and the Origin check in routes.ts.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import type { Keys } from '../notify/keys.js';

export const COOKIE = 'herald_admin';
/** How long a sign-in lasts. An operator's working day; sign-out ends it sooner. */
export const SESSION_MS = 8 * 3_600_000;

export interface Session {
  id: string;
  keyId: string;
  readOnly: boolean;
  csrf: string;
  expiresAt: Date;
}

export function makeSessions(db: Db, schema: string, keys: Keys) {
  const s = quoteIdent(schema);
  let signingKey: Buffer | undefined;

  async function key(): Promise<Buffer> {
    if (signingKey) return signingKey;
    await db.query(
      `INSERT INTO ${s}.secrets (name, value) VALUES ('admin_session', $1) ON CONFLICT (name) DO NOTHING`,
      [randomBytes(32).toString('base64url')],
    );
    const { rows } = await db.query<{ value: string }>(
      `SELECT value FROM ${s}.secrets WHERE name = 'admin_session'`,
    );
    signingKey = Buffer.from((rows[0] as { value: string }).value);
    return signingKey;
  }

  const sign = async (id: string) =>
    createHmac('sha256', await key())
      .update(id)
      .digest('base64url');

  return {
    /** Signs in with a presented key: the session and its cookie value, or why not. */
    async signIn(
      presented: string,
    ): Promise<{ ok: true; session: Session; cookie: string } | { ok: false; why: string }> {
      const realm = presented ? await keys.verify(presented.trim()) : null;
      if (!realm) return { ok: false, why: 'This key is not known, or was revoked.' };
      if (!realm.admin)
        return {
          ok: false,
          why: 'This is a server key. The console needs an admin key (herald keys create --admin).',
        };
      const session: Session = {
        id: randomBytes(32).toString('base64url'),
        keyId: realm.keyId,
        readOnly: realm.readOnly,
        csrf: randomBytes(32).toString('base64url'),
        expiresAt: new Date(Date.now() + SESSION_MS),
      };
      // Sessions that ran out go as new ones come: the table stays the size of the live ones.
      await db.query(`DELETE FROM ${s}.admin_sessions WHERE expires_at < now()`);
      await db.query(
        `INSERT INTO ${s}.admin_sessions (id, key_id, read_only, csrf, expires_at)
         VALUES ($1, $2, $3, $4, $5)`,
        [session.id, session.keyId, session.readOnly, session.csrf, session.expiresAt],
      );
      return { ok: true, session, cookie: `${session.id}.${await sign(session.id)}` };
    },

    /** The live session a cookie value stands for, or null (forged, expired, signed out, revoked). */
    async check(cookie: string | undefined): Promise<Session | null> {
      const [id, mac, ...rest] = (cookie ?? '').split('.');
      if (!id || !mac || rest.length > 0 || id.length > 100) return null;
      const expected = Buffer.from(await sign(id));
      const given = Buffer.from(mac);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
      const { rows } = await db.query<{
        key_id: string;
        read_only: boolean;
        csrf: string;
        expires_at: Date;
      }>(
        `SELECT key_id, read_only, csrf, expires_at FROM ${s}.admin_sessions
         WHERE id = $1 AND expires_at > now()`,
        [id],
      );
      const row = rows[0];
      if (!row || !(await keys.live(row.key_id))) return null;
      return {
        id,
        keyId: row.key_id,
        readOnly: row.read_only,
        csrf: row.csrf,
        expiresAt: row.expires_at,
      };
    },

    async signOut(id: string): Promise<void> {
      await db.query(`DELETE FROM ${s}.admin_sessions WHERE id = $1`, [id]);
    },
  };
}

/** Whether a form's CSRF token is the session's (compared in constant time). */
export function checkCsrf(session: Session, token: unknown): boolean {
  if (typeof token !== 'string') return false;
  const a = Buffer.from(token);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}

export type Sessions = ReturnType<typeof makeSessions>;
