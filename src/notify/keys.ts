/**
 * Server API keys: `hk_<id>_<secret>`. Only a SHA-256 of the key is stored; the key itself is
 * shown once, when created. Keys from the environment (HERALD_API_KEY, HERALD_ADMIN_KEY,
 * HERALD_ADMIN_READONLY_KEY) are accepted as given and never stored.
 *
 * Three kinds: server keys (`/v1/...`), admin keys (also `/v1/admin/...` and the console), and
 * read-only admin keys (what an admin key may read, and no change anywhere).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';

export interface KeyRealm {
  admin: boolean;
  /** An admin key that may only read (GET /v1/admin/..., the console's pages). */
  readOnly: boolean;
  keyId: string;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function makeKeys(
  db: Db,
  schema: string,
  envKeys: {
    api?: string | undefined;
    admin?: string | undefined;
    adminReadOnly?: string | undefined;
  },
) {
  const table = `${quoteIdent(schema)}.api_keys`;
  // Compared as hashes: equal-length hex strings, so the comparison leaks nothing useful.
  const fromEnv = new Map<string, KeyRealm>();
  if (envKeys.api)
    fromEnv.set(hashKey(envKeys.api), {
      admin: false,
      readOnly: false,
      keyId: 'env:HERALD_API_KEY',
    });
  if (envKeys.admin)
    fromEnv.set(hashKey(envKeys.admin), {
      admin: true,
      readOnly: false,
      keyId: 'env:HERALD_ADMIN_KEY',
    });
  if (envKeys.adminReadOnly)
    fromEnv.set(hashKey(envKeys.adminReadOnly), {
      admin: true,
      readOnly: true,
      keyId: 'env:HERALD_ADMIN_READONLY_KEY',
    });

  return {
    /** Makes a key, stores its hash, and returns the key (shown once). */
    async create(
      options: { admin?: boolean; readOnly?: boolean; name?: string } = {},
    ): Promise<{ id: string; key: string; admin: boolean; readOnly: boolean }> {
      const id = randomBytes(4).toString('hex');
      const key = `hk_${id}_${randomBytes(24).toString('base64url')}`;
      const readOnly = options.readOnly ?? false;
      const admin = readOnly || (options.admin ?? false);
      await db.query(
        `INSERT INTO ${table} (id, hash, admin, read_only, name) VALUES ($1, $2, $3, $4, $5)`,
        [id, hashKey(key), admin, readOnly, options.name ?? null],
      );
      return { id, key, admin, readOnly };
    },

    /** Whether any key is accepted at all: one from the environment or a stored, live one. */
    async any(): Promise<boolean> {
      if (fromEnv.size > 0) return true;
      const { rows } = await db.query(`SELECT 1 FROM ${table} WHERE revoked_at IS NULL LIMIT 1`);
      return rows.length > 0;
    },

    /** Whether an admin key (of either kind) exists: the console is off (404) until one does. */
    async anyAdmin(): Promise<boolean> {
      if ([...fromEnv.values()].some((r) => r.admin)) return true;
      const { rows } = await db.query(
        `SELECT 1 FROM ${table} WHERE admin AND revoked_at IS NULL LIMIT 1`,
      );
      return rows.length > 0;
    },

    /** The realm of a presented key, or null when it is unknown or revoked. */
    async verify(key: string): Promise<KeyRealm | null> {
      const hash = hashKey(key);
      const env = fromEnv.get(hash);
      if (env) return env;
      const { rows } = await db.query<{ id: string; admin: boolean; read_only: boolean }>(
        `SELECT id, admin, read_only FROM ${table} WHERE hash = $1 AND revoked_at IS NULL`,
        [hash],
      );
      const row = rows[0];
      return row ? { admin: row.admin, readOnly: row.read_only, keyId: row.id } : null;
    },

    /** Whether the key with this id is still live (a console session ends with its key). */
    async live(keyId: string): Promise<boolean> {
      if (keyId.startsWith('env:')) return [...fromEnv.values()].some((r) => r.keyId === keyId);
      const { rows } = await db.query(
        `SELECT 1 FROM ${table} WHERE id = $1 AND revoked_at IS NULL`,
        [keyId],
      );
      return rows.length > 0;
    },
  };
}

export type Keys = ReturnType<typeof makeKeys>;
