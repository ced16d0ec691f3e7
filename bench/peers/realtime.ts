/**
 * The seam of the real-time benchmark (bench/realtime.ts): a WebSocket server that pushes
 * per-recipient events (Herald, Socket.IO with the PostgreSQL adapter, a bare `ws` server),
 * its server processes, and the processes that hold the clients.
 *
 * Every server process runs with `--expose-gc` and the memory probe preloaded
 * (bench/realtime-probe.mjs), so `memory()` is the same reading whatever runs inside.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { benchDir } from '../report.js';

export type ContenderName = 'herald' | 'socketio-pg' | 'ws-floor';

/** How a client connects: the protocol of one contender, and where. */
export interface ClientTarget {
  kind: ContenderName;
  /** The WebSocket URL (Herald, ws) or the Socket.IO server's http URL. */
  url: string;
}

/** process.memoryUsage() of a server process after three forced collections. */
export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface ServerProcess {
  readonly label: string;
  readonly pid: number;
  /** The base URL clients and triggers use (http://127.0.0.1:port). */
  readonly url: string;
  memory(): Promise<MemorySample>;
  /** SIGTERM, then SIGKILL after 10 s; resolves once the process is gone. */
  stop(): Promise<void>;
  /** The last lines it wrote to stderr (for an error message). */
  stderrTail(): string;
}

/** A latency run's plan: trigger n goes to recipients[n % recipients.length]. */
export interface LatencyPlan {
  recipients: string[];
  rate: number;
  total: number;
}

/** What a latency run's sender reports: when each trigger was called (wall clock, ms). */
export interface SentTriggers {
  sentAt: Float64Array;
  /** When each trigger call was answered (Herald's 202), where the call has an answer. */
  answeredAt?: Float64Array;
  errors: number;
  firstError: string | undefined;
}

/**
 * Every PostgreSQL connection of a contender carries an application_name starting with this,
 * so the benchmark can count the CPU of the contender's own backends (beside everyone's).
 */
export const APP_NAME_PREFIX = 'bench_rt';

/** `url` with `application_name` set (in the URL, where it wins over a client's own default). */
export function withAppName(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.toString();
}

/** The wall clock every process of a run shares (same machine). */
export const wallClock = (): number => performance.timeOrigin + performance.now();

/** The payload every trigger carries, whatever the contender. */
export interface TriggerData {
  n: number;
  r: string;
  sentAt: number;
}

export interface Contender {
  readonly name: ContenderName;
  /** One line for the report: versions and settings. */
  readonly settings: string;
  /** Server processes in the latency run (1 for the ws floor, which has no fan-out). */
  readonly latencyServers: number;
  /** A fresh state (schema, tables) for a run. */
  setup(): Promise<void>;
  /** Starts one server process; `cpuProfDir` runs it with --cpu-prof. */
  startServer(label: string, cpuProfDir?: string): Promise<ServerProcess>;
  /** Makes the recipients known (Herald: PUT /v1/recipients/{id} through `server`). */
  addRecipients(server: ServerProcess, ids: string[]): Promise<void>;
  target(server: ServerProcess): ClientTarget;
  /** Whatever the sender needs before the clock starts (connections, subscriptions). */
  prepareTriggers(servers: ServerProcess[]): Promise<void>;
  /** Sends the plan's triggers at its rate (open loop) and resolves when all were sent. */
  sendTriggers(servers: ServerProcess[], plan: LatencyPlan): Promise<SentTriggers>;
  /** Closes what setup() and sendTriggers() opened in this process; drops the state. */
  teardown(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Server processes

export const PROBE = path.join(benchDir, 'realtime-probe.mjs');

/** Messages a peer's server process (realtime-*-server.ts) sends over IPC. */
export type FromServer =
  | { type: 'listening'; port: number }
  | ({ type: 'memory'; gc: boolean } & MemorySample)
  | { type: 'sent'; sentAt: number[]; errors: number; firstError?: string }
  | { type: 'error'; message: string };

/** Messages a peer's server process understands (beside the probe's `memory`). */
export type ToServer = { type: 'memory' } | ({ type: 'send' } & LatencyPlan);

export interface LaunchOptions {
  label: string;
  /** Node arguments before the script (beyond --expose-gc and the probe). */
  execArgv?: string[];
  script: string;
  args?: string[];
  env?: Record<string, string>;
  cpuProfDir?: string;
  /** Reads the port off the process's stderr (Herald's `herald: ready at <url>` line). */
  portFromStderr?: RegExp;
}

/** A server process, with the probe and its IPC channel; resolves once it listens. */
export async function launchServer(opts: LaunchOptions): Promise<
  ServerProcess & {
    child: ChildProcess;
    request(message: ToServer, answer: FromServer['type']): Promise<FromServer>;
  }
> {
  const execArgv = [
    '--expose-gc',
    ...(opts.execArgv ?? []),
    '--import',
    PROBE,
    ...(opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : []),
  ];
  const env = { ...process.env, ...opts.env };
  const stdio: ['ignore', 'pipe', 'pipe', 'ipc'] = ['ignore', 'pipe', 'pipe', 'ipc'];
  const child = opts.portFromStderr
    ? spawn(process.execPath, [...execArgv, opts.script, ...(opts.args ?? [])], { env, stdio })
    : fork(opts.script, opts.args ?? [], { execArgv, env, stdio });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-20_000);
  });
  // Herald writes JSON logs to stdout; read (so the pipe never fills) and drop them.
  child.stdout?.on('data', () => undefined);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const tail = () => stderr.split('\n').slice(-15).join('\n');
  let failure: string | undefined;
  const request = (message: ToServer | null, answer: FromServer['type']): Promise<FromServer> =>
    new Promise<FromServer>((resolve, reject) => {
      const onMessage = (m: FromServer): void => {
        if (m.type === 'error') failure = m.message;
        if (m.type !== answer) return;
        done();
        resolve(m);
      };
      const onExit = (): void => {
        done();
        reject(
          new Error(`${opts.label} exited (${failure ?? `code ${child.exitCode}`}): ${tail()}`),
        );
      };
      const done = (): void => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      if (message) child.send(message);
    });

  let port: number;
  if (opts.portFromStderr) {
    const pattern = opts.portFromStderr;
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${opts.label} did not start within 60 s: ${tail()}`));
      }, 60_000);
      const check = (): void => {
        const m = pattern.exec(stderr);
        if (!m) return;
        clearTimeout(timer);
        child.stderr?.off('data', check);
        resolve(Number(m[1]));
      };
      child.stderr?.on('data', check);
      child.once('exit', () => {
        clearTimeout(timer);
        reject(new Error(`${opts.label} exited at start (code ${child.exitCode}): ${tail()}`));
      });
    });
  } else {
    const listening = await request(null, 'listening');
    if (listening.type !== 'listening') throw new Error('unexpected answer');
    port = listening.port;
  }
  return {
    label: opts.label,
    pid: child.pid ?? 0,
    url: `http://127.0.0.1:${port}`,
    child,
    request,
    async memory() {
      const m = await request({ type: 'memory' }, 'memory');
      if (m.type !== 'memory') throw new Error('unexpected answer');
      if (!m.gc) throw new Error(`${opts.label} runs without --expose-gc`);
      const { rss, heapUsed, heapTotal, external, arrayBuffers } = m;
      return { rss, heapUsed, heapTotal, external, arrayBuffers };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    stderrTail: tail,
  };
}

// ---------------------------------------------------------------------------------------------
// Client processes (bench/realtime-clients.ts)

/** One client: its recipient, and the server it connects to. */
export interface ClientSpec {
  recipient: string;
  target: ClientTarget;
}

export type ToClients =
  | { type: 'open'; clients: ClientSpec[]; secret: string; concurrency: number; record: boolean }
  | { type: 'stop' };

export type FromClients =
  | { type: 'progress'; ok: number; failed: number }
  | { type: 'opened'; ok: number; failed: number; errors: string[]; seconds: number }
  /** While recording: events received so far, every 250 ms. */
  | { type: 'received'; count: number }
  | {
      type: 'done';
      /** Pairs n, receive time (wall clock ms), flattened. */
      received: number[];
      /** Events for another recipient than the client's own. */
      misrouted: number;
      /** Frames that were not a trigger's event (ready frames aside). */
      other: number;
      /** Clients the server closed (or that failed) after they were ready. */
      closed: number;
      closeReasons: string[];
    }
  | { type: 'error'; message: string };

export interface ClientProcess {
  readonly pid: number;
  /** Opens every client; resolves when each is ready or failed. */
  open(
    clients: ClientSpec[],
    opts: { secret: string; concurrency: number; record: boolean },
    onProgress?: (ok: number, failed: number) => void,
  ): Promise<Extract<FromClients, { type: 'opened' }>>;
  /** Events received so far (recording clients; updated every 250 ms). */
  received(): number;
  /** Closes every client and ends the process; what the clients received. */
  stop(): Promise<Extract<FromClients, { type: 'done' }>>;
  kill(): void;
}

/** Forks a client process (bench/realtime-clients.ts under tsx). */
export async function startClients(label: string): Promise<ClientProcess> {
  const child = fork(path.join(benchDir, 'realtime-clients.ts'), [label], {
    execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let failure: string | undefined;
  const next = <T extends FromClients['type']>(
    type: T,
    onOther?: (m: FromClients) => void,
  ): Promise<Extract<FromClients, { type: T }>> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: FromClients): void => {
        if (m.type === 'error') failure = m.message;
        if (m.type !== type) return onOther?.(m);
        done();
        resolve(m as Extract<FromClients, { type: T }>);
      };
      const onExit = (): void => {
        done();
        reject(new Error(`client process ${label} exited (${failure ?? child.exitCode})`));
      };
      const done = (): void => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  let receivedCount = 0;
  child.on('message', (m: FromClients) => {
    if (m.type === 'received') receivedCount = m.count;
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return {
    pid: child.pid ?? 0,
    open(clients, opts, onProgress) {
      const opened = next('opened', (m) => {
        if (m.type === 'progress') onProgress?.(m.ok, m.failed);
      });
      child.send({ type: 'open', clients, ...opts } satisfies ToClients);
      return opened;
    },
    received: () => receivedCount,
    async stop() {
      const done = next('done');
      child.send({ type: 'stop' } satisfies ToClients);
      const result = await done;
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      return result;
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
