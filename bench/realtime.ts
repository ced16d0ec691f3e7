/**
 * The real-time benchmark (`npm run bench:realtime`, issue 11): Herald's WebSocket inbox beside
 * Socket.IO 4 with `@socket.io/postgres-adapter` (fan-out through the same PostgreSQL) and a
 * bare `ws` server as the floor, in one run.
 *
 *   node --import tsx bench/realtime.ts [--quick] [--connections 10000] [--client-procs 3]
 *     [--connect-concurrency 50] [--warm-connections 100] [--recipients 200]
 *     [--rates 1000,100] [--seconds 20]
 *     [--warmup-s 2] [--drain-s 15] [--pool 5] [--only herald,socketio-pg,ws-floor]
 *     [--cpu-prof DIR] [--no-write | --write]
 *
 * For each contender, in turn:
 * - Memory: one server process (`--expose-gc`, the probe of bench/realtime-probe.mjs); its
 *   process.memoryUsage() after forced collections before (after `--warm-connections` clients
 *   connected and left, so that compiled code is not counted) and after `--connections` clients
 *   (spread over `--client-procs` processes) connect, authenticate with a JWT and are told they
 *   are ready; the difference per connection.
 * - Latency: `--recipients` recipients with one client each, spread over the contender's server
 *   processes (2; the ws floor 1), triggers at each of `--rates` per second (the first is the
 *   headline; each on fresh server processes) for `--warmup-s` +
 *   `--seconds` s spread over the recipients round-robin (open loop), each carrying its number
 *   and send time; latency = client receive time − trigger call time, on the wall clock of the
 *   machine (performance.timeOrigin + now); percentiles after the warm-up; every trigger must
 *   arrive once at its own recipient (lost, duplicates, misrouted counted).
 *
 * `--quick`: 500 connections, 200 triggers/s for 5 s, nothing written unless `--write`.
 * Writes bench/results/realtime.json (per contender; contenders not run keep an earlier run's
 * figures), bench/results/realtime.meta.json and appends a dated section to bench/RESULTS.md.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { processCpuSeconds, startCpuWindow, type CpuWindow } from './cpu.js';
import { argReader, DATABASE_URL, progress, sleep } from './env.js';
import { heraldContender } from './peers/realtime-herald.js';
import { socketIoContender } from './peers/realtime-socketio.js';
import { wsContender } from './peers/realtime-ws.js';
import {
  APP_NAME_PREFIX,
  startClients,
  wallClock,
  type ClientProcess,
  type ContenderName,
  type Contender,
  type MemorySample,
  type ServerProcess,
} from './peers/realtime.js';
import { fmt, machineInfo, publish, resultsDir, round3, runInfo, runMain } from './report.js';
import { summarize, type LatencySummary } from './scenarios.js';

const jsonPath = path.join(resultsDir, 'realtime.json');
const metaPath = path.join(resultsDir, 'realtime.meta.json');
const ORDER: ContenderName[] = ['herald', 'socketio-pg', 'ws-floor'];
const TITLES: Record<ContenderName, string> = {
  herald: 'Herald',
  'socketio-pg': 'Socket.IO + pg adapter',
  'ws-floor': 'ws floor',
};

interface Args {
  connections: number;
  clientProcs: number;
  connectConcurrency: number;
  /** Clients opened and closed before the memory baseline. */
  warmConnections: number;
  recipients: number;
  /** Trigger rates of the latency runs; the first is the headline. */
  rates: number[];
  seconds: number;
  warmupS: number;
  drainS: number;
  pool: number;
  only: ContenderName[];
  cpuProf: string | undefined;
  write: boolean;
}

function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const args: Args = {
    connections: quick ? 500 : 10_000,
    clientProcs: 0, // set below from the connections
    connectConcurrency: 50,
    warmConnections: 100,
    recipients: 200,
    rates: quick ? [200] : [1_000, 100],
    seconds: quick ? 5 : 20,
    warmupS: quick ? 1 : 2,
    drainS: 15,
    pool: 5,
    only: [...ORDER],
    cpuProf: undefined,
    write: !quick,
  };
  const { value, count } = argReader(argv);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--quick') continue;
    else if (arg === '--connections') args.connections = count(value(++i, arg), arg);
    else if (arg === '--client-procs') args.clientProcs = count(value(++i, arg), arg);
    else if (arg === '--connect-concurrency') args.connectConcurrency = count(value(++i, arg), arg);
    else if (arg === '--warm-connections') args.warmConnections = Number(value(++i, arg));
    else if (arg === '--recipients') args.recipients = count(value(++i, arg), arg);
    else if (arg === '--rate' || arg === '--rates')
      args.rates = value(++i, arg)
        .split(',')
        .map((x) => count(x, arg));
    else if (arg === '--seconds') args.seconds = count(value(++i, arg), arg);
    else if (arg === '--warmup-s') args.warmupS = Number(value(++i, arg));
    else if (arg === '--drain-s') args.drainS = count(value(++i, arg), arg);
    else if (arg === '--pool') args.pool = count(value(++i, arg), arg);
    else if (arg === '--cpu-prof') args.cpuProf = path.resolve(value(++i, arg));
    else if (arg === '--no-write') args.write = false;
    else if (arg === '--write') args.write = true;
    else if (arg === '--only') {
      const names = value(++i, arg).split(',');
      for (const name of names)
        if (!(ORDER as string[]).includes(name))
          throw new Error(`unknown contender '${name}' (known: ${ORDER.join(', ')})`);
      args.only = ORDER.filter((name) => names.includes(name));
    } else throw new Error(`unknown argument '${arg}'`);
  }
  if (!(args.warmupS >= 0)) throw new Error('--warmup-s must be a number ≥ 0');
  if (!Number.isInteger(args.warmConnections) || args.warmConnections < 0)
    throw new Error('--warm-connections must be an integer ≥ 0');
  // Each client process under ~5,000 sockets.
  args.clientProcs ||= Math.max(1, Math.ceil(args.connections / 3_500));
  return args;
}

// ---------------------------------------------------------------------------------------------
// Memory per idle connection

interface MemoryFigures {
  /** Connections open at the reading: ready, and not closed by the server since. */
  connections: number;
  failed: number;
  failures: string[];
  closed: number;
  close_reasons: string[];
  connect_s: number;
  before: MemorySample;
  after: MemorySample;
  rss_kb_per_conn: number;
  heap_kb_per_conn: number;
  /** external + arrayBuffers (Buffers outside the heap) per connection. */
  external_kb_per_conn: number;
}

const kbPerConn = (after: number, before: number, n: number) =>
  n > 0 ? round3((after - before) / 1024 / n) : Number.NaN;

async function stopAll(clients: ClientProcess[]): Promise<void> {
  await Promise.all(
    clients.map((c) =>
      c.stop().catch(() => {
        c.kill();
      }),
    ),
  );
}

async function measureMemory(
  c: Contender,
  args: Args,
  secret: string,
  loads: number[][],
): Promise<MemoryFigures> {
  const server = await c.startServer(`${c.name} server`);
  const clients: ClientProcess[] = [];
  try {
    const ids = Array.from({ length: args.connections }, (_, i) => `m${i}`);
    const began = performance.now();
    await c.addRecipients(server, ids);
    progress(
      `${c.name}: memory: server up, ${fmt(ids.length)} recipients ready in ` +
        `${((performance.now() - began) / 1000).toFixed(1)} s`,
    );
    const target = c.target(server);
    if (args.warmConnections > 0) {
      // Code compiled and caches filled by the first handshakes are not per connection.
      const warm = await startClients(`${c.name}-warm`);
      const opened = await warm.open(
        ids.slice(0, args.warmConnections).map((recipient) => ({ recipient, target })),
        { secret, concurrency: args.connectConcurrency, record: false },
      );
      await warm.stop();
      if (opened.failed > 0) {
        throw new Error(`${opened.failed} warm-up clients failed: ${opened.errors.join('; ')}`);
      }
    }
    await sleep(2_000); // the warm-up clients' sockets closed on the server too
    const before = await server.memory();
    for (let i = 0; i < args.clientProcs; i++)
      clients.push(await startClients(`${c.name}-mem-${i + 1}`));
    const counts = clients.map(() => ({ ok: 0, failed: 0 }));
    const ticker = setInterval(() => {
      const ok = counts.reduce((s, x) => s + x.ok, 0);
      const failed = counts.reduce((s, x) => s + x.failed, 0);
      progress(`    … ${fmt(ok)} ready, ${fmt(failed)} failed`);
    }, 5_000);
    const connectBegan = performance.now();
    let opened;
    try {
      opened = await Promise.all(
        clients.map((proc, i) =>
          proc.open(
            ids
              .filter((_, n) => n % clients.length === i)
              .map((recipient) => ({ recipient, target })),
            { secret, concurrency: args.connectConcurrency, record: false },
            (ok, failed) => (counts[i] = { ok, failed }),
          ),
        ),
      );
    } finally {
      clearInterval(ticker);
    }
    const connectS = (performance.now() - connectBegan) / 1000;
    loads.push(os.loadavg());
    const ok = opened.reduce((s, o) => s + o.ok, 0);
    const failed = opened.reduce((s, o) => s + o.failed, 0);
    const failures = opened.flatMap((o) => o.errors);
    progress(
      `${c.name}: memory: ${fmt(ok)} connections ready in ${connectS.toFixed(1)} s` +
        `${failed ? `, ${failed} failed (${failures.join('; ')})` : ''}`,
    );
    await sleep(2_000); // handshakes' garbage and pending writes settle
    const after = await server.memory();
    // Clients the server closed before the reading are not in it.
    const stopped = await Promise.all(clients.splice(0).map((proc) => proc.stop()));
    const closed = stopped.reduce((s, d) => s + d.closed, 0);
    const live = ok - closed;
    return {
      connections: live,
      failed,
      failures,
      closed,
      close_reasons: stopped.flatMap((d) => d.closeReasons),
      connect_s: round3(connectS),
      before,
      after,
      rss_kb_per_conn: kbPerConn(after.rss, before.rss, live),
      heap_kb_per_conn: kbPerConn(after.heapUsed, before.heapUsed, live),
      external_kb_per_conn: kbPerConn(
        after.external + after.arrayBuffers,
        before.external + before.arrayBuffers,
        live,
      ),
    };
  } finally {
    await stopAll(clients);
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Trigger-to-client latency

/** CPU seconds by pid of the PostgreSQL backends of the contenders' connections. */
async function ownBackends(): Promise<Map<number, number>> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1`,
      [`${APP_NAME_PREFIX}%`],
    );
    return new Map(rows.map(({ pid }) => [pid, processCpuSeconds(pid)]));
  } finally {
    await client.end();
  }
}

/**
 * Ends a window begun with `ownBackends()`: the CPU seconds the contender's own backends used
 * in it (a backend that closed in the window is not counted; the pools keep theirs open).
 */
async function ownBackendSeconds(first: Map<number, number>): Promise<number> {
  let seconds = 0;
  for (const [pid, now] of await ownBackends()) {
    const start = first.get(pid) ?? 0;
    if (Number.isFinite(now)) seconds += now - (Number.isFinite(start) ? start : 0);
  }
  return Math.round(seconds * 100) / 100;
}

interface LatencyFigures {
  rate: number;
  servers: number;
  recipients: number;
  sent: number;
  trigger_errors: number;
  first_trigger_error: string | null;
  received: number;
  lost: number;
  duplicates: number;
  misrouted: number;
  strays: number;
  other_frames: number;
  closed_clients: number;
  close_reasons: string[];
  /** After the warm-up; percentiles in ms. */
  measured: LatencySummary;
  /** Every trigger, warm-up included. */
  all: LatencySummary;
  /** Trigger call → its answer (Herald's 202), after the warm-up; null where there is none. */
  answer: LatencySummary | null;
  /** The answer → the client's receipt (the rest of the way), after the warm-up. */
  after_answer: LatencySummary | null;
  max_ms: number;
  send_s: number;
  drain_s: number;
  cpu: CpuWindow;
  /** CPU seconds of the PostgreSQL backends of the contender's own connections. */
  postgres_own_s: number;
}

async function measureLatency(
  c: Contender,
  args: Args,
  rate: number,
  secret: string,
  loads: number[][],
): Promise<LatencyFigures> {
  const servers: ServerProcess[] = [];
  let clients: ClientProcess | undefined;
  try {
    for (let i = 0; i < c.latencyServers; i++) {
      const label = `${c.name} server ${String.fromCharCode(65 + i)}`;
      servers.push(await c.startServer(label, args.cpuProf));
    }
    const recipients = Array.from({ length: args.recipients }, (_, i) => `l${i}`);
    await c.addRecipients(servers[0] as ServerProcess, recipients);
    clients = await startClients(`${c.name}-latency`);
    const opened = await clients.open(
      recipients.map((recipient, i) => ({
        recipient,
        target: c.target(servers[i % servers.length] as ServerProcess),
      })),
      { secret, concurrency: 20, record: true },
    );
    if (opened.failed > 0) {
      throw new Error(`${opened.failed} latency clients failed: ${opened.errors.join('; ')}`);
    }
    await c.prepareTriggers(servers);
    await sleep(1_000);
    const warm = Math.round(rate * args.warmupS);
    const total = warm + Math.round(rate * args.seconds);
    progress(
      `${c.name}: latency: ${recipients.length} clients on ${servers.length} server ` +
        `process(es); ${fmt(total)} triggers at ${rate}/s`,
    );
    loads.push(os.loadavg());
    const backendsFirst = await ownBackends();
    const endCpu = startCpuWindow({
      ...Object.fromEntries(servers.map((s, i) => [`server${i + 1}`, s.pid])),
      clients: clients.pid,
      bench: process.pid,
    });
    const proc = clients;
    const ticker = setInterval(
      () => progress(`    … ${fmt(proc.received())}/${fmt(total)} received`),
      5_000,
    );
    const sendBegan = performance.now();
    let sent;
    try {
      sent = await c.sendTriggers(servers, { recipients, rate, total });
    } finally {
      clearInterval(ticker);
    }
    const sendS = (performance.now() - sendBegan) / 1000;
    const drainBegan = performance.now();
    // Until every event is in, or none came for --drain-s (a backlog still draining is waited
    // for, up to 10 minutes, so that "lost" means never delivered, not late).
    let lastCount = proc.received();
    let lastChange = performance.now();
    const drainTicker = setInterval(
      () => progress(`    … draining: ${fmt(proc.received())}/${fmt(total)} received`),
      5_000,
    );
    try {
      while (proc.received() < total) {
        const now = performance.now();
        if (proc.received() !== lastCount) [lastCount, lastChange] = [proc.received(), now];
        if (now - lastChange > args.drainS * 1000 || now - drainBegan > 600_000) break;
        await sleep(100);
      }
    } finally {
      clearInterval(drainTicker);
    }
    const drainS = (performance.now() - drainBegan) / 1000;
    const cutOffAt = wallClock();
    const cpu = endCpu();
    const postgresOwn = await ownBackendSeconds(backendsFirst);
    loads.push(os.loadavg());
    const done = await proc.stop();
    clients = undefined;

    const latencies = new Float64Array(total).fill(Number.NaN);
    let duplicates = 0;
    let strays = 0;
    let received = 0;
    let max = 0;
    for (let i = 0; i < done.received.length; i += 2) {
      const n = done.received[i] as number;
      const at = done.received[i + 1] as number;
      if (!Number.isInteger(n) || n < 0 || n >= total) {
        strays++;
        continue;
      }
      if (!Number.isNaN(latencies[n])) {
        duplicates++;
        continue;
      }
      latencies[n] = at - (sent.sentAt[n] as number);
      max = Math.max(max, latencies[n]);
      received++;
    }
    const called = sent.sentAt.reduce((k, t) => k + (Number.isNaN(t) ? 0 : 1), 0);
    const figures: LatencyFigures = {
      rate,
      servers: servers.length,
      recipients: recipients.length,
      sent: called,
      trigger_errors: sent.errors,
      first_trigger_error: sent.firstError ?? null,
      received,
      lost: called - received,
      duplicates,
      misrouted: done.misrouted,
      strays,
      other_frames: done.other,
      closed_clients: done.closed,
      close_reasons: done.closeReasons,
      measured: summarize(latencies, sent.sentAt, cutOffAt, warm, total),
      all: summarize(latencies, sent.sentAt, cutOffAt, 0, total),
      answer: sent.answeredAt
        ? summarize(
            sent.answeredAt.map((t, n) => t - (sent.sentAt[n] as number)),
            sent.sentAt,
            cutOffAt,
            warm,
            total,
          )
        : null,
      after_answer: sent.answeredAt
        ? summarize(
            latencies.map((x, n) => x - ((sent.answeredAt?.[n] ?? NaN) - (sent.sentAt[n] ?? NaN))),
            sent.sentAt,
            cutOffAt,
            warm,
            total,
          )
        : null,
      max_ms: round3(max),
      send_s: round3(sendS),
      drain_s: round3(drainS),
      cpu,
      postgres_own_s: postgresOwn,
    };
    progress(
      `${c.name}: latency at ${rate}/s: p50 ${figures.measured.p50.toFixed(2)} p95 ` +
        `${figures.measured.p95.toFixed(2)} p99 ${figures.measured.p99.toFixed(2)} ms; ` +
        `${received}/${called} received, ${figures.lost} lost, ${duplicates} duplicates`,
    );
    return figures;
  } finally {
    clients?.kill();
    for (const server of servers) await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

interface ContenderResult {
  rss_kb_per_conn: number;
  heap_kb_per_conn: number;
  latency_p50_ms: number;
  latency_p95_ms: number;
  latency_p99_ms: number;
  lost: number;
  duplicates: number;
  sent: number;
  /** Triggers per second of the headline latency figures. */
  rate: number;
  settings: string;
  memory: MemoryFigures | null;
  /** One run per rate of `--rates`; the headline figures are the first's. */
  latency: LatencyFigures[];
  /** Load average (1, 5, 15 min) at the contender's start, phases and end. */
  load: number[][];
  date: string;
  errors: string[];
  ratios?: Record<string, number | null>;
}

async function runContender(c: Contender, args: Args, secret: string): Promise<ContenderResult> {
  const loads = [os.loadavg()];
  const errors: string[] = [];
  let memory: MemoryFigures | null = null;
  const latency: LatencyFigures[] = [];
  const date = new Date().toISOString();
  progress(`${c.name}: ${c.settings}`);
  await c.setup();
  try {
    try {
      memory = await measureMemory(c, args, secret, loads);
      progress(
        `${c.name}: memory: ${memory.rss_kb_per_conn} KB RSS, ${memory.heap_kb_per_conn} KB heap ` +
          'per connection',
      );
    } catch (error) {
      errors.push(`memory: ${(error as Error).message}`);
      progress(`${c.name}: memory FAILED: ${(error as Error).stack ?? String(error)}`);
    }
    for (const rate of args.rates) {
      try {
        latency.push(await measureLatency(c, args, rate, secret, loads));
      } catch (error) {
        errors.push(`latency at ${rate}/s: ${(error as Error).message}`);
        progress(`${c.name}: latency FAILED: ${(error as Error).stack ?? String(error)}`);
      }
    }
  } finally {
    await c.teardown();
  }
  loads.push(os.loadavg());
  const headline = latency.find((l) => l.rate === args.rates[0]);
  return {
    rss_kb_per_conn: memory?.rss_kb_per_conn ?? Number.NaN,
    heap_kb_per_conn: memory?.heap_kb_per_conn ?? Number.NaN,
    latency_p50_ms: round3(headline?.measured.p50 ?? Number.NaN),
    latency_p95_ms: round3(headline?.measured.p95 ?? Number.NaN),
    latency_p99_ms: round3(headline?.measured.p99 ?? Number.NaN),
    lost: headline?.lost ?? Number.NaN,
    duplicates: headline?.duplicates ?? Number.NaN,
    sent: headline?.sent ?? 0,
    rate: headline?.rate ?? args.rates[0] ?? Number.NaN,
    settings: c.settings,
    memory,
    latency,
    load: loads.map((l) => l.map((x) => Math.round(x * 100) / 100)),
    date,
    errors,
  };
}

type Results = Partial<Record<ContenderName, ContenderResult>>;

const ratioOf = (a: number, b: number) =>
  Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? round3(a / b) : null;

function heraldRatios(results: Results): Record<string, number | null> | undefined {
  const h = results.herald;
  if (!h) return undefined;
  const out: Record<string, number | null> = {};
  for (const [peer, key] of [
    ['socketio-pg', 'socketio'],
    ['ws-floor', 'ws'],
  ] as const) {
    const p = results[peer];
    if (!p) continue;
    out[`rss_per_conn_herald_over_${key}`] = ratioOf(h.rss_kb_per_conn, p.rss_kb_per_conn);
    out[`heap_per_conn_herald_over_${key}`] = ratioOf(h.heap_kb_per_conn, p.heap_kb_per_conn);
    out[`latency_p50_herald_over_${key}`] = ratioOf(h.latency_p50_ms, p.latency_p50_ms);
    out[`latency_p99_herald_over_${key}`] = ratioOf(h.latency_p99_ms, p.latency_p99_ms);
  }
  return out;
}

const ms = (x: number, lowerBound = false) =>
  Number.isFinite(x) ? `${lowerBound ? '≥' : ''}${x < 10 ? x.toFixed(2) : x.toFixed(1)}` : 'n/a';
const times = (x: number | null | undefined) =>
  x === null || x === undefined ? '' : `${x < 0.1 ? x.toPrecision(2) : x.toFixed(2)}×`;

function goals(results: Results): string[][] {
  const h = results.herald;
  const s = results['socketio-pg'];
  const w = results['ws-floor'];
  if (!h) return [];
  const verdict = (ok: boolean | undefined) =>
    ok === undefined ? 'not measured' : ok ? 'met' : '**not met**';
  const known = (...xs: (number | undefined)[]) =>
    xs.every((x) => x !== undefined && Number.isFinite(x));
  const rows: string[][] = [];
  for (const [label, key] of [
    ['RSS', 'rss_kb_per_conn'],
    ['heap', 'heap_kb_per_conn'],
  ] as const) {
    rows.push([
      `${label} per connection ≤ Socket.IO's`,
      verdict(known(h[key], s?.[key]) ? h[key] <= (s?.[key] ?? 0) : undefined),
    ]);
    rows.push([
      `${label} per connection ≤ 2× the ws floor's`,
      verdict(known(h[key], w?.[key]) ? h[key] <= 2 * (w?.[key] ?? 0) : undefined),
    ]);
  }
  for (const l of h.latency) {
    const peer = s?.latency.find((x) => x.rate === l.rate);
    const headline = l === h.latency[0];
    rows.push([
      `p99 below Socket.IO's at ${fmt(l.rate)}/s${headline ? '' : ' (beside the goal)'}`,
      verdict(peer ? l.measured.p99 < peer.measured.p99 : undefined),
    ]);
    rows.push([
      `0 lost, 0 duplicates at ${fmt(l.rate)}/s`,
      verdict(l.lost === 0 && l.duplicates === 0 && l.misrouted === 0),
    ]);
  }
  return rows;
}

/** CPU ms of the contender's server processes per trigger in a latency run. */
const serverCpuPerTrigger = (l: LatencyFigures) =>
  l.sent > 0
    ? (1000 *
        Object.entries(l.cpu.processes)
          .filter(([name]) => name.startsWith('server'))
          .reduce((sum, [, seconds]) => sum + seconds, 0)) /
      l.sent
    : Number.NaN;

function mainTable(results: Results, names: ContenderName[], rates: number[]): string {
  const present = names.filter((n) => results[n]);
  const head = `| figure | ${present.map((n) => TITLES[n]).join(' | ')} | Herald ÷ Socket.IO | Herald ÷ ws |`;
  const rule = `|---|${present.map(() => '---:').join('|')}|---:|---:|`;
  const r = results.herald?.ratios ?? {};
  const atRate = (n: ContenderName, rate: number) =>
    results[n]?.latency.find((l) => l.rate === rate);
  const pct = (n: ContenderName, rate: number, p: 'p50' | 'p95' | 'p99') => {
    const l = atRate(n, rate);
    return l ? ms(l.measured[p], l.measured.lowerBound[p]) : 'n/a';
  };
  const ratioAt = (rate: number, p: 'p50' | 'p99', peer: ContenderName) => {
    const h = atRate('herald', rate);
    const o = atRate(peer, rate);
    return h && o ? times(ratioOf(h.measured[p], o.measured[p])) : '';
  };
  const rows: [string, (n: ContenderName) => string, string, string][] = [
    [
      'RSS per idle connection, KB',
      (n) => fmt(results[n]?.rss_kb_per_conn, 2),
      times(r.rss_per_conn_herald_over_socketio),
      times(r.rss_per_conn_herald_over_ws),
    ],
    [
      'heap per idle connection, KB',
      (n) => fmt(results[n]?.heap_kb_per_conn, 2),
      times(r.heap_per_conn_herald_over_socketio),
      times(r.heap_per_conn_herald_over_ws),
    ],
  ];
  for (const rate of rates) {
    const at = `at ${fmt(rate)}/s`;
    rows.push(
      [
        `trigger → client p50 ${at}, ms`,
        (n) => pct(n, rate, 'p50'),
        ratioAt(rate, 'p50', 'socketio-pg'),
        ratioAt(rate, 'p50', 'ws-floor'),
      ],
      [`trigger → client p95 ${at}, ms`, (n) => pct(n, rate, 'p95'), '', ''],
      [
        `trigger → client p99 ${at}, ms`,
        (n) => pct(n, rate, 'p99'),
        ratioAt(rate, 'p99', 'socketio-pg'),
        ratioAt(rate, 'p99', 'ws-floor'),
      ],
      [
        `lost / duplicates / sent ${at}`,
        (n) => {
          const l = atRate(n, rate);
          return l ? `${fmt(l.lost)} / ${fmt(l.duplicates)} / ${fmt(l.sent)}` : 'n/a';
        },
        '',
        '',
      ],
      [
        `CPU ms per trigger ${at}: server processes + own PostgreSQL backends`,
        (n) => {
          const l = atRate(n, rate);
          return l
            ? `${fmt(serverCpuPerTrigger(l), 2)} + ${fmt((1000 * l.postgres_own_s) / l.sent, 2)}`
            : 'n/a';
        },
        '',
        '',
      ],
    );
  }
  rows.push([
    'server processes in the latency runs',
    (n) => String(results[n]?.latency[0]?.servers ?? 'n/a'),
    '',
    '',
  ]);
  return [
    head,
    rule,
    ...rows.map(
      ([label, cell, a, b]) => `| ${label} | ${present.map(cell).join(' | ')} | ${a} | ${b} |`,
    ),
  ].join('\n');
}

function detailLines(results: Results, names: ContenderName[]): string[] {
  const kb = (bytes: number) => fmt(bytes / 1024);
  const lines: string[] = [];
  for (const name of names) {
    const r = results[name];
    if (!r) continue;
    const m = r.memory;
    const parts: string[] = [];
    if (m) {
      parts.push(
        `memory: ${fmt(m.connections)} connections ready in ${m.connect_s} s` +
          `${m.failed ? ` (${m.failed} failed: ${m.failures.join('; ')})` : ''}` +
          `${m.closed ? ` (${m.closed} closed by the server: ${m.close_reasons.join('; ')})` : ''}; RSS ` +
          `${kb(m.before.rss)} → ${kb(m.after.rss)} KB, heap used ${kb(m.before.heapUsed)} → ` +
          `${kb(m.after.heapUsed)} KB, external + array buffers ` +
          `${m.external_kb_per_conn} KB per connection`,
      );
    }
    for (const l of r.latency) {
      const cpu = Object.entries(l.cpu.processes)
        .map(([p, s]) => `${p} ${s}`)
        .join(', ');
      parts.push(
        `latency at ${fmt(l.rate)}/s: ${fmt(l.sent)} triggers sent in ${l.send_s} s ` +
          `(${l.trigger_errors} failed` +
          `${l.first_trigger_error ? `, first: ${l.first_trigger_error}` : ''}), ` +
          `${fmt(l.received)} received (${l.lost} lost, ${l.duplicates} duplicates, ` +
          `${l.misrouted} at another recipient, ${l.strays} unknown), the last ${l.drain_s} s ` +
          `after the last trigger; over every trigger p50 ${ms(l.all.p50)} / p99 ` +
          `${ms(l.all.p99)} ms, ` +
          (l.answer
            ? `trigger call answered in p50 ${ms(l.answer.p50)} / p99 ${ms(l.answer.p99)} ms, `
            : '') +
          (l.after_answer
            ? `answer → client p50 ${ms(l.after_answer.p50)} / p99 ${ms(l.after_answer.p99)} ms, `
            : '') +
          `max ${ms(l.max_ms)} ms; ${l.closed_clients} clients closed by the server` +
          `${l.close_reasons.length ? ` (${l.close_reasons.join('; ')})` : ''}; CPU s: ${cpu}, ` +
          `PostgreSQL ${l.postgres_own_s} (the contender's own backends; every backend on the ` +
          `server: ${l.cpu.postgres}), machine ` +
          `${l.cpu.machine_busy} of ${l.cpu.machine_capacity} over ${l.cpu.wall_s} s`,
      );
    }
    parts.push(`load average (1 min) ${r.load.map((x) => x[0]?.toFixed(2) ?? 'n/a').join(' → ')}`);
    if (r.errors.length) parts.push(`FAILED: ${r.errors.join('; ')}`);
    lines.push(`- ${TITLES[name]}: ${parts.join('. ')}.`);
  }
  return lines;
}

function readJson<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = new Date();
  const run = runInfo('bench:realtime', started);
  const machine = await machineInfo();
  const loadStart = os.loadavg();
  progress(
    `contenders: ${args.only.join(', ')}; ${machine.nproc} cores, Node ${machine.node}, ` +
      `PostgreSQL ${machine.postgres}; load average ${loadStart.map((x) => x.toFixed(2)).join(' ')}`,
  );
  if (args.cpuProf) mkdirSync(args.cpuProf, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  const apiKey = `bench-rt-${randomBytes(16).toString('hex')}`;
  const contenders: Record<ContenderName, () => Contender> = {
    herald: () => heraldContender({ apiKey, secret, poolSize: args.pool }),
    'socketio-pg': () => socketIoContender({ secret, poolSize: args.pool }),
    'ws-floor': () => wsContender({ secret }),
  };
  const results: Results = {};
  // The peers first: Herald runs last, on the machine as the peers left it.
  for (const name of [...args.only].reverse()) {
    results[name] = await runContender(contenders[name](), args, secret);
  }
  const loadEnd = os.loadavg();

  // realtime.json: this run's contenders over whatever earlier runs left for the others.
  const previous = readJson<Results>(jsonPath) ?? {};
  const merged: Results = {};
  for (const name of ORDER) {
    const row = results[name] ?? previous[name];
    if (row) merged[name] = row;
  }
  if (merged.herald) merged.herald.ratios = heraldRatios(merged) ?? {};
  const earlier = ORDER.filter((n) => merged[n] && !results[n]);

  const sizes =
    `memory: ${fmt(args.connections)} connections to one server process (after ` +
    `${args.warmConnections} warm-up connections opened and closed), opened by ` +
    `${args.clientProcs} client processes (${args.connectConcurrency} handshakes at a time each); ` +
    `latency: ${args.recipients} recipients with one client each, ` +
    `${args.rates.map((r) => fmt(r)).join(' and then ')} triggers/s (the first is the headline; ` +
    `fresh server processes for each) for ${args.warmupS} s of warm-up (left out) + ${args.seconds} s, then waiting until every ` +
    `event is in or none came for ${args.drainS} s`;
  const settings = ORDER.filter((n) => results[n]).map(
    (n) => `- ${TITLES[n]}: ${results[n]?.settings ?? ''}`,
  );
  const markdown = [
    `## Real-time benchmark — ${run.stamp}`,
    '',
    `Command: \`${run.command}\``,
    '',
    `Machine: ${machine.nproc} cores (${machine.cpu}), ${machine.memory_gib} GiB memory, ` +
      `${machine.os}, Node ${machine.node}, PostgreSQL ${machine.postgres}; load average ` +
      `${loadStart.map((x) => x.toFixed(2)).join(' / ')} at the start, ` +
      `${loadEnd.map((x) => x.toFixed(2)).join(' / ')} at the end (1 / 5 / 15 min)`,
    '',
    `Sizes: ${sizes}.`,
    '',
    'Method: each server runs in its own process with `--expose-gc` and a probe ' +
      '(bench/realtime-probe.mjs) that answers process.memoryUsage() after three forced ' +
      'collections; memory per connection = (after the clients are ready − before they ' +
      'connect) ÷ connections. Every client authenticates with a JWT (HS256, `sub` = ' +
      'recipient) in an `Authorization: Bearer` header and counts once the server says it is ' +
      'ready. Latency = client receive time − trigger call time on the wall clock the ' +
      'processes share (the triggers are sent from the benchmark process, open loop; the ' +
      'clients are in a forked process); nearest-rank percentiles after the warm-up; ≥: some ' +
      'triggers never arrived, the figure is a lower bound.',
    '',
    'Settings:',
    '',
    ...settings,
    '',
    mainTable(merged, ORDER, args.rates),
    '',
    ...(earlier.length
      ? [
          `Rows from an earlier run: ${earlier.map((n) => `${TITLES[n]} (${merged[n]?.date})`).join(', ')}.`,
          '',
        ]
      : []),
    "The ws floor's latency is one process emitting to its own sockets: a bare `ws` server " +
      'has no fan-out between processes, so its two-process figure does not exist; it is the ' +
      'cost of the socket alone, with no database between trigger and client.',
    '',
    ...(merged.herald
      ? [
          '| goal (issue 11) | verdict |',
          '|---|---|',
          ...goals(merged).map(([g, v]) => `| ${g} | ${v} |`),
          '',
        ]
      : []),
    'Details:',
    '',
    ...detailLines(results, ORDER),
    '',
    'Analysis: see below',
    '',
    '<!-- Analysis of this run (where Herald is behind the goals, by how much and why): written by hand. -->',
    '',
  ].join('\n');

  const meta = {
    date: started.toISOString(),
    command: run.command,
    machine,
    load_start: loadStart,
    load_end: loadEnd,
    args,
  };
  await publish({ markdown, json: merged, jsonPath, write: args.write });
  if (args.write) writeFileSync(metaPath, `${JSON.stringify(meta, null, 2)}\n`);
  if (ORDER.some((n) => (results[n]?.errors.length ?? 0) > 0)) process.exitCode = 1;
}

runMain(main);
