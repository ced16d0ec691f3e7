/**
 * Real-time inbox clients for tests: a `ws` WebSocket client that records every frame, and a
 * bare TCP client that does the handshake itself and can stop reading or answering (a slow or
 * dead peer, which a well-behaved client library never is).
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { waitFor } from './db.js';

/** A frame from the server, parsed. */
export interface Event {
  type: string;
  seq?: number;
  [key: string]: unknown;
}

export type AuthVia = 'header' | 'protocol' | 'message';

export interface Client {
  ws: WebSocket;
  events: Event[];
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  /** The `notification` and `updated` events, in arrival order. */
  changes(): Event[];
  send(message: unknown): void;
  /** Waits until `count` change events arrived (fails after `timeoutMs`). */
  waitForChanges(count: number, timeoutMs?: number): Promise<Event[]>;
  waitForEvent(pred: (e: Event) => boolean, what: string, timeoutMs?: number): Promise<Event>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  token?: string;
  via?: AuthVia;
  /** Appended to the URL (e.g. `after=3&epoch=…`). */
  query?: string;
}

/** Opens a WebSocket to `base` (http://host:port) and waits for it to open (not for `ready`). */
export async function connectClient(base: string, options: ConnectOptions = {}): Promise<Client> {
  const { token, via = 'header' } = options;
  const url = `${base.replace(/^http/, 'ws')}/v1/me/ws${options.query ? `?${options.query}` : ''}`;
  const ws =
    token && via === 'protocol'
      ? new WebSocket(url, ['herald.v1', `bearer.${token}`])
      : new WebSocket(
          url,
          token && via === 'header' ? { headers: { authorization: `Bearer ${token}` } } : {},
        );
  const events: Event[] = [];
  ws.on('message', (data: Buffer) => events.push(JSON.parse(data.toString()) as Event));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) =>
      reject(new Error(`upgrade refused: ${res.statusCode}`)),
    );
  });
  if (token && via === 'message') ws.send(JSON.stringify({ type: 'auth', token }));
  const changes = () => events.filter((e) => e.type === 'notification' || e.type === 'updated');
  const client: Client = {
    ws,
    events,
    closed,
    changes,
    send: (message) => ws.send(typeof message === 'string' ? message : JSON.stringify(message)),
    async waitForChanges(count, timeoutMs = 30_000) {
      await waitFor(() => changes().length >= count, timeoutMs, `${count} change events`);
      return changes();
    },
    async waitForEvent(pred, what, timeoutMs = 30_000) {
      return waitFor(() => events.find(pred), timeoutMs, what);
    },
    async close() {
      if (ws.readyState === ws.CLOSED) return;
      ws.close();
      await closed;
    },
  };
  return client;
}

/** The HTTP status an upgrade is refused with (0: it was accepted). */
export function upgradeStatus(
  base: string,
  headers: Record<string, string> = {},
  query = '',
  protocols?: string[],
): Promise<number> {
  const url = `${base.replace(/^http/, 'ws')}/v1/me/ws${query}`;
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols ?? [], { headers });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? -1);
      ws.terminate();
    });
    ws.once('open', () => {
      resolve(0);
      ws.terminate();
    });
    ws.once('error', () => undefined);
  });
}

/** A server-to-client frame read off the wire (server frames are not masked). */
export interface RawFrame {
  opcode: number;
  payload: Buffer;
}

/**
 * A WebSocket client on a bare TCP socket: it can `pause()` reading (a client too slow to
 * read) and never answers pings (a dead peer). Frames are parsed as they arrive.
 */
export async function rawClient(
  base: string,
  token: string,
): Promise<{ socket: Socket; frames: RawFrame[]; ended: Promise<void> }> {
  const { hostname, port } = new URL(base);
  const socket = tcpConnect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  socket.write(
    `GET /v1/me/ws HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
      `Sec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`,
  );
  const frames: RawFrame[] = [];
  let buffer = Buffer.alloc(0);
  let upgraded = false;
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    if (!upgraded) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!buffer.subarray(0, 12).toString().includes('101'))
        throw new Error(`not upgraded: ${buffer.toString()}`);
      upgraded = true;
      buffer = buffer.subarray(end + 4);
    }
    for (;;) {
      if (buffer.length < 2) return;
      const opcode = (buffer[0] as number) & 0x0f;
      let length = (buffer[1] as number) & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (buffer.length < offset + length) return;
      frames.push({ opcode, payload: buffer.subarray(offset, offset + length) });
      buffer = buffer.subarray(offset + length);
    }
  });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  return { socket, frames, ended };
}

/** The close code of a raw close frame (opcode 8). */
export const closeCode = (frame: RawFrame) =>
  frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005;
