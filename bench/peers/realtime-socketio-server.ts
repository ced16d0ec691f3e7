/**
 * The Socket.IO peer of bench:realtime: a Socket.IO 4 server with `@socket.io/postgres-adapter`
 * (the setup Novu's ws service is built on, with PostgreSQL in place of Redis), all options as
 * installed. A middleware verifies the recipient's JWT (HS256, jose) from the handshake's
 * `Authorization: Bearer` header; each socket joins its recipient's room `r:<id>` and is told
 * `ready`. Events reach it from any node of the cluster through the adapter (NOTIFY on the
 * channel `bench_rt#/`).
 *
 *   node --expose-gc --import tsx --import bench/realtime-probe.mjs realtime-socketio-server.ts
 *   env: HERALD_JWT_SECRET, DATABASE_URL, BENCH_RT_POOL (the adapter's pg pool size)
 */
import http from 'node:http';
import { createAdapter } from '@socket.io/postgres-adapter';
import { jwtVerify } from 'jose';
import pg from 'pg';
import { Server } from 'socket.io';
import type { FromServer } from './realtime.js';
import { SOCKETIO_ADAPTER_OPTIONS } from './realtime-socketio.js';

const key = new TextEncoder().encode(process.env.HERALD_JWT_SECRET ?? '');
const send = (message: FromServer): void => {
  process.send?.(message);
};

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.BENCH_RT_POOL ?? '2'),
});
const server = http.createServer();
const io = new Server(server);
io.adapter(createAdapter(pool, SOCKETIO_ADAPTER_OPTIONS));

io.use((socket, next) => {
  const token = /^Bearer (.+)$/.exec(socket.handshake.headers.authorization ?? '')?.[1] ?? '';
  jwtVerify(token, key, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] }).then(
    ({ payload }) => {
      (socket.data as { recipient?: string }).recipient = payload.sub;
      next();
    },
    () => next(new Error('unauthorized')),
  );
});

io.on('connection', (socket) => {
  void socket.join(`r:${(socket.data as { recipient: string }).recipient}`);
  socket.emit('ready');
});

process.on('SIGTERM', () => {
  void io.close(() => {
    pool.end().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  });
  setTimeout(() => process.exit(0), 3_000).unref();
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') send({ type: 'listening', port: address.port });
});
