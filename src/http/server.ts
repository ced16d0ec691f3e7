/** Serves a Hono app on Node's HTTP server; `serveHerald` adds the real-time WebSocket. */
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Herald } from '../herald.js';
import { makeApp } from './app.js';
import { makeRealtimeServer, type RealtimeServer } from './realtime-ws.js';

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Herald's HTTP API with the real-time inbox: the app, `WS /v1/me/ws`, and this process's hub
 * listening for the other processes' changes. `close` says going-away to the WebSocket
 * clients (they resume elsewhere), then stops the HTTP server.
 */
export async function serveHerald(
  herald: Herald,
  port: number,
  host: string,
  overrides: Parameters<typeof makeRealtimeServer>[1] = {},
): Promise<RunningServer & { realtime: RealtimeServer }> {
  await herald.realtime.start();
  const realtime = makeRealtimeServer(herald, overrides);
  const server = await startServer(makeApp(herald), port, host, realtime.upgrade);
  return {
    port: server.port,
    realtime,
    async close() {
      await realtime.close();
      await server.close();
    },
  };
}

export function startServer(
  app: Hono,
  port: number,
  host: string,
  upgrade?: UpgradeListener,
): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    // No automatic draining of unread bodies (it reads up to 64 MB of each): the body limit
    // closes such connections without reading (body-limit.ts, closeUnread).
    const options = { fetch: app.fetch, port, hostname: host, autoCleanupIncoming: false };
    const server = serve(options, (info: AddressInfo) => {
      resolve({
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // Keep-alive connections would hold close() open; end idle ones now.
            (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
          }),
      });
    });
    server.once('error', reject);
    if (upgrade) server.on('upgrade', upgrade);
  });
}
