/**
 * Socket.IO 4 with `@socket.io/postgres-adapter` as a contender of bench:realtime: its server
 * processes are realtime-socketio-server.ts; triggers are emitted to the recipient's room by
 * one more node of the same cluster, a Socket.IO server without clients in the benchmark
 * process, so each crosses PostgreSQL (pg_notify, then LISTEN in every server) as Herald's do.
 *
 * Why not `@socket.io/postgres-emitter` (0.1.1, the latest): its messages carry no `nsp`, and
 * the adapter (0.5.0) hands a message to the namespace named by `msg.nsp`, so an emitter's
 * events never reach a client (checked by hand; the third-node route is the one that works).
 */
import path from 'node:path';
import { createAdapter } from '@socket.io/postgres-adapter';
import pg from 'pg';
import { Server } from 'socket.io';
import { DATABASE_URL, dropSchema, sleep } from '../env.js';
import { benchDir } from '../report.js';
import { pacedCalls } from '../scenarios.js';
import {
  APP_NAME_PREFIX,
  launchServer,
  withAppName,
  wallClock,
  type Contender,
  type LatencyPlan,
  type SentTriggers,
  type ServerProcess,
} from './realtime.js';

const SCHEMA = 'bench_rt_sio';
const URL_WITH_NAME = withAppName(DATABASE_URL, `${APP_NAME_PREFIX}_socketio`);

/** The adapter's settings, the same in every node: a channel and a table of the benchmark's. */
export const SOCKETIO_ADAPTER_OPTIONS = {
  channelPrefix: 'bench_rt',
  tableName: `${SCHEMA}.socket_io_attachments`,
};

export function socketIoContender(opts: { secret: string; poolSize: number }): Contender {
  let trigger: { io: Server; pool: pg.Pool } | undefined;
  let triggerErrors = 0;
  let firstTriggerError: string | undefined;
  return {
    name: 'socketio-pg',
    settings:
      'socket.io 4.8.4 (engine.io 6.6, options as installed), @socket.io/postgres-adapter 0.5.0 ' +
      `(pg pool ${opts.poolSize} per server), websocket transport only (client side), a JWT ` +
      'middleware on the handshake, one room per recipient; triggers: io.to(room).emit() from ' +
      'a client-less Socket.IO node with the adapter in the benchmark process',
    latencyServers: 2,
    async setup() {
      await dropSchema(SCHEMA);
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      try {
        // The adapter's table for payloads over 8,000 bytes (none here; its cleanup reads it).
        await client.query(`CREATE SCHEMA ${SCHEMA}`);
        await client.query(
          `CREATE TABLE ${SOCKETIO_ADAPTER_OPTIONS.tableName} (id bigserial UNIQUE,
             created_at timestamptz DEFAULT now(), payload bytea)`,
        );
      } finally {
        await client.end();
      }
    },
    startServer(label, cpuProfDir) {
      return launchServer({
        label,
        execArgv: ['--import', 'tsx'],
        script: path.join(benchDir, 'peers', 'realtime-socketio-server.ts'),
        env: {
          DATABASE_URL: URL_WITH_NAME,
          HERALD_JWT_SECRET: opts.secret,
          BENCH_RT_POOL: String(opts.poolSize),
        },
        ...(cpuProfDir ? { cpuProfDir } : {}),
      });
    },
    async addRecipients() {
      // Socket.IO keeps no recipients: a room exists while a socket is in it.
    },
    target: (server: ServerProcess) => ({ kind: 'socketio-pg', url: server.url }),
    async prepareTriggers() {
      if (trigger) return; // one trigger node for every latency run of this contender
      const pool = new pg.Pool({ connectionString: URL_WITH_NAME, max: opts.poolSize });
      const io = new Server();
      io.adapter(
        createAdapter(pool, {
          ...SOCKETIO_ADAPTER_OPTIONS,
          errorHandler: (error: Error) => {
            triggerErrors++;
            firstTriggerError ??= error.message;
          },
        }),
      );
      trigger = { io, pool };
      await sleep(1_000); // the adapter's LISTEN connection and first heartbeat
    },
    async sendTriggers(_servers, plan: LatencyPlan): Promise<SentTriggers> {
      if (!trigger) throw new Error('prepareTriggers() first');
      const { io } = trigger;
      const sentAt = new Float64Array(plan.total).fill(Number.NaN);
      const { recipients } = plan;
      const sending = pacedCalls(
        (n, t) => {
          const r = recipients[n % recipients.length] as string;
          io.to(`r:${r}`).emit('notification', { n, r, sentAt: t });
          return Promise.resolve();
        },
        { total: plan.total, rate: plan.rate, sentAt, clock: wallClock },
      );
      await sending.done;
      return { sentAt, errors: triggerErrors, firstError: firstTriggerError };
    },
    async teardown() {
      if (trigger) {
        const { io, pool } = trigger;
        trigger = undefined;
        // Not io.close(): a server never attached to an HTTP server has no engine to close.
        await io.of('/').adapter.close();
        await pool.end();
      }
      await dropSchema(SCHEMA);
    },
  };
}
