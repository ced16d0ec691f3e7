/**
 * Is this error a lost database (as opposed to a bad statement or a bug)? A lost database is
 * an outage the caller can wait out: the HTTP API answers it with 503 `database_unreachable`
 * and Retry-After, never 500. Read from what `pg`, Node's sockets and PGlite throw; the
 * error's `cause` chain is followed, since callers may wrap what they caught.
 *
 * A socket error (ECONNREFUSED...) counts only when the database seam marked it as its own
 * (`fromDatabase`): the same codes from a provider or JWKS call are not a database outage.
 */

const FROM_DB = Symbol('herald.fromDatabase');

/** Marks an error thrown by the database driver, and gives it back (to rethrow). */
export function fromDatabase(err: unknown): unknown {
  if (err && typeof err === 'object' && !Object.isFrozen(err)) {
    Object.defineProperty(err, FROM_DB, { value: true, enumerable: false });
  }
  return err;
}

/** Socket-level failures of reaching or keeping a connection (Node's `err.code`). */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a server that went away or cannot take us now: class 08 (connection
 * exception) is matched by prefix; 57P01 admin_shutdown (pg_terminate_backend, a fast
 * shutdown), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up, in recovery),
 * 53300 too_many_connections.
 */
const SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * Messages of `pg`, `pg-pool` and PGlite that carry no code: a connection ended under a
 * query, a client that already failed, a pool connect timeout (`connectionTimeoutMillis`),
 * an unanswered query (`query_timeout`), and a closed pool or PGlite (shutting down).
 */
const MESSAGES = [
  /^Connection terminated/,
  /not queryable/,
  /^timeout exceeded when trying to connect/,
  /^Query read timeout/,
  /^Cannot use a pool after calling end/,
  /^Client was closed and is not queryable/,
  /^PGlite is closed/,
];

export function isDatabaseLost(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 5) return false;
  const e = err as { code?: unknown; message?: unknown; cause?: unknown; [FROM_DB]?: boolean };
  if (typeof e.code === 'string') {
    if (SQLSTATES.has(e.code)) return true;
    if (SOCKET_CODES.has(e.code) && e[FROM_DB]) return true;
    if (/^08[0-9A-Z]{3}$/.test(e.code)) return true;
    if (e.code === 'database_unreachable') return true; // a HeraldError saying so already
  }
  if (typeof e.message === 'string' && MESSAGES.some((m) => m.test(e.message as string)))
    return true;
  return isDatabaseLost(e.cause, depth + 1);
}
