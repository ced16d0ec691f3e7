/**
 * The floor of bench:realtime: a bare `ws` server (realtime-ws-server.ts). It has no fan-out
 * between processes, so its latency run is one process that emits the triggers itself: the
 * cost of a JSON frame through `ws` to a client, with no database, queue or network hop
 * between the trigger and the socket. That is a floor to read Herald's memory against, and
 * a lower bound of latency, not a like-for-like latency peer.
 */
import path from 'node:path';
import { benchDir } from '../report.js';
import { launchServer, type Contender, type ServerProcess, type ToServer } from './realtime.js';

export function wsContender(opts: { secret: string }): Contender {
  const requests = new WeakMap<ServerProcess, Awaited<ReturnType<typeof launchServer>>>();
  return {
    name: 'ws-floor',
    settings:
      'ws 8.23.1 WebSocketServer (noServer, options as installed: no permessage-deflate), JWT ' +
      'verified with jose on the upgrade, a Map of recipient id → sockets, a 30 s ping; latency: ' +
      'one process emitting to its own sockets (no cross-process fan-out)',
    latencyServers: 1,
    async setup() {},
    async startServer(label, cpuProfDir) {
      const server = await launchServer({
        label,
        execArgv: ['--import', 'tsx'],
        script: path.join(benchDir, 'peers', 'realtime-ws-server.ts'),
        env: { HERALD_JWT_SECRET: opts.secret },
        ...(cpuProfDir ? { cpuProfDir } : {}),
      });
      requests.set(server, server);
      return server;
    },
    async addRecipients() {},
    async prepareTriggers() {},
    target: (server) => ({ kind: 'ws-floor', url: server.url.replace(/^http/, 'ws') }),
    async sendTriggers(servers, plan) {
      const server = servers[0] ? requests.get(servers[0]) : undefined;
      if (!server) throw new Error('the ws floor needs its server process');
      const message: ToServer = { type: 'send', ...plan };
      const answer = await server.request(message, 'sent');
      if (answer.type !== 'sent') throw new Error('unexpected answer');
      return {
        sentAt: Float64Array.from(answer.sentAt),
        errors: answer.errors,
        firstError: answer.firstError,
      };
    },
    async teardown() {},
  };
}
