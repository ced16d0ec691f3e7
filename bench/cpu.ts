/**
 * Where a benchmark's CPU time goes, on Linux: the CPU seconds of given processes (the worker,
 * the SMTP sink child), of every PostgreSQL process, and of the whole machine, read from /proc
 * at the start and the end of a measured window. Elsewhere every figure is NaN.
 *
 * PostgreSQL's figure covers all of its processes (backends of other clients of the same
 * server included), so on a shared machine it is an upper bound for the benchmark's own.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

const TICKS_PER_S = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of one process, in seconds; NaN when it is gone or /proc is not there. */
export function processCpuSeconds(pid: number): number {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.seconds ?? Number.NaN;
  } catch {
    return Number.NaN;
  }
}

function parseStat(text: string): { comm: string; seconds: number } | undefined {
  // The command name is in parentheses and may hold spaces; fields after it are plain.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < 0) return undefined;
  const fields = text.slice(close + 2).split(' ');
  // After the name: state(3) ... utime(14) stime(15), counted from 1 over the whole line.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { comm: text.slice(open + 1, close), seconds: (utime + stime) / TICKS_PER_S };
}

/** CPU seconds by pid of every process named `postgres`. */
function postgresProcesses(): Map<number, number> {
  const out = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (stat?.comm === 'postgres') out.set(Number(entry), stat.seconds);
    } catch {
      // gone between the listing and the read
    }
  }
  return out;
}

function machineSeconds(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const cpu of os.cpus()) {
    const t = cpu.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy: busy / 1000, total: total / 1000 };
}

export interface CpuWindow {
  /** Wall seconds of the window. */
  wall_s: number;
  /** CPU seconds per named process (the names given to `startCpuWindow`). */
  processes: Record<string, number>;
  /** CPU seconds of all PostgreSQL processes (processes that ended in the window: not counted). */
  postgres: number;
  /** CPU seconds the whole machine was busy, and what it had (cores × wall). */
  machine_busy: number;
  machine_capacity: number;
}

/**
 * Starts a window; the function it returns ends it. `pids` names the processes to follow
 * (`{ worker: process.pid, sink: sink.pid }`); a process that started after the window began
 * counts from zero.
 */
export function startCpuWindow(pids: Record<string, number>): () => CpuWindow {
  const began = performance.now();
  const first = Object.fromEntries(
    Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid)]),
  );
  const pgFirst = postgresProcesses();
  const machineFirst = machineSeconds();
  return () => {
    const processes: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) {
      const start = first[name] ?? Number.NaN;
      processes[name] = round(processCpuSeconds(pid) - (Number.isFinite(start) ? start : 0));
    }
    let postgres = 0;
    for (const [pid, seconds] of postgresProcesses()) postgres += seconds - (pgFirst.get(pid) ?? 0);
    const machine = machineSeconds();
    return {
      wall_s: round((performance.now() - began) / 1000),
      processes,
      postgres: round(postgres),
      machine_busy: round(machine.busy - machineFirst.busy),
      machine_capacity: round(machine.total - machineFirst.total),
    };
  };
}

const round = (x: number) => Math.round(x * 100) / 100;
