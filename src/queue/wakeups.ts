/**
 * The claim loop's timed wake-ups: each retry (and each notification of a job due later) asks
 * to look for jobs at a moment; one timer runs, for the earliest moment still pending.
 *
 * Every moment asked for is kept until it has passed, not only the earliest: a wake-up that
 * finds nothing due must still come back for the later ones. (Keeping only the earliest lost
 * them: a job retried in 3 ms could be claimed by another path before its timer fired, its
 * next retry's 200 ms wake-up was dropped as "covered" by that timer, and the timer then found
 * nothing, so the job waited for the 30 s poll.)
 *
 * Moments within `slackMs` of one already pending share its wake-up, and at most `max` are
 * kept (the latest are dropped: the worker's poll covers them), so a burst of failures costs
 * bounded memory.
 */
export interface WakeupOptions {
  /** Called at each wake-up (the claim loop's fetch). */
  onWake: () => void;
  /** Added to each timer: timers may fire a millisecond early, and the database decides. */
  slackMs: number;
  max?: number;
  now?: () => number;
}

export interface Wakeups {
  /** Looks for jobs at `at` (ms since epoch); a moment already passed wakes at once. */
  at(at: number): void;
  /** Pending moments (tests, and the bound). */
  readonly pending: number;
  stop(): void;
}

export function makeWakeups(options: WakeupOptions): Wakeups {
  const { onWake, slackMs } = options;
  const max = options.max ?? 10_000;
  const now = options.now ?? Date.now;
  const times: number[] = []; // ascending
  let timer: { at: number; handle: NodeJS.Timeout } | undefined;
  let stopped = false;

  function arm(): void {
    const next = times[0];
    if (next === undefined || stopped) return;
    if (timer && timer.at <= next) return;
    if (timer) clearTimeout(timer.handle);
    timer = { at: next, handle: setTimeout(fire, Math.max(0, next - now()) + slackMs) };
  }

  function fire(): void {
    timer = undefined;
    const t = now();
    let passed = 0;
    while (passed < times.length && (times[passed] as number) <= t) passed++;
    times.splice(0, passed);
    onWake();
    arm();
  }

  return {
    at(at) {
      if (stopped) return;
      if (at <= now()) return onWake();
      // The first index whose moment is not before `at`.
      let lo = 0;
      let hi = times.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((times[mid] as number) < at) lo = mid + 1;
        else hi = mid;
      }
      const near = (i: number) =>
        i >= 0 && i < times.length && Math.abs((times[i] as number) - at) <= slackMs;
      if (near(lo) || near(lo - 1)) return;
      times.splice(lo, 0, at);
      if (times.length > max) times.pop();
      arm();
    },
    get pending() {
      return times.length;
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer.handle);
      timer = undefined;
      times.length = 0;
    },
  };
}
