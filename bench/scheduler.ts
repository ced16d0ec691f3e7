/**
 * The scheduler benchmark (`npm run bench:scheduler`): per-recipient local-time schedules on
 * the real PostgreSQL, Herald next to the hand-rolled design of the seeds (a cron script that
 * scans all users every minute) in the same run.
 *
 *   node --import tsx bench/scheduler.ts [--quick] [--scales 10000,1000000] [--busy 100000]
 *     [--repeats 3] [--rounds 200] [--peer-budget-s 60] [--workers 1] [--schedulers 1]
 *     [--settings CONCURRENCY,PREFETCH,SMTP_POOL] [--batch-size 2500] [--pool 10]
 *     [--in-process COMPLETION_DELAY_MS]
 *     [--only idle,busy] [--no-peer] [--lead-s 20] [--no-write | --write]
 *
 * - Set-up: N recipients with a daily briefing at 08:00 local (preferences
 *   `schedules.daily_briefing.time`), every `N / busy`-th in one busy zone, the rest
 *   round-robin over every other IANA zone; written in bulk exactly as the API writes them
 *   (checked against recipients made through the API). The peer gets the same users.
 * - Idle tick, at each scale: `--rounds` rounds of `herald.scheduler().tick()` (cron and
 *   local-time fireDue) with nothing due, each timed; beside it the peer's scan of the whole
 *   table, at most `--rounds` rounds or `--peer-budget-s`.
 * - Busy minute, at the largest scale: the busy zone's recipients (100,000) due at one instant
 *   `--lead-s` ahead; `herald scheduler` and `herald worker` processes (the compiled CLI)
 *   enqueue and send them by SMTP to the count-only sink process; timed from the instant until
 *   every run is enqueued (the schedulers' `scheduler:fired` lines), every message is at the
 *   sink, and every delivery is recorded `sent`. Then the idle tick once more (the index now
 *   holds the busy rows' old entries). Then the peer: its script's scan at the busy zone's
 *   08:00, a job per user, the pipeline benchmark's peer worker. `--repeats` busy minutes
 *   each, Herald and the peer taking turns; the figures are the medians.
 *
 * `--in-process C` runs the workers in this process (the pipeline benchmark's, with
 * completionDelayMs C) instead of `herald worker` processes.
 *
 * `--quick`: scales 10,000 and 100,000, one busy minute of 10,000, 50 rounds, and nothing
 * written unless `--write`. Writes bench/results/scheduler.json and appends a dated section to
 * bench/RESULTS.md; the schemas are dropped at the end.
 */
import path from 'node:path';
import pg from 'pg';
import { nearestRank } from './scenarios.js';
import { argReader, DATABASE_URL, progress, withSink } from './env.js';
import {
  fmt,
  machineInfo,
  median,
  publish,
  resultsDir,
  round3,
  runInfo,
  runMain,
} from './report.js';
import { HandRolledScheduler, type PeerBusyMinute } from './peers/scheduler-handrolled.js';
import {
  CRON,
  HeraldScheduler,
  nextBriefing,
  type BusyMinute,
  type HeraldWorkerSettings,
  type Rounds,
} from './peers/scheduler-herald.js';
import { BUSY_ZONE, zonePlan } from './peers/scheduler.js';
import type { WorkerSettings } from './peers/pipeline.js';

const jsonPath = path.join(resultsDir, 'scheduler.json');

/** The issue's goals (issue 5). */
const GOAL = { idle_tick_ms: 5, busy_minute_enqueue_s: 10, busy_minute_deliver_s: 60 };
/** "Flat": the largest scale's median within this factor of the smallest's. */
const FLAT_FACTOR = 1.5;

interface Args {
  quick: boolean;
  scales: number[];
  busy: number;
  /** Busy minutes per system (Herald and the peer take turns); the figures are medians. */
  repeats: number;
  rounds: number;
  peerBudgetS: number;
  workers: number;
  schedulers: number;
  concurrency: number;
  prefetch: number;
  smtpPoolSize: number;
  /** HERALD_SCHEDULER_BATCH_SIZE (recipients per local-schedule job) and HERALD_POOL_SIZE. */
  batchSize: number;
  poolSize: number;
  /** `--in-process C`: workers in this process with completionDelayMs C. */
  inProcess: number | undefined;
  only: Set<'idle' | 'busy'>;
  peer: boolean;
  leadS: number;
  write: boolean;
}

function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const args: Args = {
    quick,
    scales: quick ? [10_000, 100_000] : [10_000, 1_000_000],
    busy: quick ? 10_000 : 100_000,
    repeats: quick ? 1 : 3,
    rounds: quick ? 50 : 200,
    peerBudgetS: quick ? 10 : 60,
    workers: 1,
    schedulers: 1,
    concurrency: 100,
    prefetch: 200,
    smtpPoolSize: 20,
    // 40 local-schedule jobs of 2,500 for the busy minute rather than 200 of 500: each job a
    // worker holds takes one of its slots while it waits for its turn to write (two at a time).
    batchSize: 2_500,
    poolSize: 10,
    inProcess: undefined,
    only: new Set(['idle', 'busy']),
    peer: true,
    leadS: 20,
    write: !quick,
  };
  const { value, count, workerSettings } = argReader(argv);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--quick') continue;
    else if (arg === '--scales')
      args.scales = value(++i, arg)
        .split(',')
        .map((x) => count(x, arg))
        .sort((a, b) => a - b);
    else if (arg === '--busy') args.busy = count(value(++i, arg), arg);
    else if (arg === '--repeats') args.repeats = count(value(++i, arg), arg);
    else if (arg === '--rounds') args.rounds = count(value(++i, arg), arg);
    else if (arg === '--peer-budget-s') args.peerBudgetS = count(value(++i, arg), arg);
    else if (arg === '--workers') args.workers = count(value(++i, arg), arg);
    else if (arg === '--schedulers') args.schedulers = count(value(++i, arg), arg);
    else if (arg === '--batch-size') args.batchSize = count(value(++i, arg), arg);
    else if (arg === '--pool') args.poolSize = count(value(++i, arg), arg);
    else if (arg === '--lead-s') args.leadS = count(value(++i, arg), arg);
    else if (arg === '--in-process') args.inProcess = Number(value(++i, arg));
    else if (arg === '--no-peer') args.peer = false;
    else if (arg === '--no-write') args.write = false;
    else if (arg === '--write') args.write = true;
    else if (arg === '--settings')
      [args.concurrency, args.prefetch, args.smtpPoolSize] = workerSettings(++i, arg);
    else if (arg === '--only') {
      const names = value(++i, arg).split(',');
      for (const name of names)
        if (name !== 'idle' && name !== 'busy')
          throw new Error(`unknown scenario '${name}' (known: idle, busy)`);
      args.only = new Set(names as ('idle' | 'busy')[]);
    } else throw new Error(`unknown argument '${arg}'`);
  }
  return args;
}

// ---------------------------------------------------------------------------------------------
// Figures

interface RoundStats {
  rounds: number;
  /** Rounds left out because something was due (a zone's real 08:00). */
  fired_rounds: number;
  p50_ms: number;
  p95_ms: number;
  mean_ms: number;
  min_ms: number;
  max_ms: number;
}

function stats(r: Rounds): RoundStats {
  const sorted = [...r.times_ms].sort((a, b) => a - b);
  const r3 = (x: number) => round3(x);
  return {
    rounds: sorted.length,
    fired_rounds: r.fired_rounds,
    p50_ms: r3(median(sorted)),
    p95_ms: r3(nearestRank(sorted, 95)),
    mean_ms: r3(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
    min_ms: r3(sorted[0] ?? NaN),
    max_ms: r3(sorted.at(-1) ?? NaN),
  };
}

/** `10k`, `1m`: the keys of the figures by scale. */
const label = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}m` : `${n / 1_000}k`);

interface ScaleFigures {
  recipients: number;
  setup_s: { herald: number; peer: number | null };
  herald?: RoundStats;
  herald_claim_plan?: { plan: string; execution_ms: number; buffers: number };
  peer?: RoundStats;
  peer_scan_plan?: { plan: string; execution_ms: number; buffers: number };
}

async function pgSettings(): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const out: Record<string, string> = {};
    for (const name of [
      'shared_buffers',
      'work_mem',
      'jit',
      'max_parallel_workers_per_gather',
      'synchronous_commit',
      'autovacuum',
    ]) {
      const { rows } = await client.query<Record<string, string>>(`SHOW ${name}`);
      out[name] = rows[0]?.[name] ?? 'unknown';
    }
    return out;
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

/** A median where an incomplete run (null) counts as slower than any; null if the median is one. */
function medianOrNull(values: (number | null)[]): number | null {
  const m = median(values.map((v) => v ?? Infinity));
  return Number.isFinite(m) ? round3(m) : null;
}

/** The busy minute's figures over the repeats: medians, each figure on its own. */
function medians(runs: (BusyMinute | PeerBusyMinute)[]) {
  return {
    repeats: runs.length,
    enqueue_s: medianOrNull(runs.map((r) => r.enqueue_s)),
    deliver_s: medianOrNull(runs.map((r) => r.deliver_s)),
    recorded_s: medianOrNull(runs.map((r) => r.recorded_s)),
    scan_s: medianOrNull(runs.map((r) => ('scan_s' in r ? r.scan_s : null))),
    complete: runs.every((r) => r.complete),
    runs_s: runs.map((r) => ({
      enqueue: r.enqueue_s,
      deliver: r.deliver_s,
      recorded: r.recorded_s,
    })),
  };
}

/** a ÷ b to three significant digits (the idle ratios run to thousandths). */
const ratio3 = (a: number | null | undefined, b: number | null | undefined) =>
  a == null || b == null || !b ? null : Number((a / b).toPrecision(3));
const sig = (x: number | null) => (x === null ? 'n/a' : String(x));

const ms = (r: RoundStats | undefined) => (r ? `${fmt(r.p50_ms, 2)} / ${fmt(r.p95_ms, 2)}` : 'n/a');
const met = (ok: boolean | null) => (ok === null ? 'n/a' : ok ? 'met' : '**not met**');

function cpuLine(cpu: { processes: Record<string, number>; postgres: number; wall_s: number }) {
  const parts = Object.entries(cpu.processes).map(([k, v]) => `${k} ${fmt(v, 1)}`);
  return `${parts.join(', ')}, PostgreSQL ${fmt(cpu.postgres, 1)} CPU s over ${fmt(cpu.wall_s, 1)} s`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = new Date();
  const machine = await machineInfo();
  const run = runInfo('bench:scheduler', started);
  const pgConf = await pgSettings();
  const largest = args.scales.at(-1) as number;
  const plan = zonePlan(largest, args.busy);
  progress(
    `scheduler: ${machine.nproc} cores, Node ${machine.node}, PostgreSQL ${machine.postgres}; ` +
      `scales ${args.scales.join(', ')}, busy minute ${args.busy} in ${BUSY_ZONE}, ` +
      `${plan.zones.length} zones, ${args.rounds} rounds${args.peer ? '' : ', no peer'}`,
  );

  const herald = new HeraldScheduler();
  const peer = args.peer ? new HandRolledScheduler() : null;
  const scales: ScaleFigures[] = [];
  let apiChecked: string[] = [];
  const busyRuns: BusyMinute[] = [];
  let afterBusy: RoundStats | undefined;
  const peerRuns: PeerBusyMinute[] = [];
  const heraldSettings: HeraldWorkerSettings = {
    workers: args.workers,
    schedulers: args.schedulers,
    concurrency: args.concurrency,
    prefetch: args.prefetch,
    smtpPoolSize: args.smtpPoolSize,
    batchSize: args.batchSize,
    poolSize: args.poolSize,
    ...(args.inProcess === undefined ? {} : { inProcessCompletionDelayMs: args.inProcess }),
  };
  const peerSettings: WorkerSettings = {
    concurrency: args.concurrency,
    prefetch: args.prefetch,
    completionDelayMs: 0,
    smtpPoolSize: args.smtpPoolSize,
  };
  try {
    await herald.setup();
    await peer?.setup();
    let have = 0;
    for (const n of args.scales) {
      progress(`set-up: ${n.toLocaleString('en-US')} recipients`);
      let began = performance.now();
      await herald.addRecipients(plan, have, n, Date.now());
      if (have === 0)
        apiChecked = await herald.checkRowsAsApi([
          plan.zones[0] as string,
          'America/New_York',
          'Australia/Lord_Howe',
          plan.zones.at(-1) as string,
        ]);
      await herald.vacuum();
      const heraldSetup = (performance.now() - began) / 1000;
      began = performance.now();
      await peer?.addUsers(plan, have, n);
      const peerSetup = peer ? (performance.now() - began) / 1000 : null;
      have = n;
      if ((await herald.count()) !== n) throw new Error(`expected ${n} schedule rows`);
      const figures: ScaleFigures = {
        recipients: n,
        setup_s: {
          herald: round3(heraldSetup),
          peer: peerSetup === null ? null : round3(peerSetup),
        },
      };
      scales.push(figures);
      if (!args.only.has('idle')) continue;
      figures.herald = stats(await herald.idleRounds(args.rounds));
      figures.herald_claim_plan = await herald.explainClaim();
      progress(
        `  herald idle tick at ${label(n)}: p50 ${figures.herald.p50_ms} ms, p95 ${figures.herald.p95_ms} ms ` +
          `(${figures.herald.rounds} rounds; claim: ${figures.herald_claim_plan.plan}, ${figures.herald_claim_plan.execution_ms} ms)`,
      );
      if (peer) {
        figures.peer = stats(await peer.idleRounds(args.rounds, args.peerBudgetS * 1000));
        figures.peer_scan_plan = await peer.explainScan();
        progress(
          `  hand-rolled scan at ${label(n)}: p50 ${figures.peer.p50_ms} ms, p95 ${figures.peer.p95_ms} ms ` +
            `(${figures.peer.rounds} rounds; ${figures.peer_scan_plan.plan})`,
        );
      }
    }

    for (let r = 0; args.only.has('busy') && r < args.repeats; r++) {
      progress(
        `busy minute ${r + 1}/${args.repeats}: ${args.busy.toLocaleString('en-US')} recipients in ${BUSY_ZONE}`,
      );
      const busy = await withSink((sink) =>
        herald.busyMinute({
          zone: BUSY_ZONE,
          otherZones: plan.zones.slice(1),
          n: args.busy,
          sink,
          settings: heraldSettings,
          leadMs: args.leadS * 1000,
          quietS: 2 * GOAL.busy_minute_deliver_s,
          limitS: 600,
        }),
      );
      busyRuns.push(busy);
      progress(
        `  herald: enqueued in ${busy.enqueue_s} s, at the sink in ${busy.deliver_s} s, recorded in ${busy.recorded_s} s`,
      );
      if (args.only.has('idle') && r === 0) {
        afterBusy = stats(await herald.idleRounds(args.rounds));
        progress(
          `  herald idle tick after it: p50 ${afterBusy.p50_ms} ms, p95 ${afterBusy.p95_ms} ms`,
        );
      }
      if (peer) {
        const dueAt = nextBriefing(BUSY_ZONE, Date.now() + 60_000);
        const clash = plan.zones.slice(1).filter((z) => nextBriefing(z, dueAt - 1) === dueAt);
        if (clash.length > 0) progress(`  warning: ${clash.join(', ')} also at 08:00 then`);
        const peerBusy = await withSink((sink) =>
          peer.busyMinute({
            n: args.busy,
            dueAt,
            sink,
            settings: peerSettings,
            leadMs: 2_000,
            limitS: 600,
          }),
        );
        peerRuns.push(peerBusy);
        progress(
          `  hand-rolled: enqueued in ${peerBusy.enqueue_s} s (scan ${peerBusy.scan_s} s), at the sink in ${peerBusy.deliver_s} s`,
        );
      }
    }
  } finally {
    await herald.teardown();
    await peer?.teardown();
  }

  // ---- the figures, by the issue's names
  const busy = busyRuns.length > 0 ? medians(busyRuns) : undefined;
  const peerBusy = peerRuns.length > 0 ? medians(peerRuns) : undefined;
  const small = scales.find((f) => f.recipients === args.scales[0]);
  const big = scales.find((f) => f.recipients === largest);
  const idleSmall = small?.herald?.p50_ms ?? null;
  const idleBig = big?.herald?.p50_ms ?? null;
  const flatRatio = ratio3(idleBig, idleSmall);
  const peerSmall = small?.peer?.p50_ms ?? null;
  const peerBig = big?.peer?.p50_ms ?? null;
  const goal = {
    ...GOAL,
    flat_factor: FLAT_FACTOR,
    idle_met:
      idleSmall === null || idleBig === null
        ? null
        : idleSmall < GOAL.idle_tick_ms && idleBig < GOAL.idle_tick_ms,
    flat_met: flatRatio === null ? null : flatRatio <= FLAT_FACTOR,
    enqueue_met: busy?.enqueue_s == null ? null : busy.enqueue_s < GOAL.busy_minute_enqueue_s,
    deliver_met: busy?.deliver_s == null ? null : busy.deliver_s < GOAL.busy_minute_deliver_s,
  };
  const [smallKey, bigKey] = [label(args.scales[0] as number), label(largest)];
  const result = {
    [`idle_tick_ms_${smallKey}`]: idleSmall,
    [`idle_tick_ms_${bigKey}`]: idleBig,
    busy_minute_enqueue_s: busy?.enqueue_s ?? null,
    busy_minute_deliver_s: busy?.deliver_s ?? null,
    busy_minute_recorded_s: busy?.recorded_s ?? null,
    idle_tick_ms_after_busy_minute: afterBusy?.p50_ms ?? null,
    goal,
    how:
      'idle_tick_ms_*: median over the rounds of herald.scheduler().tick() (cron + local ' +
      'fireDue) with nothing due; busy_minute_*: seconds from the instant the busy zone was due ' +
      'until the herald scheduler processes had enqueued every run (their scheduler:fired log ' +
      'lines), until the SMTP sink had counted every message (deliver), and until every ' +
      "delivery was recorded 'sent' (recorded, polled every 500 ms)",
    peer: {
      name:
        'hand-rolled: a cron script scanning all users each minute (now() AT TIME ZONE timezone), ' +
        'a graphile-worker job per user due, the pipeline peer worker (nodemailer + Handlebars)',
      [`idle_scan_ms_${smallKey}`]: peerSmall,
      [`idle_scan_ms_${bigKey}`]: peerBig,
      busy_minute_enqueue_s: peerBusy?.enqueue_s ?? null,
      busy_minute_deliver_s: peerBusy?.deliver_s ?? null,
      busy_minute_recorded_s: peerBusy?.recorded_s ?? null,
    },
    ratios_herald_to_peer: {
      [`idle_${smallKey}`]: ratio3(idleSmall, peerSmall),
      [`idle_${bigKey}`]: ratio3(idleBig, peerBig),
      busy_minute_enqueue: ratio3(busy?.enqueue_s, peerBusy?.enqueue_s),
      busy_minute_deliver: ratio3(busy?.deliver_s, peerBusy?.deliver_s),
    },
    idle: scales,
    idle_after_busy_minute: afterBusy ?? null,
    busy_minute: {
      herald: busy ?? null,
      peer: peerBusy ?? null,
      herald_runs: busyRuns,
      peer_runs: peerRuns,
    },
    setup: {
      zones: plan.zones.length,
      busy_zone: BUSY_ZONE,
      busy_every: plan.every,
      cron: CRON,
      rows_as_api: {
        checked_zones: apiChecked,
        how:
          'bulk INSERT ... SELECT from generate_series of recipients (id, email, timezone), ' +
          'preferences (the document preferencesSchema fills in) and recipient_schedules ' +
          '(preferenceCron(), nextTick() per zone); compared with recipients made through ' +
          'herald.recipients.upsert + herald.preferences.put in these zones',
      },
    },
    settings: {
      herald: {
        ...heraldSettings,
        note: '`herald worker` and `herald scheduler` processes of the compiled CLI, configured by HERALD_* (completionDelayMs is not a CLI setting: 0)',
      },
      peer: {
        ...peerSettings,
        note: 'worker in the benchmark process (graphile-worker local queue = prefetch, pool min(concurrency + 2, 30)); its script in the same process, addJobs of 5,000',
      },
      rounds: args.rounds,
      peer_budget_s: args.peerBudgetS,
      lead_s: args.leadS,
      postgres: pgConf,
    },
    machine,
    date: run.date,
    command: run.command,
  };

  // ---- the section
  const n = (x: number) => x.toLocaleString('en-US');
  const runsOf = (m: ReturnType<typeof medians> | undefined) =>
    m?.runs_s.map((r) => fmt(r.deliver, 1)).join(' / ') ?? 'n/a';
  const rows = [
    '| figure | Herald | hand-rolled peer | Herald ÷ peer | goal |',
    '|---|---:|---:|---:|---|',
    ...scales.map(
      (f) =>
        `| idle tick at ${n(f.recipients)} recipients, ms (median / p95) | ${ms(f.herald)} | ${ms(f.peer)} (scan) | ` +
        `${sig(ratio3(f.herald?.p50_ms, f.peer?.p50_ms))} | < ${GOAL.idle_tick_ms}: ${met(f.herald ? f.herald.p50_ms < GOAL.idle_tick_ms : null)} |`,
    ),
    `| idle tick, ${bigKey} ÷ ${smallKey} (medians) | ${sig(flatRatio)} | ${sig(ratio3(peerBig, peerSmall))} | | flat (≤ ${FLAT_FACTOR}): ${met(goal.flat_met)} |`,
    `| busy minute: ${n(args.busy)} runs enqueued, s (median of ${args.repeats}) | ${fmt(busy?.enqueue_s, 2)} | ${fmt(peerBusy?.enqueue_s, 2)} (scan ${fmt(peerBusy?.scan_s, 2)}) | ${sig(result.ratios_herald_to_peer.busy_minute_enqueue ?? null)} | < ${GOAL.busy_minute_enqueue_s} s: ${met(goal.enqueue_met)} |`,
    `| busy minute: ${n(args.busy)} emails at the sink, s (median of ${args.repeats}; each run) | ${fmt(busy?.deliver_s, 2)} (${runsOf(busy)}) | ${fmt(peerBusy?.deliver_s, 2)} (${runsOf(peerBusy)}) | ${sig(result.ratios_herald_to_peer.busy_minute_deliver ?? null)} | < ${GOAL.busy_minute_deliver_s} s: ${met(goal.deliver_met)} |`,
    `| busy minute: all recorded (Herald: deliveries sent; peer: jobs completed), s | ${fmt(busy?.recorded_s, 1)} | ${fmt(peerBusy?.recorded_s, 1)} | | |`,
    `| idle tick right after the busy minute, ms (median / p95) | ${ms(afterBusy)} | | | |`,
  ];
  const plans = scales
    .map(
      (f) =>
        `${n(f.recipients)}: Herald's claim ${f.herald_claim_plan?.plan ?? 'n/a'} ` +
        `(${fmt(f.herald_claim_plan?.execution_ms, 3)} ms, ${fmt(f.herald_claim_plan?.buffers)} buffers); ` +
        `the peer's scan ${f.peer_scan_plan?.plan ?? 'n/a'} (${fmt(f.peer_scan_plan?.execution_ms, 1)} ms, ${fmt(f.peer_scan_plan?.buffers)} buffers)`,
    )
    .join('; ');
  const rounds = scales
    .map(
      (f) =>
        `${n(f.recipients)}: Herald ${f.herald?.rounds ?? 0} rounds (min ${fmt(f.herald?.min_ms, 2)}, mean ${fmt(f.herald?.mean_ms, 2)}, max ${fmt(f.herald?.max_ms, 2)} ms; ${f.herald?.fired_rounds ?? 0} left out as not idle), ` +
        `peer ${f.peer?.rounds ?? 0} rounds (min ${fmt(f.peer?.min_ms, 1)}, max ${fmt(f.peer?.max_ms, 1)} ms); set-up ${fmt(f.setup_s.herald, 1)} s Herald, ${fmt(f.setup_s.peer, 1)} s peer`,
    )
    .join('; ');
  const busyLines = busyRuns.flatMap((b, i) => [
    `Busy minute ${i + 1}, Herald: enqueued ${fmt(b.enqueue_s, 2)} s, at the sink ${fmt(b.deliver_s, 2)} s, recorded ${fmt(b.recorded_s, 2)} s; ` +
      `${b.schedulers.map((x, k) => `scheduler ${k + 1} enqueued ${n(x.runs)} runs in ${x.rounds} logged rounds`).join(', ')}; ` +
      `every 5 s (s: enqueued / at the sink): ${b.timeline.map((t) => `${t.t_s}: ${n(t.enqueued)} / ${n(t.delivered)}`).join(', ')}; ` +
      `CPU: ${cpuLine(b.cpu)}${b.stray_jobs_removed ? `; ${b.stray_jobs_removed} jobs of other zones' real 08:00 removed before` : ''}` +
      `${b.waited_for_other_zones_s ? `; waited ${b.waited_for_other_zones_s} s for other zones' 08:00 to pass first` : ''}.`,
    '',
  ]);
  const peerLines = peerRuns.flatMap((b, i) => [
    `Busy minute ${i + 1}, peer: enqueued ${fmt(b.enqueue_s, 2)} s (scan ${fmt(b.scan_s, 2)} s), at the sink ${fmt(b.deliver_s, 2)} s, jobs completed ${fmt(b.recorded_s, 2)} s; CPU: ${cpuLine(b.cpu)}.`,
    '',
  ]);
  const raw = [
    `## Scheduler benchmark — ${run.stamp}`,
    '',
    `Command: \`${result.command}\``,
    '',
    `Machine: ${machine.nproc} cores (${machine.cpu}), ${machine.memory_gib} GiB memory, ${machine.os}, Node ${machine.node}, PostgreSQL ${machine.postgres} (${Object.entries(
      pgConf,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}); shared with other engineers' test runs, so every figure is noisy`,
    '',
    `Set-up: ${args.scales.map(n).join(' then ')} recipients, each with a daily briefing at 08:00 local (\`schedules.daily_briefing.time\`, cron \`${CRON}\`); every ${plan.every}th in ${BUSY_ZONE} (+05:45, an offset no other zone has), the others round-robin over the other ${plan.zones.length - 1} IANA zones of \`Intl.supportedValuesOf('timeZone')\`. ` +
      `Rows written in bulk (INSERT ... SELECT from generate_series in chunks of 100,000: recipients, preferences with the document \`preferencesSchema\` fills in, recipient_schedules with \`preferenceCron()\`'s text and \`nextTick()\`'s next run per zone), the same rows the API writes: compared with recipients made through \`herald.recipients.upsert\` + \`herald.preferences.put\` in ${apiChecked.join(', ') || 'no zone (not run)'}. VACUUM ANALYZE after each step. The peer's users table (id, email, timezone, briefing_time) holds the same users.`,
    '',
    `Idle tick: ${args.rounds} timed rounds of \`herald.scheduler().tick()\` (cron fireDue, then local-time fireDue; 20 warm-up rounds first) with nothing due; peer: the cron script's query \`SELECT id FROM users WHERE briefing_time = date_trunc('minute', $1 AT TIME ZONE timezone)::time\` at the real time, up to ${args.rounds} rounds or ${args.peerBudgetS} s. ` +
      `Busy minute: the ${n(args.busy)} ${BUSY_ZONE} rows' next_run_at set to an instant ${args.leadS} s ahead; ${heraldSettings.schedulers} \`herald scheduler\` and ${heraldSettings.workers} \`herald worker\` process(es) of the compiled CLI (HERALD_CONCURRENCY ${heraldSettings.concurrency}, HERALD_PREFETCH ${heraldSettings.prefetch}, HERALD_SMTP_POOL_SIZE ${heraldSettings.smtpPoolSize}, HERALD_POOL_SIZE ${heraldSettings.poolSize}, HERALD_SCHEDULER_BATCH_SIZE ${heraldSettings.batchSize}, no content function: every recipient gets the briefing) send through SMTP to the count-only sink process; ${args.repeats} busy minute(s) each, Herald and the peer taking turns, medians reported. ` +
      `Peer: its script runs 2 s after its worker starts and asks who is due at ${BUSY_ZONE}'s next 08:00 (its clock set to that minute), addJobs of 5,000 per call; the pipeline benchmark's peer worker in the benchmark process (graphile-worker concurrency ${peerSettings.concurrency}, local queue ${peerSettings.prefetch}, nodemailer pool ${peerSettings.smtpPoolSize}) renders the same template.`,
    '',
    rows.join('\n'),
    '',
    `Rounds: ${rounds}.`,
    '',
    `Plans (EXPLAIN ANALYZE after the rounds): ${plans}.`,
    '',
    ...busyLines,
    ...peerLines,
    'Analysis: see below',
    '',
    '<!-- Analysis of this run (where the time goes, goals missed and why): written by hand. -->',
    '',
  ].join('\n');
  await publish({ markdown: raw, json: result, jsonPath, write: args.write });
  if (busy && !busy.complete) process.exitCode = 1;
  if (peerBusy && !peerBusy.complete) process.exitCode = 1;
}

runMain(main);
