/** Serves a Hono app on Node's HTTP server. */
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AddressInfo } from 'node:net';

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

export function startServer(app: Hono, port: number, host: string): Promise<RunningServer> {
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
  });
}
