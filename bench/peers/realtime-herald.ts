/**
 * Herald as a contender of bench:realtime: `herald start` processes of the compiled CLI
 * (bin/herald.js; API, worker and scheduler in one process, as shipped) on one PostgreSQL
 * schema. Clients use `WS /v1/me/ws` with the recipient's JWT; a trigger is
 * `POST /v1/notifications` of an inapp-only type, through the whole pipeline (the trigger's
 * transaction, the queue, a worker delivering inapp, the recipient's change sequence, NOTIFY,
 * the socket). Each round of triggers over the recipients goes to the next server process's API,
 * so a recipient's events are triggered on either process (and delivered by either's worker).
 */
import http from 'node:http';
import path from 'node:path';
import { DATABASE_URL, dropSchema } from '../env.js';
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

const SCHEMA = 'bench_rt';
const TYPE = 'bench_rt_ping';
const BIN = path.join(benchDir, '..', 'bin', 'herald.js');

interface Answer {
  status: number;
  body: string;
}

/**
 * A JSON request over a keep-alive agent (fetch costs more CPU per call at 1,000/s). A request
 * on a reused connection that the server had just closed as idle is sent again once (Node's
 * documented `reusedSocket` pattern: the server never read it).
 */
function request(
  agent: http.Agent,
  method: string,
  url: string,
  key: string,
  body?: unknown,
  retried = false,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${key}`,
          ...(payload === undefined
            ? {}
            : {
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(payload),
              }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (!retried && req.reusedSocket && error.code === 'ECONNRESET')
        resolve(request(agent, method, url, key, body, true));
      else reject(error);
    });
    req.end(payload);
  });
}

async function expectOk(answer: Promise<Answer>, what: string): Promise<void> {
  const { status, body } = await answer;
  if (status < 200 || status >= 300)
    throw new Error(`${what}: HTTP ${status} ${body.slice(0, 300)}`);
}

export function heraldContender(opts: {
  apiKey: string;
  secret: string;
  poolSize: number;
}): Contender {
  // Idle connections are closed after 4 s, before the server's 5 s keep-alive timeout does.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 4_000 });
  const env = {
    DATABASE_URL: withAppName(DATABASE_URL, `${APP_NAME_PREFIX}_herald`),
    HERALD_SCHEMA: SCHEMA,
    HERALD_API_KEY: opts.apiKey,
    HERALD_JWT_SECRET: opts.secret,
    HERALD_POOL_SIZE: String(opts.poolSize),
    HERALD_POOL_MIN: String(Math.min(2, opts.poolSize)),
    HERALD_LOG_LEVEL: 'warn',
    HERALD_PORT: '0',
  };
  return {
    name: 'herald',
    settings:
      `herald start (API, worker and scheduler in one process; HERALD_POOL_SIZE ${opts.poolSize}, ` +
      'every other setting as shipped), schema bench_rt; triggers: POST /v1/notifications of an ' +
      'inapp-only type over keep-alive HTTP (at most 64 connections), each round over the ' +
      "recipients to the next server process's API",
    latencyServers: 2,
    async setup() {
      await dropSchema(SCHEMA);
    },
    async startServer(label, cpuProfDir) {
      return launchServer({
        label,
        script: BIN,
        args: ['start'],
        env,
        portFromStderr: /herald: ready at http:\/\/[^:\s]+:(\d+)/,
        ...(cpuProfDir ? { cpuProfDir } : {}),
      });
    },
    /** The notification type, then the recipients (16 requests at a time). */
    async addRecipients(server: ServerProcess, ids: string[]) {
      await expectOk(
        request(agent, 'PUT', `${server.url}/v1/types/${TYPE}`, opts.apiKey, {
          channels: ['inapp'],
          templates: { inapp: { title: 'Ping #{{n}}', body: 'For {{r}}' } },
        }),
        `PUT /v1/types/${TYPE}`,
      );
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < ids.length) {
          const id = ids[next++] as string;
          await expectOk(
            request(agent, 'PUT', `${server.url}/v1/recipients/${id}`, opts.apiKey, {}),
            `PUT /v1/recipients/${id}`,
          );
        }
      };
      await Promise.all(Array.from({ length: 16 }, lane));
    },
    async prepareTriggers() {},
    target: (server) => ({ kind: 'herald', url: server.url.replace(/^http/, 'ws') }),
    async sendTriggers(servers, plan: LatencyPlan): Promise<SentTriggers> {
      const sentAt = new Float64Array(plan.total).fill(Number.NaN);
      const answeredAt = new Float64Array(plan.total).fill(Number.NaN);
      const { recipients } = plan;
      const urls = servers.map((s) => `${s.url}/v1/notifications`);
      const sending = pacedCalls(
        (n, t) => {
          const r = recipients[n % recipients.length] as string;
          // Each round over the recipients goes to the next server's API.
          const url = urls[Math.floor(n / recipients.length) % urls.length] as string;
          const body = { type: TYPE, to: r, data: { n, r, sentAt: t } };
          const answer = request(agent, 'POST', url, opts.apiKey, body);
          return expectOk(answer, 'POST /v1/notifications').then(() => {
            answeredAt[n] = wallClock();
          });
        },
        { total: plan.total, rate: plan.rate, sentAt, clock: wallClock },
      );
      const done = await sending.done;
      return {
        sentAt,
        answeredAt,
        errors: done.enqueueErrors,
        firstError: done.firstError === undefined ? undefined : (done.firstError as Error).message,
      };
    },
    async teardown() {
      agent.destroy();
      await dropSchema(SCHEMA);
    },
  };
}
