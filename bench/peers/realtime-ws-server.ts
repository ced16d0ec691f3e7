/**
 * The floor of bench:realtime: a bare `ws` server doing the least any real server must. It
 * verifies the recipient's JWT (HS256, jose) on the upgrade request (401 without a valid one),
 * keeps each socket in a Map by recipient id, says `{"type":"ready"}`, and pings every socket
 * every 30 s (one timer, the `ws` README's heartbeat). Nothing is stored and nothing crosses
 * processes: asked to `send` a plan, it emits each trigger to the recipient's sockets itself, in
 * this process, at the plan's rate.
 *
 *   node --expose-gc --import tsx --import bench/realtime-probe.mjs realtime-ws-server.ts
 *   env: HERALD_JWT_SECRET
 */
import http from 'node:http';
import { jwtVerify } from 'jose';
import { WebSocketServer, type WebSocket } from 'ws';
import { pacedCalls } from '../scenarios.js';
import { wallClock, type FromServer, type ToServer } from './realtime.js';

const key = new TextEncoder().encode(process.env.HERALD_JWT_SECRET ?? '');
const send = (message: FromServer): void => {
  process.send?.(message);
};

const byRecipient = new Map<string, Set<WebSocket>>();
const alive = new WeakSet<WebSocket>();
const wss = new WebSocketServer({ noServer: true });
const server = http.createServer((_req, res) => res.writeHead(404).end());

server.on('upgrade', (req, socket, head) => {
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  const refuse = (): void => {
    socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  };
  socket.on('error', () => socket.destroy()); // a client that went away mid-handshake
  if (!token) return refuse();
  jwtVerify(token, key, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] }).then(
    ({ payload }) => {
      const recipient = payload.sub as string;
      wss.handleUpgrade(req, socket, head, (ws) => {
        let sockets = byRecipient.get(recipient);
        if (!sockets) byRecipient.set(recipient, (sockets = new Set()));
        sockets.add(ws);
        alive.add(ws);
        ws.on('pong', () => alive.add(ws));
        ws.on('close', () => {
          sockets.delete(ws);
          if (sockets.size === 0) byRecipient.delete(recipient);
        });
        ws.send('{"type":"ready"}');
      });
    },
    refuse,
  );
});

const heartbeat = setInterval(() => {
  for (const ws of wss.clients) {
    if (!alive.has(ws)) {
      ws.terminate();
      continue;
    }
    alive.delete(ws);
    ws.ping();
  }
}, 30_000);

/** Emits the plan's triggers in this process; answers with when each was emitted. */
async function sendPlan(plan: Extract<ToServer, { type: 'send' }>): Promise<void> {
  const sentAt = new Float64Array(plan.total).fill(Number.NaN);
  const { recipients } = plan;
  const done = await pacedCalls(
    (n, t) => {
      const r = recipients[n % recipients.length] as string;
      const frame = JSON.stringify({ type: 'notification', n, r, sentAt: t });
      for (const ws of byRecipient.get(r) ?? []) ws.send(frame);
      return Promise.resolve();
    },
    { total: plan.total, rate: plan.rate, sentAt, clock: wallClock },
  ).done;
  send({
    type: 'sent',
    sentAt: [...sentAt],
    errors: done.enqueueErrors,
    ...(done.firstError ? { firstError: (done.firstError as Error).message } : {}),
  });
}

process.on('message', (message: ToServer) => {
  if (message.type !== 'send') return;
  sendPlan(message).catch((error: unknown) => {
    send({ type: 'error', message: (error as Error).stack ?? String(error) });
  });
});

process.on('SIGTERM', () => {
  clearInterval(heartbeat);
  for (const ws of wss.clients) ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') send({ type: 'listening', port: address.port });
});
