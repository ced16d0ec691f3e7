/**
 * The side-by-side queue benchmark (`npm run bench:queue`): Herald, graphile-worker, pg-boss and
 * BullMQ, each in its 'defaults' and 'tuned' variant, through the same scenarios (scenarios.ts).
 *
 *   node --import tsx bench/queue.ts [--only herald,graphile-worker,pg-boss,bullmq] [--no-write]
 *
 * Writes bench/results/queue.json (per queue, the better of its two variants for each metric,
 * merged into what earlier runs left for queues not run this time), bench/results/queue.meta.json
 * (machine, sizes, dates) and appends a dated section to bench/RESULTS.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { format, resolveConfig } from 'prettier';
import type { QueueAdapter, QueueMetrics } from './adapter.js';
import { REDIS_URL, progress } from './env.js';
import { machineInfo as baseMachineInfo, runMain, type Machine as BaseMachine } from './report.js';
import { FACTORIES, QUEUES, VARIANTS, type QueueName, type Variant } from './queue-adapters.js';
import { METRIC_NAMES, measure, sizesFromEnv } from './scenarios.js';
import type { BenchSizes, Measurement, MetricFlag, MetricName } from './scenarios.js';
import { forkQueueWorker, latencyXproc } from './xproc.js';

const HIGHER_IS_BETTER: Record<MetricName, boolean> = {
  enqueue_seq_per_s: true,
  enqueue_concurrent_per_s: true,
  enqueue_bulk_per_s: true,
  process_c10_per_s: true,
  process_c50_per_s: true,
  latency_p50_ms: false,
  latency_p95_ms: false,
  latency_p99_ms: false,
  latency_xproc_p50_ms: false,
  latency_xproc_p95_ms: false,
  latency_xproc_p99_ms: false,
  latency_xproc_cold_p50_ms: false,
  latency_xproc_cold_p95_ms: false,
  latency_xproc_cold_p99_ms: false,
  latency_xproc_warmup_p99_ms: false,
};

const HEADERS: Record<MetricName, string> = {
  enqueue_seq_per_s: 'enqueue seq/s',
  enqueue_concurrent_per_s: 'enqueue 50-conc/s',
  enqueue_bulk_per_s: 'enqueue bulk/s',
  process_c10_per_s: 'process c10/s',
  process_c50_per_s: 'process c50/s',
  latency_p50_ms: 'p50 ms',
  latency_p95_ms: 'p95 ms',
  latency_p99_ms: 'p99 ms',
  latency_xproc_p50_ms: 'xproc p50 ms',
  latency_xproc_p95_ms: 'xproc p95 ms',
  latency_xproc_p99_ms: 'xproc p99 ms',
  latency_xproc_cold_p50_ms: 'xproc cold p50 ms',
  latency_xproc_cold_p95_ms: 'xproc cold p95 ms',
  latency_xproc_cold_p99_ms: 'xproc cold p99 ms',
  latency_xproc_warmup_p99_ms: 'xproc warm-up p99 ms',
};

interface VariantRecord {
  settings: string;
  metrics: QueueMetrics;
  flags: Partial<Record<MetricName, MetricFlag>>;
  notes: string[];
  seconds: Record<string, number>;
}

/** One queue's row in queue.json: the best figures plus where they came from. */
interface QueueRow extends QueueMetrics {
  variants: {
    /** Which variant each top-level figure is from. */
    chosen: Record<MetricName, Variant>;
    defaults?: VariantRecord;
    tuned?: VariantRecord;
  };
}

interface QueueRun {
  name: QueueName;
  records: Partial<Record<Variant, VariantRecord>>;
  errors: string[];
}

interface Machine extends BaseMachine {
  redis: string;
}

interface MetaEntry {
  date: string;
  command: string;
  scale: number;
  sizes: BenchSizes;
  machine: Machine;
}

interface Meta {
  updated: string;
  queues: Partial<Record<QueueName, MetaEntry>>;
}

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(benchDir, 'results');
const jsonPath = path.join(resultsDir, 'queue.json');
const metaPath = path.join(resultsDir, 'queue.meta.json');
const mdPath = path.join(benchDir, 'RESULTS.md');

function parseArgs(argv: string[]): { only: QueueName[]; write: boolean } {
  let only: QueueName[] = [...QUEUES];
  let write = true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--no-write') {
      write = false;
    } else if (arg === '--only' || arg.startsWith('--only=')) {
      const list = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      if (!list) throw new Error('--only needs a comma-separated list of queues');
      const names = list
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const name of names) {
        if (!(QUEUES as readonly string[]).includes(name)) {
          throw new Error(`unknown queue '${name}' (known: ${QUEUES.join(', ')})`);
        }
      }
      only = QUEUES.filter((q) => names.includes(q));
    } else {
      throw new Error(`unknown argument '${arg}'`);
    }
  }
  return { only, write };
}

async function machineInfo(): Promise<Machine> {
  let redis: string;
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const info = await client.info('server');
    redis = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    await client.quit();
  } catch (error) {
    redis = `unavailable (${(error as Error).message})`;
    client.disconnect();
  }
  return { ...(await baseMachineInfo()), redis };
}

function pickMetrics(m: Measurement): QueueMetrics {
  const out = {} as QueueMetrics;
  for (const name of METRIC_NAMES) out[name] = m[name];
  return out;
}

/** Is `a` a better figure than `b`? An exact latency beats a lower bound whatever the numbers. */
function better(name: MetricName, a: VariantRecord, b: VariantRecord): boolean {
  const lowerA = a.flags[name] === 'lower-bound';
  const lowerB = b.flags[name] === 'lower-bound';
  if (lowerA !== lowerB) return lowerB;
  return HIGHER_IS_BETTER[name]
    ? a.metrics[name] > b.metrics[name]
    : a.metrics[name] < b.metrics[name];
}

function bestRow(records: Partial<Record<Variant, VariantRecord>>): QueueRow | null {
  const available = VARIANTS.filter((v) => records[v] !== undefined);
  if (available.length === 0) return null;
  const figures = {} as QueueMetrics;
  const chosen = {} as Record<MetricName, Variant>;
  for (const name of METRIC_NAMES) {
    let best: Variant | undefined;
    for (const v of available) {
      const candidate = records[v];
      const current = best ? records[best] : undefined;
      if (candidate && (!current || better(name, candidate, current))) best = v;
    }
    const from = best ?? 'defaults';
    figures[name] = records[from]?.metrics[name] ?? Number.NaN;
    chosen[name] = from;
  }
  // Key order matters to a reader of queue.json: the figures first, then where they came from.
  return { ...figures, variants: { chosen, ...records } };
}

function formatValue(name: MetricName, value: number, flag?: MetricFlag): string {
  if (!Number.isFinite(value)) return 'n/a';
  const text = HIGHER_IS_BETTER[name]
    ? Math.round(value).toLocaleString('en-US')
    : value.toFixed(value < 10 ? 2 : 1);
  if (flag === 'lower-bound') return `≥${text}`;
  if (flag === 'partial') return `${text}†`;
  return text;
}

function table(runs: QueueRun[]): string {
  const head = `| queue | variant | ${METRIC_NAMES.map((n) => HEADERS[n]).join(' | ')} |`;
  const rule = `|---|---|${METRIC_NAMES.map(() => '---:').join('|')}|`;
  const lines = [head, rule];
  for (const run of runs) {
    for (const v of VARIANTS) {
      const rec = run.records[v];
      const cells = rec
        ? METRIC_NAMES.map((n) => formatValue(n, rec.metrics[n], rec.flags[n]))
        : METRIC_NAMES.map(() => 'failed');
      lines.push(`| ${run.name} | ${v} | ${cells.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

function bestTable(rows: Partial<Record<QueueName, QueueRow>>, names: QueueName[]): string {
  const head = `| queue | ${METRIC_NAMES.map((n) => HEADERS[n]).join(' | ')} |`;
  const rule = `|---|${METRIC_NAMES.map(() => '---:').join('|')}|`;
  const lines = [head, rule];
  for (const name of names) {
    const row = rows[name];
    if (!row) continue;
    const cells = METRIC_NAMES.map((n) => {
      const from = row.variants.chosen[n];
      const flag = row.variants[from]?.flags[n];
      return `${formatValue(n, row[n], flag)} (${from === 'defaults' ? 'd' : 't'})`;
    });
    lines.push(`| ${name} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function ratioText(name: MetricName, herald: number, peer: number): string {
  if (!Number.isFinite(herald) || !Number.isFinite(peer) || peer === 0) return 'n/a';
  const r = herald / peer;
  const verdict = HIGHER_IS_BETTER[name]
    ? r >= 1
      ? 'Herald faster'
      : 'Herald slower'
    : r <= 1
      ? 'Herald lower'
      : 'Herald higher';
  return `${r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}× (${verdict})`;
}

/** `rows` mixes this run's rows with earlier runs' (`earlier` maps those to their run date). */
function ratios(
  rows: Partial<Record<QueueName, QueueRow>>,
  earlier: Partial<Record<QueueName, string>>,
): string {
  const herald = rows.herald;
  const metrics: MetricName[] = [
    'enqueue_seq_per_s',
    'enqueue_concurrent_per_s',
    'process_c10_per_s',
    'process_c50_per_s',
    'latency_p99_ms',
    'latency_xproc_p99_ms',
    'latency_xproc_cold_p99_ms',
  ];
  if (!herald) return 'Ratios: n/a — no Herald figures yet.';
  const from = (q: QueueName): string => {
    const date = earlier[q];
    if (date === undefined) return '';
    return date
      ? ` (from the run of ${date.slice(0, 16).replace('T', ' ')} UTC)`
      : ' (from an earlier run)';
  };
  const lines = [
    `Ratios, Herald ÷ peer, best variant of each${from('herald')}; for throughput above 1 means ` +
      'Herald is faster, for latency below 1 means Herald is quicker:',
    '',
    `| peer | ${metrics.map((m) => HEADERS[m]).join(' | ')} |`,
    `|---|${metrics.map(() => '---:').join('|')}|`,
  ];
  for (const peer of QUEUES) {
    const row = rows[peer];
    if (peer === 'herald' || !row) continue;
    const cells = metrics.map((m) => ratioText(m, herald[m], row[m]));
    lines.push(`| ${peer}${from(peer)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function readJson<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    progress(`warning: ${path.relative(process.cwd(), file)} is not valid JSON; starting afresh`);
    return undefined;
  }
}

function sizesLine(s: BenchSizes): string {
  const f = (n: number): string => n.toLocaleString('en-US');
  return (
    `enqueue_seq ${f(s.seqJobs)} jobs · enqueue_concurrent ${f(s.concurrentJobs)} jobs from ` +
    `${s.producers} producers · enqueue_bulk ${f(s.bulkJobs)} jobs in chunks of ` +
    `${f(s.bulkChunk)} · process ${f(s.processJobs)} preloaded jobs (cut off after ` +
    `${s.processTimeoutS} s) · latency ${s.latencyRate} jobs/s for ${s.latencySeconds} s after ` +
    `${s.latencyWarmupS} s warm-up, concurrency ${s.latencyConcurrency}, open-loop producer, ` +
    'once with the workers in the benchmark process and once in a separate process'
  );
}

async function main(): Promise<void> {
  const { only, write } = parseArgs(process.argv.slice(2));
  const sizes = sizesFromEnv();
  const scale = Number(process.env.HERALD_BENCH_SCALE ?? '1') || 1;
  const started = new Date();
  const machine = await machineInfo();
  progress(
    `queues: ${only.join(', ')}; ${machine.nproc} cores, Node ${machine.node}, ` +
      `PostgreSQL ${machine.postgres}, Redis ${machine.redis}`,
  );
  progress(`sizes: ${sizesLine(sizes)}`);

  const runs: QueueRun[] = [];
  for (const name of only) {
    const run: QueueRun = { name, records: {}, errors: [] };
    runs.push(run);
    for (const variant of VARIANTS) {
      let adapter: QueueAdapter;
      try {
        adapter = FACTORIES[name](variant);
      } catch (error) {
        run.errors.push(`${variant}: ${(error as Error).message}`);
        progress(`${name}/${variant}: cannot build the adapter: ${(error as Error).message}`);
        continue;
      }
      progress(`${name}/${variant}: ${adapter.settings}`);
      const began = performance.now();
      try {
        const m = await measure(adapter, {
          sizes,
          latencyXproc: (a, s) => latencyXproc(a, s, forkQueueWorker(name, variant)),
        });
        run.records[variant] = {
          settings: adapter.settings,
          metrics: pickMetrics(m),
          flags: m.flags,
          notes: m.notes,
          seconds: m.seconds,
        };
      } catch (error) {
        const message = (error as Error).stack ?? String(error);
        run.errors.push(`${variant}: ${(error as Error).message}`);
        progress(`${name}/${variant}: FAILED: ${message}`);
      } finally {
        try {
          await adapter.teardown();
        } catch (error) {
          progress(`${name}/${variant}: teardown failed: ${(error as Error).message}`);
        }
      }
      progress(`${name}/${variant}: done in ${((performance.now() - began) / 1000).toFixed(0)} s`);
    }
  }

  // queue.json: this run's rows over whatever earlier runs left for the other queues.
  const previous = readJson<Partial<Record<QueueName, QueueRow>>>(jsonPath) ?? {};
  const previousMeta = readJson<Meta>(metaPath);
  const merged: Partial<Record<QueueName, QueueRow>> = {};
  const date = started.toISOString();
  const command = `node --import tsx bench/queue.ts ${process.argv.slice(2).join(' ')}`.trim();
  const meta: Meta = { updated: date, queues: { ...(previousMeta?.queues ?? {}) } };
  const fresh = new Set<QueueName>();
  for (const run of runs) {
    const row = bestRow(run.records);
    if (!row) continue;
    merged[run.name] = row;
    fresh.add(run.name);
    meta.queues[run.name] = { date, command, scale, sizes, machine };
  }
  for (const name of QUEUES) {
    if (!merged[name] && previous[name]) merged[name] = previous[name];
  }
  const ordered: Partial<Record<QueueName, QueueRow>> = {};
  for (const name of QUEUES) if (merged[name]) ordered[name] = merged[name];

  const earlier: Partial<Record<QueueName, string>> = {};
  for (const name of QUEUES) {
    if (ordered[name] && !fresh.has(name)) earlier[name] = meta.queues[name]?.date ?? '';
  }
  const ratioBlock = ratios(ordered, earlier);

  const stamp = `${date.slice(0, 10)} ${date.slice(11, 16)} UTC`;
  const settingsLines = runs.flatMap((run) =>
    VARIANTS.map((v) => {
      const rec = run.records[v];
      const err = run.errors.find((e) => e.startsWith(`${v}:`));
      return `- ${run.name}/${v}: ${rec ? rec.settings : `not measured (${err ?? 'unknown'})`}`;
    }),
  );
  const notes = runs.flatMap((run) =>
    VARIANTS.flatMap((v) => (run.records[v]?.notes ?? []).map((n) => `- ${run.name}/${v}: ${n}`)),
  );
  const durations = runs.flatMap((run) =>
    VARIANTS.flatMap((v) => {
      const rec = run.records[v];
      if (!rec) return [];
      const total = Object.values(rec.seconds).reduce((a, b) => a + b, 0);
      return [`${run.name}/${v} ${total.toFixed(0)} s`];
    }),
  );
  const rawSection = [
    `## Queue benchmark — ${stamp}`,
    '',
    `Command: \`${command}\`${scale !== 1 ? ` with HERALD_BENCH_SCALE=${scale}` : ''}`,
    '',
    `Machine: ${machine.nproc} cores (${machine.cpu}), ${machine.memory_gib} GiB memory, ` +
      `${machine.os}, Node ${machine.node}, PostgreSQL ${machine.postgres}, Redis ${machine.redis}`,
    '',
    `Sizes: ${sizesLine(sizes)}. Every scenario starts from a fresh setup(); enqueue scenarios ` +
      'time after a short uncounted warm-up; process scenarios time from startWorkers() until ' +
      'the handler has seen every job; latency = handler start − performance.now() taken just ' +
      'before the enqueue call (nearest-rank percentiles). xproc: the workers in a forked ' +
      'process (bench/queue-worker.ts), attached right before the producer starts, nothing ' +
      'warmed; handler start − enqueue start on the wall clock both processes share; "xproc" ' +
      'after the warm-up, "cold" over every job, "warm-up" over the warm-up alone.',
    '',
    'Settings:',
    '',
    ...settingsLines,
    '',
    table(runs),
    '',
    '† cut off at the time limit: jobs handled ÷ time allowed. ≥ some jobs were never handled; ' +
      'their wait until the cut-off is counted, so the true figure is at least this.',
    '',
    'Best of the two variants per queue, as written to bench/results/queue.json ' +
      '(d = defaults, t = tuned):',
    '',
    bestTable(
      ordered,
      QUEUES.filter((q) => fresh.has(q)),
    ),
    '',
    ratioBlock,
    '',
    ...(notes.length > 0 ? ['Notes:', '', ...notes, ''] : []),
    `Wall time per variant: ${durations.join(', ')}.`,
    '',
    'Analysis: see below',
    '',
    '<!-- Analysis of this run (why Herald is ahead or behind): written by hand. -->',
    '',
  ].join('\n');
  // Formatted as `npm run format` would (aligned tables), so the file stays prettier-clean.
  const section = await format(rawSection, {
    ...((await resolveConfig(mdPath)) ?? {}),
    parser: 'markdown',
  });

  process.stdout.write(`\n${section}`);

  if (write) {
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(jsonPath, `${JSON.stringify(ordered, null, 2)}\n`);
    writeFileSync(metaPath, `${JSON.stringify(meta, null, 2)}\n`);
    if (!existsSync(mdPath)) {
      writeFileSync(
        mdPath,
        '# Benchmark results\n\nEach section is appended by a benchmark run (`npm run bench:queue` ' +
          'for the queue benchmark); the analysis under each is written by hand.\n',
      );
    }
    appendFileSync(mdPath, `\n${section}`);
    progress(
      `wrote ${path.relative(process.cwd(), jsonPath)}, ${path.relative(process.cwd(), metaPath)} ` +
        `and appended to ${path.relative(process.cwd(), mdPath)}`,
    );
  }

  if (runs.some((run) => run.errors.length > 0)) process.exitCode = 1;
}

/** Names what keeps the event loop alive, via Node's undocumented but long-standing hook. */
function describeHandles(): string[] {
  // Not in @types/node: process._getActiveHandles() returns the live handle objects.
  const hooks = process as unknown as { _getActiveHandles?: () => object[] };
  return (hooks._getActiveHandles?.() ?? []).map((handle) => {
    const h = handle as { _onTimeout?: unknown; _idleTimeout?: number; hasRef?: () => boolean };
    const kind = handle.constructor.name;
    if (typeof h._onTimeout !== 'function') return kind;
    const source = String(h._onTimeout).replace(/\s+/g, ' ').slice(0, 160);
    return `${kind} every/after ${h._idleTimeout} ms, ref=${h.hasRef?.()}: ${source}`;
  });
}

runMain(main, describeHandles);
