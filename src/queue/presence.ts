/**
 * Which Herald processes are alive and which roles they run (`herald status`), read from the
 * `workers` table. Worker pools record themselves there (worker.ts: one row per pool, with its
 * queue and kinds, renewed by its heartbeat). A process's other roles, `api` and `scheduler`,
 * have no pool: `record` gives each a row of its own in the same table, written by the same
 * heartbeat statement, so no migration is needed. Such a row has the empty queue, which no job
 * can have (jobs_queue_check), so an older Herald's `jobs status` never counts it as a worker
 * of any kind; its one "kind" is the role.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Db } from '../db/db.js';
import type { Logger } from '../obs/log.js';
import type { QueueSql } from './sql.js';

export type Role = 'api' | 'worker' | 'scheduler';

/** The `queue` of a row that records a role rather than a worker pool. */
const ROLE_QUEUE = '';

/** A row not renewed for this long belongs to a process that is gone (or frozen). */
export const LIVE_MS = 60_000;

/** How often a role's row is renewed: as often as a worker pool's at most (worker.ts). */
const RENEW_MS = 15_000;

/** The id of a worker pool or role row: `host:pid:random`, so a reader can group by process. */
export function instanceId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** One process, as `herald status` shows it. */
export interface ProcessInfo {
  host: string;
  /** null when a library user named the worker pool something other than `host:pid:...`. */
  pid: number | null;
  /** `api`, `worker`, `scheduler`, in that order. */
  roles: string[];
  /** The queues its worker pools serve, with how many kinds each handles. */
  queues: { queue: string; kinds: number }[];
  startedAt: string;
  lastSeenAt: string;
  /** How long ago its freshest row was renewed, by the database's clock. */
  lastSeenMsAgo: number;
  /** Renewed within `LIVE_MS`. */
  live: boolean;
}

export interface PresenceRow {
  id: string;
  queue: string;
  kinds: string[];
  started_at: Date;
  last_seen_at: Date;
  seen_ms_ago: number | string;
}

const ROLE_ORDER: string[] = ['api', 'worker', 'scheduler'];
const rank = (role: string) => {
  const i = ROLE_ORDER.indexOf(role);
  return i === -1 ? ROLE_ORDER.length : i;
};

/** The rows grouped into processes (by host and pid), freshest first. */
export function groupProcesses(rows: PresenceRow[]): ProcessInfo[] {
  const byProcess = new Map<string, ProcessInfo>();
  for (const r of rows) {
    const m = /^(.+):(\d+):[0-9a-f]+$/.exec(r.id);
    const host = m?.[1] ?? r.id;
    const pid = m ? Number(m[2]) : null;
    const key = `${host}\n${pid ?? ''}`;
    const ago = Math.max(0, Math.round(Number(r.seen_ms_ago)));
    let p = byProcess.get(key);
    if (!p) {
      p = {
        host,
        pid,
        roles: [],
        queues: [],
        startedAt: r.started_at.toISOString(),
        lastSeenAt: r.last_seen_at.toISOString(),
        lastSeenMsAgo: ago,
        live: false,
      };
      byProcess.set(key, p);
    }
    const role = r.queue === ROLE_QUEUE ? (r.kinds[0] ?? '?') : 'worker';
    if (!p.roles.includes(role)) p.roles.push(role);
    if (role === 'worker') p.queues.push({ queue: r.queue, kinds: r.kinds.length });
    if (r.started_at.toISOString() < p.startedAt) p.startedAt = r.started_at.toISOString();
    if (ago < p.lastSeenMsAgo) {
      p.lastSeenMsAgo = ago;
      p.lastSeenAt = r.last_seen_at.toISOString();
    }
  }
  const list = [...byProcess.values()];
  for (const p of list) {
    p.live = p.lastSeenMsAgo < LIVE_MS;
    p.roles.sort((a, b) => rank(a) - rank(b));
  }
  return list.sort((a, b) => a.lastSeenMsAgo - b.lastSeenMsAgo || a.host.localeCompare(b.host));
}

export type Presence = ReturnType<typeof makePresence>;

export function makePresence(db: Db, sql: QueueSql, log: Logger) {
  return {
    /**
     * Records that this process runs these roles (`api`, `scheduler`; worker pools record
     * themselves) until `stop`, which removes the rows. A failed renewal is logged and tried
     * again at the next one.
     */
    async record(roles: Exclude<Role, 'worker'>[]): Promise<{ stop(): Promise<void> }> {
      const ids = roles.map((role) => ({ role, id: instanceId() }));
      const renew = async () => {
        for (const { role, id } of ids) {
          try {
            await db.query(sql.workerSeen, [id, ROLE_QUEUE, [role]]);
          } catch (err) {
            log.warn({ err: (err as Error).message, role }, 'process:role-not-recorded');
          }
        }
      };
      await renew();
      const timer = setInterval(() => void renew(), RENEW_MS);
      timer.unref();
      return {
        async stop() {
          clearInterval(timer);
          for (const { id } of ids) await db.query(sql.workerGone, [id]).catch(() => undefined);
        },
      };
    },

    /** Every process recorded (a row a day old is swept when any pool or role stops). */
    async list(): Promise<ProcessInfo[]> {
      const { rows } = await db.query<PresenceRow>(sql.workersList);
      return groupProcesses(rows);
    },
  };
}
