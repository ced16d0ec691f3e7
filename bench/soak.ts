/**
 * The soak benchmark (`npm run bench:soak`): does a `herald worker` and a `herald api` process
 * hold their memory under a steady load? Both are processes of the compiled CLI (bin/herald.js)
 * on the real PostgreSQL, in their own schema; this process drives them over HTTP and reads
 * their resident set size from /proc every 10 s (from outside: Herald reports nothing itself).
 *
 *   node --import tsx bench/soak.ts [--minutes 10] [--rate 50] [--reads 10] [--recipients 1000]
 *     [--warmup-s 60] [--sample-s 10] [--keep] [--write | --no-write]
 *
 * - Set-up: a fresh schema `bench_soak` (migrated by `createHerald` in this process), a type on
 *   email + inapp, `--recipients` recipients with addresses; then the two processes, the worker
 *   sending email through SMTP to the count-only sink process (bench/env.ts `withSink`).
 * - Load, for `--minutes` (or HERALD_SOAK_MINUTES): `--rate` triggers per second, open loop
 *   (at most 200 requests in flight; a trigger that would exceed it is counted as dropped),
 *   `POST /v1/notifications` with the API key and an Idempotency-Key, one recipient each,
 *   alternately on email + inapp and on inapp only; and `--reads` reads per second in turn: the
 *   inbox page and the unread count (`/v1/me/...`, recipient tokens signed here, renewed every
 *   4 minutes as an app would) and `GET /v1/notifications/{id}` of a recent trigger (API key).
 *   `/metrics` is scraped at every sample, as Prometheus would (it also gives the API's heap).
 * - Samples: VmRSS of each process every `--sample-s`; the slope is the least-squares fit of
 *   RSS (MB, 2^20 bytes) against minutes over the samples after `--warmup-s`, with its standard
 *   error, the same over the second half of the run alone, and over the lowest sample of each
 *   minute after the warm-up (the troughs of the garbage collector's saw-tooth, where memory
 *   that is kept shows and garbage not yet collected does not).
 * - The processes run with `node --trace-gc`: the V8 heap in use after each full collection
 *   (Mark-Compact) is the live data alone; its slope is the plainest sign of a leak in JS.
 * - At the end: the load stops, the benchmark waits (up to 2 minutes) for the worker to send
 *   what is queued, counts deliveries by channel and status and the sink's messages, stops
 *   both processes with SIGTERM and checks that they exit 0.
 *
 * Writes bench/results/soak.json and appends a dated section to bench/RESULTS.md, for runs of
 * 10 minutes or more (shorter ones only with `--write`); drops the schema unless `--keep`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import pg from 'pg';
import { createHerald } from '../src/index.js';
import { startCpuWindow, type CpuWindow } from './cpu.js';
import { argReader, DATABASE_URL, dropSchema, progress, sleep, withSink } from './env.js';
import { EMAIL_FROM, recipientId, TEMPLATES } from './peers/pipeline.js';
import { nearestRank } from './scenarios.js';
import { fmt, machineInfo, publish, resultsDir, round3, runInfo, runMain } from './report.js';

const jsonPath = path.join(resultsDir, 'soak.json');
const BIN = fileURLToPath(new URL('../bin/herald.js', import.meta.url));

const SCHEMA = 'bench_soak';
const TYPE = 'soak-code';
const API_KEY = 'soak-bench-server-key-0123456789';
const JWT_SECRET = 'soak-bench-recipient-token-secret-0123456789';
/** Requests in flight at most; a trigger due beyond it is dropped (and counted). */
const MAX_IN_FLIGHT = 200;
const DRAIN_LIMIT_S = 120;
const MB = 2 ** 20;

interface Args {
  minutes: number;
  rate: number;
  reads: number;
  recipients: number;
  warmupS: number;
  sampleS: number;
  keep: boolean;
  write: boolean | undefined;
}

function parseArgs(argv: string[]): Args {
  const env = process.env.HERALD_SOAK_MINUTES;
  const args: Args = {
    minutes: env ? Number(env) : 10,
    rate: 50,
    reads: 10,
    recipients: 1_000,
    warmupS: 60,
    sampleS: 10,
    keep: false,
    write: undefined,
  };
  if (!(args.minutes > 0)) throw new Error('HERALD_SOAK_MINUTES must be a positive number');
  const { value, count } = argReader(argv);
  const positive = (text: string, name: string) => {
    const v = Number(text);
    if (!(v > 0)) throw new Error(`${name} must be a positive number`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--minutes') args.minutes = positive(value(++i, arg), arg);
    else if (arg === '--rate') args.rate = positive(value(++i, arg), arg);
    else if (arg === '--reads') args.reads = Number(value(++i, arg));
    else if (arg === '--recipients') args.recipients = count(value(++i, arg), arg);
    else if (arg === '--warmup-s') args.warmupS = Number(value(++i, arg));
    else if (arg === '--sample-s') args.sampleS = positive(value(++i, arg), arg);
    else if (arg === '--keep') args.keep = true;
    else if (arg === '--write') args.write = true;
    else if (arg === '--no-write') args.write = false;
    else throw new Error(`unknown argument '${arg}'`);
  }
  if (!(args.reads >= 0)) throw new Error('--reads must be 0 or more');
  if (!(args.warmupS >= 0)) throw new Error('--warmup-s must be 0 or more');
  return args;
}

// ---------------------------------------------------------------------------------------------
// The two processes

interface HeraldProcess {
  role: 'worker' | 'api';
  child: ChildProcess;
  pid: number;
  /** The API's URL (api only). */
  url: string | undefined;
  /** Log lines at warn or above (the first 20 kept), and how many there were. */
  warnings: string[];
  warningCount: number;
  stderr: string[];
  /** Each full collection (`--trace-gc` Mark-Compact line): when it came (epoch ms), heap after. */
  markCompacts: { at: number; heap_mb: number }[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `node bin/herald.js <role>` (the node process itself, so its pid is the one sampled)
 * and answers once its `herald:started` line is out. Its log lines are read as they come and
 * dropped, but for those at warn or above.
 */
async function startHerald(
  role: 'worker' | 'api',
  env: Record<string, string>,
): Promise<HeraldProcess> {
  const child = spawn(process.execPath, ['--trace-gc', BIN, role], {
    env: { ...process.env, HERALD_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const proc: HeraldProcess = {
    role,
    child,
    pid: child.pid ?? 0,
    url: undefined,
    warnings: [],
    warningCount: 0,
    stderr: [],
    markCompacts: [],
    exit,
  };
  let started = false;
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      // --trace-gc: `[pid:0x...]  1234 ms: Mark-Compact 45.0 (77.8) -> 21.5 (55.7) MB, ...`
      if (/^\[\d+:0x[0-9a-f]+\]/.test(line)) {
        const gc = /: Mark-Compact(?: \(reduce\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \(/.exec(line);
        if (gc) proc.markCompacts.push({ at: Date.now(), heap_mb: Number(gc[1]) });
        continue;
      }
      let entry: { level?: number; msg?: string; url?: string };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        entry = { level: 40, msg: line };
      }
      if (entry.msg === 'herald:started') {
        started = true;
        proc.url = entry.url;
      }
      if ((entry.level ?? 0) >= 40) {
        proc.warningCount++;
        if (proc.warnings.length < 20) proc.warnings.push(line.slice(0, 500));
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    if (proc.stderr.length < 200) proc.stderr.push(chunk.toString());
  });
  const began = Date.now();
  while (!started) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`herald ${role} exited: ${proc.stderr.join('')}`);
    if (Date.now() - began > 60_000) {
      child.kill('SIGKILL');
      throw new Error(`herald ${role} did not start within 60 s: ${proc.stderr.join('')}`);
    }
    await sleep(50);
  }
  if (role === 'api' && !proc.url) throw new Error('herald api: no url in its started line');
  return proc;
}

/** SIGTERM (a graceful stop), SIGKILL after 40 s; answers how it ended. */
async function stopHerald(p: HeraldProcess): Promise<string> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  const killer = setTimeout(() => p.child.kill('SIGKILL'), 40_000);
  const { code, signal } = await p.exit;
  clearTimeout(killer);
  return signal ? `signal ${signal}` : `exit ${code}`;
}

/** VmRSS of a process in MB (2^20 bytes), from /proc, else from `ps`; NaN when it is gone. */
function rssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // no /proc (or the process is gone): try ps
  }
  try {
    const kb = Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }));
    return kb > 0 ? kb / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** VmHWM (peak RSS) of a process in MB; NaN without /proc. */
function peakMb(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// The load

interface LoadCounts {
  triggers_posted: number;
  triggers_accepted: number;
  triggers_dropped: number;
  /** Accepted triggers that asked for email (every other one). */
  email_triggers_accepted: number;
  reads_ok: number;
  reads_dropped: number;
  reads_by_kind: Record<string, number>;
  metrics_scrapes: number;
  errors: number;
  errors_by_kind: Record<string, number>;
  first_errors: string[];
}

class Load {
  readonly counts: LoadCounts = {
    triggers_posted: 0,
    triggers_accepted: 0,
    triggers_dropped: 0,
    email_triggers_accepted: 0,
    reads_ok: 0,
    reads_dropped: 0,
    reads_by_kind: {},
    metrics_scrapes: 0,
    errors: 0,
    errors_by_kind: {},
    first_errors: [],
  };
  /** Milliseconds from request to the whole answer read, by trigger and read. */
  readonly latencies: { trigger: number[]; read: number[] } = { trigger: [], read: [] };
  private inFlight = 0;

  /** Requests sent and not yet answered. */
  get pending(): number {
    return this.inFlight;
  }
  private running = new Set<Promise<void>>();
  private recent: string[] = [];
  private tokens = new Map<string, { token: string; at: number }>();
  private stopped = false;
  private n = 0;
  private reads = 0;

  constructor(
    private readonly url: string,
    private readonly args: Args,
  ) {}

  /** Runs the load until `stop()`; open loop, paced from the start time. */
  async run(): Promise<void> {
    const began = performance.now();
    while (!this.stopped) {
      const elapsedS = (performance.now() - began) / 1000;
      while (this.n < Math.floor(elapsedS * this.args.rate)) {
        const i = this.n++;
        this.fire('trigger', () => this.trigger(i));
      }
      while (this.reads < Math.floor(elapsedS * this.args.reads)) {
        const i = this.reads++;
        this.fire('read', () => this.read(i));
      }
      await sleep(20);
    }
    await Promise.all([...this.running]);
  }

  stop(): void {
    this.stopped = true;
  }

  /** `/metrics` as Prometheus scrapes it; answers the API's heap in use (MB), if it says. */
  async scrape(): Promise<number | undefined> {
    try {
      const res = await fetch(`${this.url}/metrics`);
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
      this.counts.metrics_scrapes++;
      const m = /^herald_nodejs_heap_size_used_bytes\s+(\S+)/m.exec(text);
      return m ? Number(m[1]) / MB : undefined;
    } catch (error) {
      this.error('metrics', error);
      return undefined;
    }
  }

  private fire(kind: 'trigger' | 'read', call: () => Promise<void>): void {
    if (this.inFlight >= MAX_IN_FLIGHT) {
      if (kind === 'trigger') this.counts.triggers_dropped++;
      else this.counts.reads_dropped++;
      return;
    }
    this.inFlight++;
    const t0 = performance.now();
    const p = call()
      .then(() => {
        this.latencies[kind].push(performance.now() - t0);
      })
      .catch((error: unknown) => this.error('network', error))
      .finally(() => {
        this.inFlight--;
        this.running.delete(p);
      });
    this.running.add(p);
  }

  private error(kind: string, error: unknown): void {
    this.counts.errors++;
    this.counts.errors_by_kind[kind] = (this.counts.errors_by_kind[kind] ?? 0) + 1;
    if (this.counts.first_errors.length < 10)
      this.counts.first_errors.push(`${kind}: ${(error as Error).message ?? String(error)}`);
  }

  private async trigger(i: number): Promise<void> {
    this.counts.triggers_posted++;
    const channels = i % 2 === 0 ? ['email', 'inapp'] : ['inapp'];
    const res = await fetch(`${this.url}/v1/notifications`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${API_KEY}`,
        'content-type': 'application/json',
        'idempotency-key': `soak-${i}`,
      },
      body: JSON.stringify({
        type: TYPE,
        to: recipientId(i % this.args.recipients),
        channels,
        data: { product: 'Herald', code: String(100_000 + (i % 900_000)) },
      }),
    });
    const text = await res.text();
    if (res.status !== 202) {
      this.error(`trigger ${res.status}`, new Error(text.slice(0, 300)));
      return;
    }
    this.counts.triggers_accepted++;
    if (channels.includes('email')) this.counts.email_triggers_accepted++;
    const id = (JSON.parse(text) as { notifications?: { id: string }[] }).notifications?.[0]?.id;
    if (id) {
      this.recent.push(id);
      if (this.recent.length > 100) this.recent.shift();
    }
  }

  /** A recipient token, signed as an app would, kept for 4 of its 5 minutes. */
  private async token(sub: string): Promise<string> {
    const now = Date.now();
    const kept = this.tokens.get(sub);
    if (kept && now - kept.at < 240_000) return kept.token;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JWT_SECRET));
    this.tokens.set(sub, { token, at: now });
    return token;
  }

  private async read(i: number): Promise<void> {
    const kinds = ['inbox', 'unread-count', 'notification'] as const;
    const kind = kinds[i % kinds.length] as (typeof kinds)[number];
    let res: Response;
    if (kind === 'notification') {
      const id = this.recent[Math.floor(Math.random() * this.recent.length)];
      if (!id) return;
      res = await fetch(`${this.url}/v1/notifications/${id}`, {
        headers: { authorization: `Bearer ${API_KEY}` },
      });
    } else {
      const sub = recipientId(Math.floor(Math.random() * this.args.recipients));
      const token = await this.token(sub);
      res = await fetch(
        `${this.url}/v1/me/${kind === 'inbox' ? 'notifications?limit=20' : 'unread-count'}`,
        { headers: { authorization: `Bearer ${token}` } },
      );
    }
    const text = await res.text();
    if (res.status !== 200) {
      this.error(`${kind} ${res.status}`, new Error(text.slice(0, 300)));
      return;
    }
    this.counts.reads_ok++;
    this.counts.reads_by_kind[kind] = (this.counts.reads_by_kind[kind] ?? 0) + 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Figures

interface Sample {
  t_s: number;
  rss_mb: number;
}

interface Fit {
  /** MB per minute, least squares; its standard error; the samples and the span it covers. */
  slope_mb_per_min: number | null;
  stderr_mb_per_min: number | null;
  samples: number;
  from_s: number | null;
  to_s: number | null;
}

function fit(samples: Sample[]): Fit {
  const pts = samples.filter((s) => Number.isFinite(s.rss_mb));
  const n = pts.length;
  const none = { slope_mb_per_min: null, stderr_mb_per_min: null, samples: n };
  if (n < 3) return { ...none, from_s: pts[0]?.t_s ?? null, to_s: pts.at(-1)?.t_s ?? null };
  const xs = pts.map((p) => p.t_s / 60);
  const ys = pts.map((p) => p.rss_mb);
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += ((xs[i] as number) - mx) ** 2;
    sxy += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
  }
  const slope = sxy / sxx;
  let sse = 0;
  for (let i = 0; i < n; i++)
    sse += ((ys[i] as number) - (my + slope * ((xs[i] as number) - mx))) ** 2;
  return {
    slope_mb_per_min: round3(slope),
    stderr_mb_per_min: round3(Math.sqrt(sse / (n - 2) / sxx)),
    samples: n,
    from_s: pts[0]?.t_s ?? null,
    to_s: pts.at(-1)?.t_s ?? null,
  };
}

interface ProcessFigures {
  role: 'worker' | 'api';
  pid: number;
  samples: Sample[];
  /** The fit over the samples after the warm-up, and over the second half of the run alone. */
  slope_mb_per_min: number | null;
  slope_stderr_mb_per_min: number | null;
  after_warmup: Fit;
  second_half: Fit;
  /**
   * The lowest sample of each whole minute after the warm-up, and their fit: the troughs of
   * the garbage collector's saw-tooth, where retained memory shows without the garbage.
   */
  minute_minima: Sample[];
  minima: Fit;
  first_mb: number;
  last_mb: number;
  min_mb: number;
  max_mb: number;
  /** The kernel's high-water mark (VmHWM) at the end of the load. */
  peak_mb: number;
  cpu_s: number;
  warnings: number;
  first_warnings: string[];
  stopped: string;
  /**
   * The V8 heap in use right after each full collection (Mark-Compact, from `--trace-gc`) while
   * the load ran, stamped from the load's start: live data without garbage. `fit` is over those
   * from the warm-up on.
   */
  heap_after_full_gc: { samples: { t_s: number; heap_mb: number }[]; fit: Fit };
}

function figures(
  p: HeraldProcess,
  samples: Sample[],
  warmupS: number,
  durationS: number,
  peak: number,
  cpu: CpuWindow,
  stopped: string,
  window: { from: number; to: number },
): ProcessFigures {
  const gcs = p.markCompacts
    .filter((g) => g.at >= window.from && g.at <= window.to)
    .map((g) => ({ t_s: round1((g.at - window.from) / 1000), heap_mb: g.heap_mb }));
  const values = samples.map((s) => s.rss_mb).filter(Number.isFinite);
  const after = fit(samples.filter((s) => s.t_s >= warmupS));
  return {
    role: p.role,
    pid: p.pid,
    samples,
    slope_mb_per_min: after.slope_mb_per_min,
    slope_stderr_mb_per_min: after.stderr_mb_per_min,
    after_warmup: after,
    second_half: fit(samples.filter((s) => s.t_s >= Math.max(warmupS, durationS / 2))),
    ...minuteMinima(samples, warmupS),
    first_mb: round1(samples[0]?.rss_mb ?? NaN),
    last_mb: round1(samples.at(-1)?.rss_mb ?? NaN),
    min_mb: round1(Math.min(...values)),
    max_mb: round1(Math.max(...values)),
    peak_mb: round1(peak),
    cpu_s: cpu.processes[p.role] ?? NaN,
    warnings: p.warningCount,
    first_warnings: p.warnings,
    stopped,
    heap_after_full_gc: {
      samples: gcs,
      fit: fit(gcs.filter((g) => g.t_s >= warmupS).map((g) => ({ t_s: g.t_s, rss_mb: g.heap_mb }))),
    },
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Each whole minute from `warmupS` on: its lowest sample (stamped at its time); their fit. */
function minuteMinima(
  samples: Sample[],
  warmupS: number,
): { minute_minima: Sample[]; minima: Fit } {
  const byMinute = new Map<number, Sample>();
  for (const s of samples) {
    if (s.t_s < warmupS || !Number.isFinite(s.rss_mb)) continue;
    const m = Math.floor(s.t_s / 60);
    const low = byMinute.get(m);
    if (!low || s.rss_mb < low.rss_mb) byMinute.set(m, s);
  }
  const minute_minima = [...byMinute.values()].sort((a, b) => a.t_s - b.t_s);
  return { minute_minima, minima: fit(minute_minima) };
}

// ---------------------------------------------------------------------------------------------

async function setup(recipients: number): Promise<void> {
  await dropSchema(SCHEMA);
  const herald = await createHerald({
    databaseUrl: DATABASE_URL,
    schema: SCHEMA,
    logLevel: 'warn',
    emailFrom: EMAIL_FROM,
  });
  try {
    await herald.types.put(TYPE, { channels: ['email', 'inapp'], templates: TEMPLATES });
    await herald.db.query(
      `INSERT INTO ${SCHEMA}.recipients (id, email)
       SELECT 'user-' || lpad(i::text, 6, '0'), 'user-' || lpad(i::text, 6, '0') || '@example.test'
       FROM generate_series(0, $1::int - 1) AS i`,
      [recipients],
    );
    await herald.db.query(`ANALYZE ${SCHEMA}.recipients`);
  } finally {
    await herald.close();
  }
}

interface DeliveryCounts {
  by_channel_status: Record<string, number>;
  email_sent: number;
  inapp_sent: number;
  failed: number;
  pending: number;
  notifications: number;
  dead_jobs: number;
}

async function deliveryCounts(client: pg.Client): Promise<DeliveryCounts> {
  const { rows } = await client.query<{ channel: string; status: string; n: number }>(
    `SELECT channel, status, count(*)::int AS n FROM ${SCHEMA}.deliveries GROUP BY 1, 2`,
  );
  const by: Record<string, number> = {};
  for (const r of rows) by[`${r.channel}/${r.status}`] = r.n;
  const sum = (pred: (channel: string, status: string) => boolean) =>
    rows.filter((r) => pred(r.channel, r.status)).reduce((a, r) => a + r.n, 0);
  const one = async (sql: string) =>
    (await client.query<{ n: number }>(sql)).rows[0]?.n ?? Number.NaN;
  return {
    by_channel_status: by,
    email_sent: by['email/sent'] ?? 0,
    inapp_sent: by['inapp/sent'] ?? 0,
    failed: sum((_, s) => s === 'failed'),
    pending: sum((_, s) => s === 'queued' || s === 'processing'),
    notifications: await one(`SELECT count(*)::int AS n FROM ${SCHEMA}.notifications`),
    dead_jobs: await one(`SELECT count(*)::int AS n FROM ${SCHEMA}.jobs WHERE status = 'dead'`),
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const write = args.write ?? args.minutes >= 10;
  const started = new Date();
  const machine = await machineInfo();
  const run = runInfo('bench:soak', started);
  const durationS = Math.round(args.minutes * 60);
  progress(
    `soak: ${machine.nproc} cores, Node ${machine.node}, PostgreSQL ${machine.postgres}; ` +
      `${args.minutes} min, ${args.rate} triggers/s, ${args.reads} reads/s, ` +
      `${args.recipients} recipients, RSS every ${args.sampleS} s, warm-up ${args.warmupS} s`,
  );
  await setup(args.recipients);

  const result = await withSink(async (sink) => {
    const common = { DATABASE_URL, HERALD_SCHEMA: SCHEMA, HERALD_EMAIL_FROM: EMAIL_FROM };
    const procs: HeraldProcess[] = [];
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      procs.push(await startHerald('worker', { ...common, HERALD_SMTP_URL: sink.url }));
      procs.push(
        await startHerald('api', {
          ...common,
          HERALD_PORT: '0',
          HERALD_API_KEY: API_KEY,
          HERALD_JWT_SECRET: JWT_SECRET,
        }),
      );
      const [worker, api] = procs as [HeraldProcess, HeraldProcess];
      progress(`herald worker pid ${worker.pid}, herald api pid ${api.pid} at ${api.url}`);

      const load = new Load(api.url as string, args);
      const samples: Record<'worker' | 'api', Sample[]> = { worker: [], api: [] };
      const timeline: {
        t_s: number;
        triggers_accepted: number;
        sent: number;
        sink: number;
        api_heap_mb: number | null;
        in_flight: number;
      }[] = [];
      const endCpu = startCpuWindow({ worker: worker.pid, api: api.pid, sink: sink.pid });
      const began = performance.now();
      const beganAt = Date.now();
      const loading = load.run();
      let died: string | undefined;
      for (let k = 0; ; k++) {
        const dueMs = k * args.sampleS * 1000;
        if (dueMs > durationS * 1000) break;
        const wait = dueMs - (performance.now() - began);
        if (wait > 0) await sleep(wait);
        const t = Math.round((performance.now() - began) / 1000);
        for (const p of procs) samples[p.role].push({ t_s: t, rss_mb: round3(rssMb(p.pid)) });
        const gone = procs.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
        if (gone) {
          died = `herald ${gone.role} exited during the run: ${gone.stderr.join('').slice(-2000)}`;
          break;
        }
        const heap = await load.scrape();
        const { rows } = await client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${SCHEMA}.deliveries WHERE status = 'sent'`,
        );
        timeline.push({
          t_s: t,
          triggers_accepted: load.counts.triggers_accepted,
          sent: rows[0]?.n ?? 0,
          sink: sink.count(),
          api_heap_mb: heap === undefined ? null : round1(heap),
          in_flight: load.pending,
        });
        if (k % Math.max(1, Math.round(60 / args.sampleS)) === 0)
          progress(
            `  ${t} s: worker ${samples.worker.at(-1)?.rss_mb.toFixed(1)} MB, ` +
              `api ${samples.api.at(-1)?.rss_mb.toFixed(1)} MB (heap ${heap?.toFixed(1) ?? '?'} MB); ` +
              `${load.counts.triggers_accepted} triggers accepted, ${rows[0]?.n ?? 0} deliveries sent, ` +
              `${sink.count()} at the sink, ${load.counts.errors} errors`,
          );
      }
      load.stop();
      await loading;
      const loadS = (performance.now() - began) / 1000;
      const window = { from: beganAt, to: Date.now() };
      const peaks = { worker: peakMb(worker.pid), api: peakMb(api.pid) };
      const cpu = endCpu();
      if (died) throw new Error(died);

      // Drain: what was accepted gets sent.
      const drainBegan = performance.now();
      let counts = await deliveryCounts(client);
      while (counts.pending > 0 && performance.now() - drainBegan < DRAIN_LIMIT_S * 1000) {
        await sleep(500);
        counts = await deliveryCounts(client);
      }
      for (let i = 0; i < 20 && sink.count() < counts.email_sent; i++) await sleep(100);
      const drainS = (performance.now() - drainBegan) / 1000;
      const sinkCount = sink.count();
      progress(
        `load over after ${loadS.toFixed(1)} s; drained in ${drainS.toFixed(1)} s: ` +
          `${JSON.stringify(counts.by_channel_status)}, sink ${sinkCount}`,
      );

      const stopped = { worker: await stopHerald(worker), api: await stopHerald(api) };
      const accepted = load.counts.triggers_accepted;
      const expected = { email: load.counts.email_triggers_accepted, inapp: accepted };
      for (const p of procs)
        for (const w of p.warnings) progress(`  herald ${p.role} logged: ${w}`);
      const percentiles = (values: number[]) => {
        const sorted = [...values].sort((a, b) => a - b);
        return {
          n: sorted.length,
          p50_ms: round1(nearestRank(sorted, 50)),
          p95_ms: round1(nearestRank(sorted, 95)),
          p99_ms: round1(nearestRank(sorted, 99)),
          max_ms: round1(sorted.at(-1) ?? NaN),
        };
      };
      return {
        processes: {
          worker: figures(
            worker,
            samples.worker,
            args.warmupS,
            durationS,
            peaks.worker,
            cpu,
            stopped.worker,
            window,
          ),
          api: figures(
            api,
            samples.api,
            args.warmupS,
            durationS,
            peaks.api,
            cpu,
            stopped.api,
            window,
          ),
        },
        load: {
          ...load.counts,
          duration_s: round3(loadS),
          target_triggers_per_s: args.rate,
          triggers_per_s: round3(accepted / loadS),
          target_reads_per_s: args.reads,
          reads_per_s: round3(load.counts.reads_ok / loadS),
          latency: {
            trigger: percentiles(load.latencies.trigger),
            read: percentiles(load.latencies.read),
          },
          deliveries_expected: expected,
          deliveries: counts,
          sink_count: sinkCount,
          drain_s: round3(drainS),
          all_sent:
            counts.pending === 0 &&
            counts.failed === 0 &&
            counts.inapp_sent >= expected.inapp &&
            counts.email_sent >= expected.email &&
            sinkCount >= counts.email_sent,
          cpu,
        },
        timeline,
      };
    } finally {
      for (const p of procs)
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await client.end();
    }
  });
  if (!args.keep) await dropSchema(SCHEMA);

  const { worker, api } = result.processes;
  const l = result.load;
  const json = {
    slope_mb_per_min: { worker: worker.slope_mb_per_min, api: api.slope_mb_per_min },
    how:
      'VmRSS of each process from /proc/<pid>/status every sample_s seconds, read by the ' +
      'benchmark process; slope = least-squares MB (2^20 bytes) per minute over the samples at ' +
      'or after warmup_s, stderr its standard error; second_half the same over the last half ' +
      'of the run only; minima the same over the lowest sample of each whole minute after ' +
      'warmup_s (the troughs of the GC saw-tooth); heap_after_full_gc = V8 heap in use after ' +
      'each Mark-Compact (node --trace-gc) during the load; timeline.in_flight = HTTP requests of the ' +
      'load sent and not yet answered at the sample',
    processes: result.processes,
    load: l,
    timeline: result.timeline,
    settings: {
      minutes: args.minutes,
      duration_s: durationS,
      sample_s: args.sampleS,
      warmup_s: args.warmupS,
      rate: args.rate,
      reads: args.reads,
      recipients: args.recipients,
      max_in_flight: MAX_IN_FLIGHT,
      schema: SCHEMA,
      processes:
        '`herald worker` (HERALD_SMTP_URL to the count-only sink) and `herald api` (HERALD_PORT 0, ' +
        'HERALD_API_KEY, HERALD_JWT_SECRET) of the compiled CLI, all else as shipped ' +
        '(concurrency 10, pool 10, SMTP pool 10, log level info), under node --trace-gc',
    },
    machine,
    date: run.date,
    command: run.command,
  };

  const slope = (f: Fit) =>
    f.slope_mb_per_min === null
      ? 'n/a'
      : `${f.slope_mb_per_min >= 0 ? '+' : ''}${fmt(f.slope_mb_per_min, 3)} ± ${fmt(f.stderr_mb_per_min, 3)}`;
  const row = (p: ProcessFigures) =>
    `| \`herald ${p.role}\` | ${p.samples.length} | ${fmt(p.first_mb, 1)} | ${fmt(p.last_mb, 1)} | ` +
    `${fmt(p.min_mb, 1)} – ${fmt(p.max_mb, 1)} | ${fmt(p.peak_mb, 1)} | ${slope(p.after_warmup)} | ` +
    `${slope(p.second_half)} | ${slope(p.minima)} | ${fmt(p.cpu_s, 1)} | ${p.warnings} | ${p.stopped} |`;
  const gcRow = (p: ProcessFigures) => {
    const g = p.heap_after_full_gc;
    const later = g.samples.filter((x) => x.t_s >= args.warmupS).map((x) => x.heap_mb);
    return (
      `| \`herald ${p.role}\` | ${g.samples.length} (${later.length} from ${args.warmupS} s on) | ` +
      `${fmt(later[0], 1)} / ${fmt(later.at(-1), 1)} / ${fmt(Math.min(...later), 1)} – ${fmt(Math.max(...later), 1)} | ` +
      `${slope(g.fit)} |`
    );
  };
  const errors = Object.entries(l.errors_by_kind)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  const byMinute = result.timeline.filter(
    (_, i) => i % Math.max(1, Math.round(60 / args.sampleS)) === 0,
  );
  const rssAt = (p: ProcessFigures, t: number) =>
    fmt(p.samples.find((s) => s.t_s === t)?.rss_mb, 1);
  const raw = [
    `## Soak benchmark — ${run.stamp}`,
    '',
    `Command: \`${run.command}\``,
    '',
    `Machine: ${machine.nproc} cores (${machine.cpu}), ${machine.memory_gib} GiB memory, ${machine.os}, Node ${machine.node}, PostgreSQL ${machine.postgres}; shared with other engineers' work, so CPU figures are noisy`,
    '',
    `Set-up: one \`herald worker\` and one \`herald api\` process of the compiled CLI on PostgreSQL (schema \`${SCHEMA}\`), as shipped (concurrency 10, pool 10, SMTP pool 10, log level info), run as \`node --trace-gc bin/herald.js\`; email over SMTP to the count-only sink process. ` +
      `Load for ${fmt(args.minutes, 1)} minutes, from this process over HTTP: ${args.rate} triggers/s (\`POST /v1/notifications\`, API key, an Idempotency-Key each, one of ${fmt(args.recipients)} recipients, alternately email + inapp and inapp only; open loop, at most ${MAX_IN_FLIGHT} requests in flight) and ${args.reads} reads/s in turn: the inbox page and the unread count (\`/v1/me\`, recipient tokens renewed every 4 minutes) and \`GET /v1/notifications/{id}\`; \`/metrics\` scraped at each sample. ` +
      `VmRSS of each process read from /proc every ${args.sampleS} s; slope = least-squares MB (2^20 bytes) per minute ± its standard error, over the samples from ${args.warmupS} s on (warm-up left out), over the second half alone, and over the lowest sample of each minute from ${args.warmupS} s on (the troughs of the garbage collector's saw-tooth).`,
    '',
    '| process | samples | first MB | last MB | min – max MB | peak (VmHWM) MB | slope after warm-up, MB/min | slope, second half, MB/min | slope of the per-minute minima, MB/min | CPU s | log warnings | stop |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    row(worker),
    row(api),
    '',
    '| process | full collections during the load | V8 heap in use after them, MB: first after warm-up / last / min – max | slope of that heap from the warm-up on, MB/min |',
    '|---|---:|---:|---:|',
    gcRow(worker),
    gcRow(api),
    '',
    '| load | figure |',
    '|---|---:|',
    `| triggers accepted (202) per s, target ${args.rate} | ${fmt(l.triggers_per_s, 1)} (${fmt(l.triggers_accepted)} in ${fmt(l.duration_s, 1)} s; ${fmt(l.triggers_dropped)} not sent: ${MAX_IN_FLIGHT} requests in flight) |`,
    `| reads answered 200 per s, target ${args.reads} | ${fmt(l.reads_per_s, 1)} (${Object.entries(
      l.reads_by_kind,
    )
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(', ')}) |`,
    `| answer time, ms: triggers p50 / p95 / p99 / max; reads the same | ${fmt(l.latency.trigger.p50_ms, 1)} / ${fmt(l.latency.trigger.p95_ms, 1)} / ${fmt(l.latency.trigger.p99_ms, 1)} / ${fmt(l.latency.trigger.max_ms, 0)}; ${fmt(l.latency.read.p50_ms, 1)} / ${fmt(l.latency.read.p95_ms, 1)} / ${fmt(l.latency.read.p99_ms, 1)} / ${fmt(l.latency.read.max_ms, 0)} |`,
    `| errors | ${fmt(l.errors)}${errors ? ` (${errors})` : ''} |`,
    `| deliveries sent: email / inapp (expected) | ${fmt(l.deliveries.email_sent)} / ${fmt(l.deliveries.inapp_sent)} (${fmt(l.deliveries_expected.email)} / ${fmt(l.deliveries_expected.inapp)}) |`,
    `| messages at the SMTP sink | ${fmt(l.sink_count)} |`,
    `| failed / still pending after the drain | ${fmt(l.deliveries.failed)} / ${fmt(l.deliveries.pending)} (drain ${fmt(l.drain_s, 1)} s) |`,
    `| CPU s over the load: worker / api / sink / PostgreSQL / machine busy of capacity | ${fmt(l.cpu.processes.worker, 1)} / ${fmt(l.cpu.processes.api, 1)} / ${fmt(l.cpu.processes.sink, 1)} / ${fmt(l.cpu.postgres, 1)} / ${fmt(l.cpu.machine_busy, 0)} of ${fmt(l.cpu.machine_capacity, 0)} |`,
    '',
    `Every minute (s: worker MB / api MB / api heap MB / deliveries sent / requests in flight): ${byMinute
      .map(
        (t) =>
          `${t.t_s}: ${rssAt(worker, t.t_s)} / ${rssAt(api, t.t_s)} / ${fmt(t.api_heap_mb, 1)} / ${fmt(t.sent)} / ${fmt(t.in_flight)}`,
      )
      .join(', ')}.`,
    '',
    'Analysis: see below',
    '',
    '<!-- Analysis of this run (flat or not, and why): written by hand. -->',
    '',
  ].join('\n');
  await publish({ markdown: raw, json, jsonPath, write });
  if (!l.all_sent || l.errors > 0 || worker.stopped !== 'exit 0' || api.stopped !== 'exit 0')
    process.exitCode = 1;
}

runMain(main);
