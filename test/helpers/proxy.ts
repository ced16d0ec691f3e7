/**
 * A TCP proxy in front of PostgreSQL, to break connections the way networks and restarts do:
 * `cut()` resets every connection (a server restart), `refuse()` turns new connections away
 * (the server is down), `blackhole()` stops forwarding on the open connections without closing
 * them (a dead NAT entry or firewall: no error ever arrives).
 */
import net from 'node:net';

export interface PgProxy {
  url: string;
  /** Destroys every open connection. */
  cut(): void;
  /** While true, new connections are closed at once. */
  refuse(on: boolean): void;
  /**
   * Freezes open connections: bytes are swallowed, nothing is closed. `'listen'` freezes only
   * connections that have sent a LISTEN command.
   */
  blackhole(which?: 'all' | 'listen'): void;
  close(): Promise<void>;
}

export async function startPgProxy(targetUrl: string): Promise<PgProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  const frozen = new Set<net.Socket>();
  const listening = new Set<net.Socket>();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) return client.destroy();
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    const pair = [client, upstream];
    for (const s of pair) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        for (const other of pair) other.destroy();
      });
    }
    // Forward by hand (not pipe) so a frozen pair can swallow bytes.
    client.on('data', (d: Buffer) => {
      if (d.includes('LISTEN ')) listening.add(client).add(upstream);
      if (!frozen.has(client)) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!frozen.has(upstream)) client.write(d);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    refuse: (on) => {
      refusing = on;
    },
    blackhole: (which = 'all') => {
      for (const s of which === 'all' ? sockets : listening) frozen.add(s);
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
