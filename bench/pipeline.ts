/**
 * The pipeline benchmark (`npm run bench:pipeline`): notifications per second from trigger to
 * `sent`, through SMTP into a local SMTP sink (a real smtp-server in a child process) and into
 * the inbox, on the real PostgreSQL; Herald next to a hand-rolled peer (graphile-worker jobs
 * that send with nodemailer and insert inbox rows) in the same run.
 *
 *   node --import tsx bench/pipeline.ts [--n 20000] [--accept-n 10000] [--batch 1000]
 *     [--repeats 3] [--only accept,email,inapp] [--no-peer] [--quick] [--no-write]
 *     [--settings CONCURRENCY,PREFETCH,SMTP_POOL] [--cpu-prof DIR]
 *
 * - accept: one trigger of `--accept-n` recipients on email + inapp, timed through
 *   `herald.send()` and through `POST /v1/notifications` (in-process `app.request`, API key,
 *   the whole 202 answer read); `--repeats` times each on a fresh schema, median reported.
 * - email / inapp: `--n` notifications triggered up front in triggers of `--batch` recipients,
 *   then the workers start; timed from their start until every delivery is sent and recorded
 *   (polled every 100 ms; for email the sink's count must agree). Each worker setting runs with
 *   the worker in this process and with two forked worker processes (bench/pipeline-worker.ts).
 *
 * Writes bench/results/pipeline.json and appends a dated section to bench/RESULTS.md.
 * `--quick` tries only the first worker setting of each grid, `--settings` only the one given;
 * `--cpu-prof DIR` starts forked workers with `--cpu-prof` into DIR.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { startCpuWindow, type CpuWindow } from './cpu.js';
import { argReader, progress, sleep, withSink } from './env.js';
import { HandRolledPipeline, prepareHandRolledWorker } from './peers/pipeline-handrolled.js';
import { HeraldPipeline, prepareHeraldWorker } from './peers/pipeline-herald.js';
import {
  recipientIds,
  type BenchChannel,
  type PipelineSystem,
  type PreparedWorker,
  type SystemName,
  type WorkerSettings,
  type WorkerSpec,
} from './peers/pipeline.js';
import {
  benchDir,
  fmt,
  machineInfo,
  median,
  publish,
  ratio,
  resultsDir,
  round3,
  runInfo,
  runMain,
} from './report.js';

const jsonPath = path.join(resultsDir, 'pipeline.json');
const workerEntry = path.join(benchDir, 'pipeline-worker.ts');

/** The issue's goal on the 2-core development machine. */
const GOAL = { emails_per_s: 2_000, accept_10k_recipients_s: 2 };
const POLL_MS = 100;
const COMPLETION_DELAY_MS = 5;

interface Args {
  n: number;
  acceptN: number;
  batch: number;
  repeats: number;
  only: Set<'accept' | 'email' | 'inapp'>;
  peer: boolean;
  quick: boolean;
  write: boolean;
  cpuProf: string | undefined;
  /** `--settings concurrency,prefetch,smtpPoolSize`: this one setting instead of the grid. */
  settings: WorkerSettings | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    n: 20_000,
    acceptN: 10_000,
    batch: 1_000,
    repeats: 3,
    only: new Set(['accept', 'email', 'inapp']),
    peer: true,
    quick: false,
    write: true,
    cpuProf: undefined,
    settings: undefined,
  };
  const { value, count, workerSettings } = argReader(argv);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--n') args.n = count(value(++i, arg), arg);
    else if (arg === '--accept-n') args.acceptN = count(value(++i, arg), arg);
    else if (arg === '--batch') args.batch = count(value(++i, arg), arg);
    else if (arg === '--repeats') args.repeats = count(value(++i, arg), arg);
    else if (arg === '--no-peer') args.peer = false;
    else if (arg === '--quick') args.quick = true;
    else if (arg === '--no-write') args.write = false;
    else if (arg === '--cpu-prof') args.cpuProf = path.resolve(value(++i, arg));
    else if (arg === '--settings') args.settings = settings(...workerSettings(++i, arg));
    else if (arg === '--only') {
      const names = value(++i, arg).split(',');
      for (const name of names) {
        if (name !== 'accept' && name !== 'email' && name !== 'inapp') {
          throw new Error(`unknown scenario '${name}' (known: accept, email, inapp)`);
        }
      }
      args.only = new Set(names as ('accept' | 'email' | 'inapp')[]);
    } else throw new Error(`unknown argument '${arg}'`);
  }
  return args;
}

const settings = (concurrency: number, prefetch: number, smtpPoolSize: number): WorkerSettings => ({
  concurrency,
  prefetch,
  completionDelayMs: COMPLETION_DELAY_MS,
  smtpPoolSize,
});

/**
 * The settings tried per scenario, the same for Herald and the peer so that neither gets more
 * tries at a lucky minute (the first of each list is the `--quick` one).
 */
function grid(channel: BenchChannel, quick: boolean): WorkerSettings[] {
  const list =
    channel === 'email'
      ? [
          settings(100, 500, 10),
          settings(50, 200, 5),
          settings(50, 500, 10),
          settings(100, 200, 10),
          settings(100, 500, 5),
          settings(100, 500, 20),
        ]
      : [settings(100, 500, 10), settings(50, 200, 10), settings(100, 200, 10)];
  return quick ? list.slice(0, 1) : list;
}

const describe = (s: WorkerSettings) =>
  `concurrency ${s.concurrency}, prefetch ${s.prefetch}, completionDelayMs ${s.completionDelayMs}, smtpPoolSize ${s.smtpPoolSize}`;

// ---------------------------------------------------------------------------------------------
// Workers: in this process, or forked

function prepareLocal(spec: WorkerSpec): Promise<PreparedWorker> {
  return spec.system === 'herald' ? prepareHeraldWorker(spec) : prepareHandRolledWorker(spec);
}

interface Forked extends PreparedWorker {
  pid: number;
}

/** A forked worker process (bench/pipeline-worker.ts), resolved once it is `ready`. */
function prepareForked(spec: WorkerSpec, cpuProf: string | undefined): Promise<Forked> {
  const child: ChildProcess = fork(workerEntry, [JSON.stringify(spec)], {
    execArgv: ['--import', 'tsx', ...(cpuProf ? ['--cpu-prof', '--cpu-prof-dir', cpuProf] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiters = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  let failure: Error | undefined;
  const failAll = (error: Error) => {
    failure ??= error;
    for (const w of waiters.values()) w.reject(error);
    waiters.clear();
  };
  child.on('message', (m: { type: string; message?: string }) => {
    if (m.type === 'error') failAll(new Error(`worker process ${child.pid}: ${m.message}`));
    else {
      waiters.get(m.type)?.resolve();
      waiters.delete(m.type);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code) => failAll(new Error(`worker process exited (code ${code})`)));
  const reply = (type: string) =>
    new Promise<void>((resolve, reject) => {
      if (failure) reject(failure);
      else waiters.set(type, { resolve, reject });
    });
  const forked: Forked = {
    pid: child.pid ?? 0,
    async start() {
      const started = reply('started');
      child.send({ type: 'start' });
      await started;
    },
    async stop() {
      if (child.connected) {
        child.send({ type: 'stop' });
        const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(killer);
      }
    },
  };
  return reply('ready').then(() => forked);
}

// ---------------------------------------------------------------------------------------------
// Scenarios

interface AcceptFigures {
  /** Seconds per repeat, and their median. */
  runs_s: number[];
  median_s: number;
}

interface DrainRun {
  /** grid: trying settings; confirm: repeats of each system's best grid setting. */
  phase: 'grid' | 'confirm';
  system: SystemName;
  channel: BenchChannel;
  processes: 1 | 2;
  settings: WorkerSettings;
  n: number;
  /** All triggers, one after the other, before the workers start. */
  trigger_s: number;
  /** Worker start to the last delivery sent and recorded. */
  drain_s: number;
  per_s: number;
  /** n ÷ (trigger_s + drain_s). */
  e2e_per_s: number;
  /** False when the run hit its time limit or deliveries failed (per_s counts what got done). */
  complete: boolean;
  done: number;
  failed: number;
  cpu: CpuWindow;
  /** From `cpu`: milliseconds per notification done (the sink's is 0 for inapp). */
  cpu_ms_per_notification?: { worker: number; sink: number; postgres: number };
}

async function measureAccept(
  system: HeraldPipeline | HandRolledPipeline,
  via: 'send' | 'http' | 'addJobs',
  recipients: number,
): Promise<number> {
  await system.setup(recipients + 1, null);
  const ids = recipientIds(recipients + 1);
  const warm = ids.slice(recipients);
  const timed = ids.slice(0, recipients);
  const channels: BenchChannel[] = ['email', 'inapp'];
  const trigger = (to: string[]) =>
    via === 'http' && system instanceof HeraldPipeline
      ? system.triggerHttp(to, channels)
      : system.trigger(to, channels);
  try {
    // A warm process: the first trigger compiles and connects; a running server has done so.
    await trigger(warm);
    const began = performance.now();
    await trigger(timed);
    return (performance.now() - began) / 1000;
  } finally {
    await system.teardown();
  }
}

async function acceptScenario(args: Args): Promise<Record<string, AcceptFigures>> {
  const herald = new HeraldPipeline();
  const peer = new HandRolledPipeline();
  const plans: { key: string; run: () => Promise<number> }[] = [
    { key: 'herald_send', run: () => measureAccept(herald, 'send', args.acceptN) },
    { key: 'herald_http', run: () => measureAccept(herald, 'http', args.acceptN) },
  ];
  if (args.peer) {
    plans.push({ key: 'peer_addJobs', run: () => measureAccept(peer, 'addJobs', args.acceptN) });
  }
  const runs: Record<string, number[]> = {};
  // Interleaved, so that a noisy minute of the machine does not land on one of them only.
  for (let r = 0; r < args.repeats; r++) {
    for (const plan of plans) {
      const seconds = await plan.run();
      (runs[plan.key] ??= []).push(seconds);
      progress(
        `accept ${plan.key} #${r + 1}: ${seconds.toFixed(3)} s for ${args.acceptN} recipients`,
      );
    }
  }
  return Object.fromEntries(
    Object.entries(runs).map(([key, list]) => [
      key,
      { runs_s: list.map(round3), median_s: round3(median(list)) },
    ]),
  );
}

async function drainRun(
  system: PipelineSystem,
  channel: BenchChannel,
  processes: 1 | 2,
  workerSettings: WorkerSettings,
  args: Args,
  phase: DrainRun['phase'],
): Promise<DrainRun> {
  const { n } = args;
  return withSink(async (sink) => {
    await system.setup(n, sink);
    const label = `${system.name} ${channel} ${processes}p ${phase} [${describe(workerSettings)}]`;
    const workers: PreparedWorker[] = [];
    try {
      const ids = recipientIds(n);
      const triggerBegan = performance.now();
      for (let i = 0; i < n; i += args.batch)
        await system.trigger(ids.slice(i, i + args.batch), [channel]);
      const triggerS = (performance.now() - triggerBegan) / 1000;

      const spec: WorkerSpec = {
        system: system.name,
        schema: system.schema,
        sinkUrl: sink.url,
        settings: workerSettings,
      };
      const pids: Record<string, number> = { sink: sink.pid };
      if (processes === 1) {
        workers.push(await prepareLocal(spec));
        pids.worker = process.pid;
      } else {
        const settled = await Promise.allSettled([
          prepareForked(spec, args.cpuProf),
          prepareForked(spec, args.cpuProf),
        ]);
        // The ones that came up are stopped in `finally` even if the other did not.
        for (const [i, s] of settled.entries()) {
          if (s.status === 'fulfilled') {
            workers.push(s.value);
            pids[`worker${i + 1}`] = s.value.pid;
          }
        }
        const failed = settled.find((s) => s.status === 'rejected');
        if (failed) throw failed.reason;
      }

      const endCpu = startCpuWindow(pids);
      const began = performance.now();
      await Promise.all(workers.map((w) => w.start()));
      const limitS = Math.max(60, n / 100);
      let state = { done: 0, failed: 0 };
      let lastReport = began;
      for (;;) {
        state = await system.progress(channel);
        const sinkOk = channel !== 'email' || sink.count() >= n;
        if ((state.done >= n && sinkOk) || state.done + state.failed >= n) break;
        const now = performance.now();
        if (now - began > limitS * 1000) break;
        if (now - lastReport > 5_000) {
          lastReport = now;
          progress(`  ${label}: ${state.done}/${n} after ${((now - began) / 1000).toFixed(1)} s`);
        }
        await sleep(POLL_MS);
      }
      const drainS = (performance.now() - began) / 1000;
      const cpu = endCpu();
      const result: DrainRun = {
        phase,
        system: system.name,
        channel,
        processes,
        settings: workerSettings,
        n,
        trigger_s: round3(triggerS),
        drain_s: round3(drainS),
        per_s: Math.round(state.done / drainS),
        e2e_per_s: Math.round(state.done / (triggerS + drainS)),
        complete: state.done >= n,
        done: state.done,
        failed: state.failed,
        cpu,
      };
      result.cpu_ms_per_notification = cpuPerNotification(result);
      progress(
        `${label}: ${result.per_s}/s (${n} in ${drainS.toFixed(2)} s; trigger ${triggerS.toFixed(2)} s, ` +
          `end to end ${result.e2e_per_s}/s)${result.complete ? '' : ` INCOMPLETE: ${state.done} sent, ${state.failed} failed`}; ` +
          `CPU s: ${cpuText(cpu)}`,
      );
      return result;
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await system.teardown();
    }
  });
}

function cpuText(cpu: CpuWindow): string {
  const parts = Object.entries(cpu.processes).map(([k, v]) => `${k} ${v.toFixed(2)}`);
  parts.push(`postgres ${cpu.postgres.toFixed(2)}`);
  parts.push(`machine ${cpu.machine_busy.toFixed(2)} of ${cpu.machine_capacity.toFixed(2)}`);
  return parts.join(', ');
}

async function drainScenario(channel: BenchChannel, args: Args): Promise<DrainRun[]> {
  const systems: PipelineSystem[] = [new HeraldPipeline()];
  if (args.peer) systems.push(new HandRolledPipeline());
  const runs: DrainRun[] = [];
  const attempt = async (
    system: PipelineSystem,
    processes: 1 | 2,
    s: WorkerSettings,
    phase: DrainRun['phase'],
  ) => {
    try {
      runs.push(await drainRun(system, channel, processes, s, args, phase));
    } catch (error) {
      progress(`${system.name} ${channel} ${processes}p: FAILED: ${(error as Error).stack}`);
    }
  };
  // Herald and the peer take turns, setting by setting, so that the machine's other load (it is
  // shared) drifts over both alike.
  for (const s of args.settings ? [args.settings] : grid(channel, args.quick)) {
    for (const processes of [1, 2] as const) {
      for (const system of systems) await attempt(system, processes, s, 'grid');
    }
  }
  // The best grid run of each is a maximum over noisy runs: its setting is run `--repeats`
  // times more, taking turns again, and the headline is the median of those.
  const chosen = systems.map((system) => ({ system, run: fastest(runs, system.name, channel) }));
  for (let r = 0; r < args.repeats; r++) {
    for (const { system, run } of chosen) {
      if (run) await attempt(system, run.processes, run.settings, 'confirm');
    }
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------
// Report

/** The fastest complete grid run of a system on a channel. */
function fastest(
  runs: DrainRun[],
  system: SystemName,
  channel: BenchChannel,
): DrainRun | undefined {
  return runs
    .filter((r) => r.phase === 'grid' && r.system === system && r.channel === channel && r.complete)
    .sort((a, b) => b.per_s - a.per_s)[0];
}

interface Headline {
  processes: 1 | 2;
  settings: WorkerSettings;
  /** Medians over the confirm runs (all of them count; an incomplete one with what it did). */
  per_s: number;
  e2e_per_s: number;
  confirm_per_s: number[];
  /** The grid run that chose the setting (a maximum, so above the median as a rule). */
  best_grid_per_s: number;
}

function headline(
  runs: DrainRun[],
  system: SystemName,
  channel: BenchChannel,
): Headline | undefined {
  const best = fastest(runs, system, channel);
  if (!best) return undefined;
  const confirm = runs.filter(
    (r) => r.phase === 'confirm' && r.system === system && r.channel === channel,
  );
  const basis = confirm.length > 0 ? confirm : [best];
  return {
    processes: best.processes,
    settings: best.settings,
    per_s: Math.round(median(basis.map((r) => r.per_s))),
    e2e_per_s: Math.round(median(basis.map((r) => r.e2e_per_s))),
    confirm_per_s: confirm.map((r) => r.per_s),
    best_grid_per_s: best.per_s,
  };
}

/** CPU milliseconds per notification: the workers', the sink's and PostgreSQL's, and their sum. */
function cpuPerNotification(r: DrainRun): { worker: number; sink: number; postgres: number } {
  const workers = Object.entries(r.cpu.processes)
    .filter(([k]) => k.startsWith('worker'))
    .reduce((sum, [, v]) => sum + v, 0);
  const per = (seconds: number) => Math.round((seconds * 1000 * 1000) / Math.max(1, r.done)) / 1000;
  return {
    worker: per(workers),
    sink: per(r.cpu.processes.sink ?? 0),
    postgres: per(r.cpu.postgres),
  };
}

function perNotification(r: DrainRun): string {
  const c = cpuPerNotification(r);
  const sum = c.worker + (r.channel === 'email' ? c.sink : 0) + c.postgres;
  return r.channel === 'email'
    ? `${c.worker.toFixed(2)} + ${c.sink.toFixed(2)} + ${c.postgres.toFixed(2)} = ${sum.toFixed(2)}`
    : `${c.worker.toFixed(2)} + – + ${c.postgres.toFixed(2)} = ${sum.toFixed(2)}`;
}

function headlineText(name: string, email?: Headline, inapp?: Headline): string {
  const one = (channel: string, h?: Headline) =>
    h
      ? `${channel} ${h.processes} process${h.processes > 1 ? 'es' : ''}, ${describe(h.settings)} ` +
        `(repeats ${h.confirm_per_s.map((x) => fmt(x)).join(' / ') || 'none'}/s; grid best ${fmt(h.best_grid_per_s)}/s)`
      : `${channel} n/a`;
  return `${name}: ${one('emails', email)}; ${one('inapp', inapp)}.`;
}

function runsTable(runs: DrainRun[]): string {
  const lines = [
    '| phase | system | channel | processes | concurrency | prefetch | SMTP pool | trigger s | drain s | per s | end-to-end per s | CPU s: worker(s) | sink | PostgreSQL | other | machine busy | CPU ms per notification: worker + sink + PostgreSQL |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of runs) {
    const workers = Object.entries(r.cpu.processes)
      .filter(([k]) => k.startsWith('worker'))
      .map(([, v]) => v.toFixed(1))
      .join(' + ');
    const busy = r.cpu.machine_capacity ? (100 * r.cpu.machine_busy) / r.cpu.machine_capacity : NaN;
    // What neither the workers, the sink nor PostgreSQL used: this process's polling, and
    // whatever else the machine ran meanwhile.
    const ours = Object.values(r.cpu.processes).reduce((a, b) => a + b, 0) + r.cpu.postgres;
    lines.push(
      `| ${r.phase} | ${r.system} | ${r.channel} | ${r.processes} | ${r.settings.concurrency} | ${r.settings.prefetch} | ` +
        `${r.channel === 'email' ? r.settings.smtpPoolSize : '–'} | ${fmt(r.trigger_s, 2)} | ${fmt(r.drain_s, 2)} | ` +
        `${fmt(r.per_s)}${r.complete ? '' : '†'} | ${fmt(r.e2e_per_s)} | ${workers} | ${fmt(r.cpu.processes.sink, 1)} | ` +
        `${fmt(r.cpu.postgres, 1)} | ${fmt(Math.max(0, r.cpu.machine_busy - ours), 1)} | ${fmt(busy)} % | ` +
        `${perNotification(r)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = new Date();
  const machine = await machineInfo();
  const run = runInfo('bench:pipeline', started);
  progress(
    `pipeline: ${machine.nproc} cores, Node ${machine.node}, PostgreSQL ${machine.postgres}; ` +
      `n ${args.n}, accept ${args.acceptN}, batch ${args.batch}, repeats ${args.repeats}${args.peer ? '' : ', no peer'}`,
  );

  const accept = args.only.has('accept') ? await acceptScenario(args) : {};
  const email = args.only.has('email') ? await drainScenario('email', args) : [];
  const inapp = args.only.has('inapp') ? await drainScenario('inapp', args) : [];
  const runs = [...email, ...inapp];

  const heraldEmail = headline(runs, 'herald', 'email');
  const heraldInapp = headline(runs, 'herald', 'inapp');
  const peerEmail = headline(runs, 'hand-rolled', 'email');
  const peerInapp = headline(runs, 'hand-rolled', 'inapp');
  const acceptHttp = accept.herald_http?.median_s;
  const acceptSend = accept.herald_send?.median_s;
  const acceptPeer = accept.peer_addJobs?.median_s;

  const result = {
    emails_per_s: heraldEmail?.per_s ?? null,
    inapp_per_s: heraldInapp?.per_s ?? null,
    accept_10k_recipients_s: acceptHttp ?? null,
    goal: {
      ...GOAL,
      emails_met: heraldEmail ? heraldEmail.per_s >= GOAL.emails_per_s : null,
      accept_met: acceptHttp !== undefined ? acceptHttp < GOAL.accept_10k_recipients_s : null,
    },
    headline: {
      emails: heraldEmail ?? null,
      inapp: heraldInapp ?? null,
      how:
        'emails/inapp: the best grid setting of each system, run --repeats more times taking ' +
        'turns with the other; per_s is the median of those. accept: median over repeats of ' +
        'POST /v1/notifications (app.request, API key, the 202 answer read)',
    },
    peer: {
      name: 'hand-rolled: graphile-worker 0.17 jobs + nodemailer pool + Handlebars (bench/peers/pipeline-handrolled.ts)',
      emails_per_s: peerEmail?.per_s ?? null,
      inapp_per_s: peerInapp?.per_s ?? null,
      accept_10k_recipients_s: acceptPeer ?? null,
      emails: peerEmail ?? null,
      inapp: peerInapp ?? null,
    },
    ratios_herald_to_peer: {
      emails_per_s: ratio(heraldEmail?.per_s, peerEmail?.per_s) ?? null,
      emails_e2e_per_s: ratio(heraldEmail?.e2e_per_s, peerEmail?.e2e_per_s) ?? null,
      inapp_per_s: ratio(heraldInapp?.per_s, peerInapp?.per_s) ?? null,
      inapp_e2e_per_s: ratio(heraldInapp?.e2e_per_s, peerInapp?.e2e_per_s) ?? null,
      accept_s: ratio(acceptHttp, acceptPeer) ?? null,
    },
    accept,
    runs,
    sizes: {
      n: args.n,
      accept_recipients: args.acceptN,
      trigger_batch: args.batch,
      repeats: args.repeats,
      poll_ms: POLL_MS,
    },
    machine,
    date: run.date,
    command: run.command,
  };

  const headlineTable = [
    '| figure | Herald | hand-rolled peer | Herald ÷ peer | goal |',
    '|---|---:|---:|---:|---|',
    `| emails per s (worker start → all sent) | ${fmt(heraldEmail?.per_s)} | ${fmt(peerEmail?.per_s)} | ${fmt(result.ratios_herald_to_peer.emails_per_s ?? undefined, 2)} | ≥ ${fmt(GOAL.emails_per_s)}: ${result.goal.emails_met === null ? 'n/a' : result.goal.emails_met ? 'met' : '**not met**'} |`,
    `| emails per s, end to end (incl. trigger) | ${fmt(heraldEmail?.e2e_per_s)} | ${fmt(peerEmail?.e2e_per_s)} | ${fmt(result.ratios_herald_to_peer.emails_e2e_per_s ?? undefined, 2)} | |`,
    `| inapp per s (worker start → all in the inbox) | ${fmt(heraldInapp?.per_s)} | ${fmt(peerInapp?.per_s)} | ${fmt(result.ratios_herald_to_peer.inapp_per_s ?? undefined, 2)} | |`,
    `| inapp per s, end to end | ${fmt(heraldInapp?.e2e_per_s)} | ${fmt(peerInapp?.e2e_per_s)} | ${fmt(result.ratios_herald_to_peer.inapp_e2e_per_s ?? undefined, 2)} | |`,
    `| accept ${fmt(args.acceptN)} recipients × 2 channels, s (HTTP; median) | ${fmt(acceptHttp, 3)} | ${fmt(acceptPeer, 3)} (addJobs) | ${fmt(result.ratios_herald_to_peer.accept_s ?? undefined, 2)} (time: above 1 = Herald slower) | < ${GOAL.accept_10k_recipients_s} s: ${result.goal.accept_met === null ? 'n/a' : result.goal.accept_met ? 'met' : '**not met**'} |`,
    `| accept, herald.send() directly, s (median) | ${fmt(acceptSend, 3)} | | | |`,
  ].join('\n');
  const acceptLine = Object.entries(accept)
    .map(([k, v]) => `${k} ${v.runs_s.map((s) => s.toFixed(3)).join(' / ')} s`)
    .join('; ');
  const raw = [
    `## Pipeline benchmark — ${run.stamp}`,
    '',
    `Command: \`${result.command}\``,
    '',
    `Machine: ${machine.nproc} cores (${machine.cpu}), ${machine.memory_gib} GiB memory, ${machine.os}, Node ${machine.node}, PostgreSQL ${machine.postgres}`,
    '',
    `Sizes: accept = one trigger of ${fmt(args.acceptN)} recipients on email + inapp (${args.repeats} repeats, fresh schema each, after one warm-up trigger); ` +
      `drains = ${fmt(args.n)} notifications triggered up front in triggers of ${fmt(args.batch)} recipients, then the workers start; timed until every delivery is sent and recorded (polled every ${POLL_MS} ms; email: the sink's count agrees). ` +
      'Herald: SMTP provider (its own SMTP client, src/channels/email/smtp-client.ts; a nodemailer pool before 2026-12-04) to a count-only smtp-server in its own process, logLevel warn, pool of 10. ' +
      'Peer: graphile-worker 0.17 (local queue = prefetch, completions batched at once, pool min(concurrency + 2, 30)) whose tasks look the address up, render the same Handlebars templates and send with the same nodemailer pool options, or insert an inbox row; its trigger is one addJobs; completionDelayMs does not apply to it (graphile-worker batches completions by itself). ' +
      '2-process runs fork two worker processes; 1-process runs work in the benchmark process.',
    '',
    headlineTable,
    '',
    `Headline settings (each system's fastest grid setting, then run ${args.repeats} more times, taking turns; the figures above are the medians of those repeats): ${headlineText('Herald', heraldEmail, heraldInapp)} ${headlineText('Peer', peerEmail, peerInapp)}`,
    '',
    `Accept runs: ${acceptLine || 'not run'}.`,
    '',
    "Every drain run (CPU seconds over the drain, from /proc: worker = the benchmark process itself in 1-process runs; PostgreSQL = all its processes; other = machine busy minus those, i.e. the benchmark's polling and whatever else ran on the machine; † = incomplete):",
    '',
    runsTable(runs),
    '',
    'Analysis: see below',
    '',
    '<!-- Analysis of this run (where the time goes): written by hand. -->',
    '',
  ].join('\n');
  await publish({ markdown: raw, json: result, jsonPath, write: args.write });
  if (runs.some((r) => !r.complete)) process.exitCode = 1;
}

runMain(main);
