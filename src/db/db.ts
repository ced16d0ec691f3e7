/**
 * The one database seam. Two implementations: PGlite (embedded, the default) and a
 * PostgreSQL server through `pg`. Everything above this file speaks plain parameterized
 * SQL to a `Queryable`; values always travel as parameters.
 */

export interface QueryResult<R> {
  rows: R[];
}

/**
 * Anything that runs a parameterized statement: the Db itself, a transaction handed out
 * by `Db.transaction`, or the caller's own `pg` client / PGlite transaction (for enqueueing
 * inside the app's transaction).
 */
export interface Queryable {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>>;
}

/** One held connection: parameterized queries, and `exec` for a script of several statements. */
export interface Connection extends Queryable {
  exec(script: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'pg' | 'pglite';
  /** A human description of where the data lives (a URL without password, or a folder). */
  readonly where: string;
  /** Runs `fn` in a transaction: commit when it resolves, rollback when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs `fn` on one connection held for its duration (session-level advisory locks). */
  withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T>;
  /**
   * Subscribes to a NOTIFY channel. The implementation keeps the subscription alive across
   * dropped connections and database restarts, and calls `onReconnect` after re-subscribing,
   * because notifications sent while it was away are lost and the caller should look again.
   */
  listen(channel: string, handlers: ListenHandlers): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface ListenHandlers {
  onNotify(payload: string): void;
  onReconnect?(): void;
}
