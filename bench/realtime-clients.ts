/**
 * A process of bench:realtime's clients (forked by bench/peers/realtime.ts): opens the
 * WebSocket (or Socket.IO) clients it is given, each authenticated with its recipient's JWT
 * (HS256, `sub` = recipient id, an hour to live) in an `Authorization: Bearer` header, at most
 * `concurrency` handshakes at a time; a client counts as open once the server said it is ready.
 * With `record`, it notes when each trigger's event arrives (wall clock) and at which recipient.
 *
 *   ready:  Herald `{"type":"ready",...}`; Socket.IO the `ready` event; ws `{"type":"ready"}`
 *   events: Herald `{"type":"notification","item":{"data":{n,r,sentAt},...}}`; Socket.IO the
 *           `notification` event with {n,r,sentAt}; ws `{"type":"notification",n,r,sentAt}`
 */
import { SignJWT } from 'jose';
import { io as socketIo, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import type { ClientSpec, FromClients, ToClients, TriggerData } from './peers/realtime.js';
import { wallClock } from './peers/realtime.js';

const label = process.argv[2] ?? 'clients';
const send = (message: FromClients): void => {
  process.send?.(message);
};

interface Client {
  close(): void;
}

const received: number[] = [];
let misrouted = 0;
let other = 0;
let closed = 0;
const closeReasons = new Map<string, number>();
let stopping = false;
let record = false;
const clients: Client[] = [];

function onEvent(spec: ClientSpec, data: Partial<TriggerData> | undefined): void {
  const t = wallClock();
  if (!record) return;
  if (typeof data?.n !== 'number') {
    other++;
    return;
  }
  if (data.r !== spec.recipient) misrouted++;
  received.push(data.n, t);
}

function onClosed(reason: string): void {
  if (stopping) return;
  closed++;
  closeReasons.set(reason, (closeReasons.get(reason) ?? 0) + 1);
}

/** Opens one client; resolves once it is ready, rejects if it fails first. */
function openOne(spec: ClientSpec, token: string): Promise<Client> {
  const headers = { Authorization: `Bearer ${token}` };
  if (spec.target.kind === 'socketio-pg') {
    return new Promise((resolve, reject) => {
      const socket: Socket = socketIo(spec.target.url, {
        transports: ['websocket'],
        extraHeaders: headers,
        reconnection: false,
        forceNew: true,
        timeout: 60_000,
      });
      let ready = false;
      socket.once('ready', () => {
        ready = true;
        resolve({ close: () => socket.close() });
      });
      socket.on('notification', (data: TriggerData) => onEvent(spec, data));
      socket.once('connect_error', (error) => reject(error));
      socket.on('disconnect', (reason) => {
        if (ready) onClosed(`disconnect: ${reason}`);
        else reject(new Error(`disconnected before ready: ${reason}`));
      });
    });
  }
  const url = spec.target.kind === 'herald' ? `${spec.target.url}/v1/me/ws` : spec.target.url;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: 60_000 });
    let ready = false;
    ws.on('message', (raw: Buffer) => {
      let frame: {
        type?: string;
        item?: { data?: Partial<TriggerData> };
      } & Partial<TriggerData>;
      try {
        frame = JSON.parse(raw.toString()) as typeof frame;
      } catch {
        if (record) other++;
        return;
      }
      if (frame.type === 'ready') {
        if (!ready) {
          ready = true;
          resolve({ close: () => ws.close() });
        }
        return;
      }
      if (frame.type !== 'notification') {
        if (record) other++;
        return;
      }
      onEvent(spec, spec.target.kind === 'herald' ? frame.item?.data : frame);
    });
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`HTTP ${res.statusCode} on the upgrade`));
      res.resume();
    });
    ws.once('error', (error) => {
      if (!ready) reject(error);
    });
    ws.once('close', (code, reason) => {
      if (ready) onClosed(`close ${code}${reason.length ? ` ${reason.toString()}` : ''}`);
      else reject(new Error(`closed before ready: ${code} ${reason.toString()}`));
    });
  });
}

async function open(message: Extract<ToClients, { type: 'open' }>): Promise<void> {
  const began = performance.now();
  const key = new TextEncoder().encode(message.secret);
  record = message.record;
  let ok = 0;
  let failed = 0;
  const errors = new Map<string, number>();
  let next = 0;
  const ticker = setInterval(() => send({ type: 'progress', ok, failed }), 2_000);
  const lane = async (): Promise<void> => {
    while (next < message.clients.length) {
      const spec = message.clients[next++] as ClientSpec;
      try {
        const token = await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(spec.recipient)
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(key);
        clients.push(await openOne(spec, token));
        ok++;
      } catch (error) {
        failed++;
        const text = (error as Error).message || String(error);
        errors.set(text, (errors.get(text) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: message.concurrency }, lane));
  clearInterval(ticker);
  if (record) {
    setInterval(() => send({ type: 'received', count: received.length / 2 }), 250).unref();
  }
  send({
    type: 'opened',
    ok,
    failed,
    errors: [...errors].slice(0, 5).map(([text, count]) => `${count}× ${text}`),
    seconds: (performance.now() - began) / 1000,
  });
}

function stop(): void {
  stopping = true;
  for (const client of clients) client.close();
  const done: FromClients = {
    type: 'done',
    received,
    misrouted,
    other,
    closed,
    closeReasons: [...closeReasons].map(([text, count]) => `${count}× ${text}`),
  };
  // Closing handshakes need not finish: the servers are stopped next anyway.
  process.send?.(done, () => process.exit(0));
}

process.on('message', (message: ToClients) => {
  if (message.type === 'open') {
    open(message).catch((error: unknown) => {
      send({ type: 'error', message: `${label}: ${(error as Error).stack ?? String(error)}` });
      process.exit(1);
    });
  } else if (message.type === 'stop') stop();
});
process.on('disconnect', () => process.exit(0));
