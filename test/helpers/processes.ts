/**
 * Child worker processes (test/fixtures/worker.mjs) and what they report on stdout; and
 * `herald worker` processes of the compiled CLI (bin/herald.js, `npm run build` first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './db.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/worker.mjs', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/herald.js', import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  lines: string[];
  stderr: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Numbers n of jobs whose handler finished (DONE lines). */
  done(): number[];
  started(): number[];
  has(prefix: string): boolean;
  workerId(): string | undefined;
}

export function spawnWorker(env: Record<string, string | number>): WorkerProcess {
  const child = spawn(process.execPath, [FIXTURE], {
    env: {
      ...process.env,
      ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const numbers = (word: string) =>
    lines.filter((l) => l.startsWith(word + ' ')).map((l) => Number(l.split(' ')[1]));
  return {
    child,
    lines,
    stderr,
    exit,
    done: () => numbers('DONE'),
    started: () => numbers('START'),
    has: (prefix) => lines.some((l) => l.startsWith(prefix)),
    workerId: () => lines.find((l) => l.startsWith('READY '))?.slice(6),
  };
}

export async function ready(w: WorkerProcess, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    () => w.has('READY') || w.child.exitCode !== null,
    timeoutMs,
    'a worker process to start',
  );
  if (!w.has('READY')) throw new Error(`worker exited: ${w.stderr.join('')}`);
}

/**
 * Starts `herald worker` (or `herald scheduler` or `herald start`, with `role`) with these
 * settings over the environment (HERALD_LOG_LEVEL=info, so its `worker:start`,
 * `scheduler:start` or `herald:started` line says it is up) and answers once it is; its stderr
 * goes to `stderr`.
 */
export async function startHeraldWorker(
  env: Record<string, string>,
  stderr: string[],
  role: 'worker' | 'scheduler' | 'start' = 'worker',
): Promise<ChildProcess> {
  const up = role === 'start' ? 'herald:started' : `${role}:start`;
  const child = spawn(process.execPath, [BIN, role], {
    env: { ...process.env, HERALD_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => stderr.push(c.toString()));
  await waitFor(
    () => out.includes(up) || child.exitCode !== null,
    20_000,
    `a herald ${role} to start`,
  );
  if (child.exitCode !== null) throw new Error(`herald ${role} exited: ${stderr.join('')}`);
  return child;
}

export interface HeraldServerProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>` of its API. */
  url: string;
  /** Everything it wrote to stdout (its pino log lines) and stderr so far. */
  stdout(): string;
  stderr(): string;
}

/**
 * Starts `herald start` (or `herald api`) with these settings over the environment, on a port
 * of its choosing (HERALD_PORT=0), and answers once its `herald:started` line gives the URL.
 */
export async function startHeraldServer(
  env: Record<string, string>,
  role: 'start' | 'api' = 'start',
): Promise<HeraldServerProcess> {
  const child = spawn(process.execPath, [BIN, role], {
    env: { ...process.env, HERALD_LOG_LEVEL: 'info', HERALD_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const url = await waitFor(
    () => {
      if (child.exitCode !== null) return `exited ${child.exitCode}`;
      return /"msg":"herald:started".*?"url":"([^"]+)"|"url":"([^"]+)".*?"msg":"herald:started"/
        .exec(out)
        ?.slice(1)
        .find(Boolean);
    },
    30_000,
    `herald ${role} to start`,
  );
  if (child.exitCode !== null) throw new Error(`herald ${role} exited: ${err}${out}`);
  return { child, url, stdout: () => out, stderr: () => err };
}
