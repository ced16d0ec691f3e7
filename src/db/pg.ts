/**
 * The PostgreSQL server implementation of `Db`, through `pg`.
 *
 * Contract: queries go through a pool whose broken connections are dropped and replaced
 * (an error of a connection, idle or checked out, is logged and fails its pending query; it
 * never reaches the process as an unhandled 'error' event); a query that hangs
 * past `queryTimeoutMs` fails and its connection is destroyed. LISTEN uses one dedicated
 * connection that is checked every `listenCheckMs` and re-established, with backoff, after an
 * error, an end or an unanswered check (a black-holed socket never reports an error).
 *
 * Behind a pooler in transaction mode (PgBouncer), `url` is the pooler and `directUrl` the
 * server itself: a pooler gives each transaction whichever server connection is free, so what
 * lives in a session (LISTEN, the migration's session advisory lock, held in `withConnection`)
 * goes over the direct URL. Everything else Herald sends is one statement or one transaction.
 */
import pg from 'pg';
import type { Connection, Db, ListenHandlers, Queryable, QueryResult } from './db.js';
import type { Logger } from '../obs/log.js';
import { quoteIdent } from './sql.js';
import { toError } from '../errors.js';
import { fromDatabase } from './faults.js';
import { preparedName } from './prepared.js';

export interface PgDbOptions {
  url: string;
  /** The server itself, for LISTEN and `withConnection`, when `url` is a pooler. Default `url`. */
  directUrl?: string | undefined;
  log: Logger;
  poolSize?: number;
  /**
   * Connections opened at start (by `openDb`) and kept open however idle. Default 1. A pool
   * that opens connections only under load makes the first burst wait for them, one fork and
   * one authentication each, on the busiest moment.
   */
  poolMin?: number;
  /** Send the statements marked in prepared.ts as named prepared statements. Default true. */
  preparedStatements?: boolean;
  /** A query not answered within this time fails and its connection is discarded. Default 30 s. */
  queryTimeoutMs?: number;
  /** How often the LISTEN connection is checked with a round trip. Default 10 s. */
  listenCheckMs?: number;
  /** Application name shown in pg_stat_activity. */
  applicationName?: string;
}

export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = u.password ? '***' : '';
    return u.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/** host:port/database of a PostgreSQL URL: what a person needs to know, no user or password. */
export function serverOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

export function makePgDb(options: PgDbOptions): Db {
  const { url, log } = options;
  const queryTimeoutMs = options.queryTimeoutMs ?? 30_000;
  const connection = {
    connectionString: url,
    keepAlive: true,
    connectionTimeoutMillis: 10_000,
    query_timeout: queryTimeoutMs,
    application_name: options.applicationName ?? 'herald',
  };
  const max = options.poolSize ?? 10;
  const pool = new pg.Pool({
    ...connection,
    max,
    min: Math.min(max, options.poolMin ?? 1),
    // Connections above `min` close after a minute idle (pg's default is 10 s, which under a
    // steady trickle closes and reopens them all the time).
    idleTimeoutMillis: 60_000,
  });
  const prepare = options.preparedStatements ?? true;
  let toldPooled = false;
  /** The statement as pg takes it: named when it is marked in prepared.ts (and enabled). */
  const statement: Statement = {
    of(text, values) {
      const name = prepare ? preparedName(text) : undefined;
      return name ? { name, text, values } : { text, values };
    },
    failed(config, err) {
      // A named statement that the server does not know (26000), or knows already (42P05):
      // its Parse and its Bind reached different server connections, which is what a pooler
      // in transaction mode does. Every such query fails; say once what to do about it.
      const code = (err as { code?: unknown }).code;
      if (config.name && (code === '26000' || code === '42P05') && !toldPooled) {
        toldPooled = true;
        log.error(
          {
            err: (err as Error).message,
            hint: 'DATABASE_URL hands transactions to different server connections (PgBouncer in transaction mode?): set HERALD_PREPARED_STATEMENTS=false, or set HERALD_DIRECT_DATABASE_URL (which turns them off unless set)',
          },
          'db:prepared-statements-behind-pooler',
        );
      }
      return fromDatabase(err);
    },
  };
  // Every client gets an 'error' listener of its own the moment the pool makes it, kept for
  // its whole life. pg-pool listens only while a client is idle, and a checked-out client
  // whose backend is terminated (57P01, a failover, a proxy cut) would emit 'error' with
  // nobody listening: Node makes that an exit. It must be attached here, synchronously:
  // the server can send ReadyForQuery and a FATAL in one packet, so the error may come in
  // the same tick the connection is handed out, before any `await pool.connect()` resumes.
  // The error is remembered so that `release` hands the client back broken (destroyed).
  const errors = new WeakMap<pg.ClientBase, Error>();
  pool.on('connect', (client) => {
    client.on('error', (err) => {
      if (!errors.has(client)) log.warn({ err: err.message }, 'db:connection-error');
      errors.set(client, err);
    });
  });
  // The pool re-emits an idle client's error after dropping it; the client's own listener
  // above has logged it. Without a listener here the pool's 'error' would crash the process.
  pool.on('error', () => undefined);

  // The session side: LISTEN and `withConnection` (see the header).
  const direct = options.directUrl
    ? { ...connection, connectionString: options.directUrl }
    : undefined;
  const listener = new PgListener(direct ?? connection, log, options.listenCheckMs ?? 10_000);

  const db: Db = {
    kind: 'pg',
    where: describeUrl(url),
    async query<R>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
      const config = statement.of(text, params);
      const res = await pool.query(config).catch((err: unknown) => {
        throw statement.failed(config, err);
      });
      return { rows: res.rows as R[] };
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const held = await checkout(pool, errors);
      try {
        await held.client.query('BEGIN');
        const result = await fn(wrapClient(held.client, statement));
        await held.client.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await held.client.query('ROLLBACK');
        } catch (rollbackErr) {
          held.broke(toError(rollbackErr));
        }
        throw err;
      } finally {
        held.release();
      }
    },
    async withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
      if (direct) return onDirectConnection(direct, log, statement, fn);
      const held = await checkout(pool, errors);
      try {
        return await fn(wrapClient(held.client, statement));
      } catch (err) {
        // A connection that saw an error may hold session state (locks): discard it.
        held.broke(toError(err));
        throw err;
      } finally {
        held.release();
      }
    },
    listen: (channel, handlers) => listener.add(channel, handlers),
    async close() {
      await listener.close();
      await pool.end();
    },
  };
  return db;
}

/** A client checked out of the pool, to be given back with `release` exactly once. */
interface Held {
  client: pg.PoolClient;
  /** Marks the client broken: `release` then hands it back with this error, to be destroyed. */
  broke(err: Error): void;
  release(): void;
}

/**
 * Checks a client out. Its errors reach the listener every client has from birth (see
 * makePgDb), which records them in `errors`; the pending query fails by itself (pg rejects
 * every query of a client that errors). `release` gives a client that saw an error back
 * with it, so the pool destroys it instead of handing a dead connection to the next caller.
 */
async function checkout(pool: pg.Pool, errors: WeakMap<pg.ClientBase, Error>): Promise<Held> {
  const client = await pool.connect().catch((err: unknown) => {
    throw fromDatabase(err);
  });
  let broken: Error | undefined;
  return {
    client,
    broke: (err) => {
      broken ??= err;
    },
    release: () => client.release(broken ?? errors.get(client)),
  };
}

/** How a statement is sent (named or not), and how its failure is reported. */
interface Statement {
  of(text: string, values?: unknown[]): pg.QueryConfig;
  failed(config: pg.QueryConfig, err: unknown): unknown;
}

/**
 * Runs `fn` on a connection of its own to the direct URL, closed afterwards: the session it
 * held (an advisory lock) ends with it, and no pooler is in the way.
 */
async function onDirectConnection<T>(
  config: pg.ClientConfig,
  log: Logger,
  statement: Statement,
  fn: (conn: Connection) => Promise<T>,
): Promise<T> {
  const client = new pg.Client(config);
  // An error of the connection fails its pending query; it must not reach the process.
  client.on('error', (err) => log.warn({ err: err.message }, 'db:direct-connection-error'));
  try {
    await client.connect().catch((err: unknown) => {
      throw fromDatabase(err);
    });
    return await fn(wrapClient(client, statement));
  } finally {
    await client.end().catch(() => undefined);
  }
}

function wrapClient(client: pg.ClientBase, statement: Statement): Connection {
  return {
    async exec(script: string): Promise<void> {
      // No parameters: the simple protocol runs every statement.
      await client.query(script).catch((err: unknown) => {
        throw fromDatabase(err);
      });
    },
    async query<R>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
      const config = statement.of(text, params);
      const res = await client.query(config).catch((err: unknown) => {
        throw statement.failed(config, err);
      });
      return { rows: res.rows as R[] };
    },
  };
}

async function backendPid(client: pg.Client): Promise<number> {
  const res = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return Number(res.rows[0]?.pid);
}

/** One LISTEN connection shared by all channels of a Db, kept alive across outages. */
class PgListener {
  private client: pg.Client | undefined;
  private readonly channels = new Map<string, Set<ListenHandlers>>();
  private connecting: Promise<void> | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 100;
  private closed = false;
  /** The server process of the live connection: a pooler shows up as it changing. */
  private pid: number | undefined;
  private toldPooled = false;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly log: Logger,
    private readonly checkMs: number,
  ) {}

  async add(channel: string, handlers: ListenHandlers): Promise<() => Promise<void>> {
    let set = this.channels.get(channel);
    const isNew = !set;
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(handlers);
    if (!this.client) {
      await this.ensureConnected();
    } else if (isNew) {
      await this.client.query(`LISTEN ${quoteIdent(channel)}`);
    }
    return async () => {
      set.delete(handlers);
      if (set.size === 0) {
        this.channels.delete(channel);
        await this.client?.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => undefined);
      }
    };
  }

  private ensureConnected(): Promise<void> {
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client(this.config);
    // Errors of a client that is not (or no longer) the live one are ignored: a failed
    // connect is reported by connect() itself.
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    client.on('notification', (msg) => {
      for (const h of this.channels.get(msg.channel) ?? []) h.onNotify(msg.payload ?? '');
    });
    try {
      await client.connect();
      for (const channel of this.channels.keys())
        await client.query(`LISTEN ${quoteIdent(channel)}`);
      this.pid = await backendPid(client);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    this.retryDelayMs = 100;
    this.checkTimer = setInterval(() => void this.check(client), this.checkMs);
    this.checkTimer.unref();
  }

  /** A round trip on the LISTEN connection; a black-holed socket shows up as no answer. */
  private async check(client: pg.Client): Promise<void> {
    const timeout = new Promise<'timeout'>((resolve) => {
      const t = setTimeout(() => resolve('timeout'), Math.min(5_000, this.checkMs));
      t.unref();
    });
    const answer = await Promise.race([backendPid(client), timeout]).catch((err: unknown) =>
      toError(err),
    );
    if (typeof answer !== 'number')
      this.lost(client, answer === 'timeout' ? new Error('no answer to a check') : answer);
    else if (answer !== this.pid && this.client === client && !this.toldPooled) {
      // The same client connection reached another server session: a pooler in transaction
      // mode is in between, and the LISTEN stayed behind on a session this client no longer
      // has. Wake-ups are lost (polling still finds the work, late).
      this.toldPooled = true;
      this.log.error(
        {
          hint: 'the LISTEN connection goes through a pooler in transaction mode (PgBouncer?) and misses wake-ups: set HERALD_DIRECT_DATABASE_URL to the PostgreSQL server itself',
        },
        'db:listen-behind-pooler',
      );
    }
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.client !== client) return; // not the live connection: nothing to recover
    this.client = undefined;
    clearInterval(this.checkTimer);
    // Destroy the socket: a black-holed connection would otherwise linger half-open.
    (
      client as unknown as { connection?: { stream?: { destroy(): void } } }
    ).connection?.stream?.destroy();
    client.end().catch(() => undefined);
    if (this.closed) return;
    this.log.warn({ err: err.message }, 'db:listen-lost');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.retryTimer || this.closed) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 5_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.ensureConnected().then(
        () => {
          this.log.info('db:listen-reconnected');
          for (const set of this.channels.values()) for (const h of set) h.onReconnect?.();
        },
        (err: unknown) => {
          this.log.warn({ err: toError(err).message }, 'db:listen-reconnect-failed');
          this.scheduleReconnect();
        },
      );
    }, delay);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.checkTimer);
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
