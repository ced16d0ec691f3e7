/**
 * Wall-clock time in IANA time zones, with Intl only (no tz database of our own): the local
 * date and time of an instant, and the instant of a local date and time.
 *
 * DST rules (docs/scheduler.md): a local time that does not exist on a day (the spring-forward
 * gap) maps to the first instant after the gap; a local time that occurs twice (the
 * fall-back overlap) maps to its first occurrence.
 */

export interface LocalDateTime {
  year: number;
  /** 1–12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** 0 = Sunday … 6 = Saturday */
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function parts(instant: number, timeZone: string) {
  const p: Record<string, number> = {};
  for (const { type, value } of formatter(timeZone).formatToParts(instant))
    if (type !== 'literal') p[type] = Number(value);
  return p as {
    year: number;
    month: number;
    day: number;
    hour: number;
    minute: number;
    second: number;
  };
}

function intlOffset(instant: number, timeZone: string): number {
  const p = parts(instant, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  // Intl has no milliseconds here: compare with the instant rounded down to the second.
  return asUtc - Math.floor(instant / 1000) * 1000;
}

// Offsets change only at transitions, and every transition in the tz database since 1970 falls
// on a quarter hour, so one Intl call answers for a whole quarter hour of a zone. Intl is the
// cost of every local-time computation (a scheduler tick advances thousands of schedules).
const QUARTER = 15 * MINUTE;
const offsetCache = new Map<string, number>();

/** The zone's offset from UTC at `instant`, in ms (Berlin in summer: +7,200,000). */
export function offsetAt(instant: number, timeZone: string): number {
  const bucket = Math.floor(instant / QUARTER);
  const key = `${timeZone}|${bucket}`;
  let offset = offsetCache.get(key);
  if (offset === undefined) {
    offset = intlOffset(bucket * QUARTER, timeZone);
    if (offsetCache.size >= 200_000) offsetCache.clear();
    offsetCache.set(key, offset);
  }
  return offset;
}

/** The local date and time of `instant` in `timeZone`. */
export function toLocal(instant: number, timeZone: string): LocalDateTime {
  const local = new Date(instant + offsetAt(instant, timeZone));
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    hour: local.getUTCHours(),
    minute: local.getUTCMinutes(),
    weekday: local.getUTCDay(),
  };
}

/**
 * The instant at which the wall clock in `timeZone` shows the given local date and time.
 * Out-of-range days roll over (day 32 is the 1st of the next month), as Date.UTC does.
 */
export function fromLocal(
  local: Pick<LocalDateTime, 'year' | 'month' | 'day' | 'hour' | 'minute'>,
  timeZone: string,
): number {
  const wall = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute);
  // The offsets in force around that wall time: a day before and after covers any transition.
  const offsets = new Set([
    offsetAt(wall - 24 * HOUR, timeZone),
    offsetAt(wall, timeZone),
    offsetAt(wall + 24 * HOUR, timeZone),
  ]);
  const valid = [...offsets]
    .map((o) => wall - o)
    .filter((t) => offsetAt(t, timeZone) === wall - t)
    .sort((a, b) => a - b);
  // Both occurrences of an overlap are valid: the first one wins.
  if (valid.length > 0) return valid[0] as number;

  // A gap: the wall time was skipped. Answer the transition instant, found by bisection
  // between the candidates computed with the offsets before and after it.
  const candidates = [...offsets].map((o) => wall - o).sort((a, b) => a - b);
  let lo = candidates[0] as number;
  let hi = candidates.at(-1) as number;
  const before = offsetAt(lo, timeZone);
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (offsetAt(mid, timeZone) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Minutes since local midnight of an `HH:MM` string. */
export function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

/**
 * If `instant` falls inside the daily quiet hours `start`–`end` (local `HH:MM` in
 * `timeZone`; `end` before `start` crosses midnight), the instant they end; else null.
 */
export function quietHoursEnd(
  instant: number,
  quiet: { start: string; end: string },
  timeZone: string,
): number | null {
  const local = toLocal(instant, timeZone);
  const now = local.hour * 60 + local.minute;
  const start = minutesOf(quiet.start);
  const end = minutesOf(quiet.end);
  const inside = start < end ? now >= start && now < end : now >= start || now < end;
  if (!inside) return null;
  // Crossing midnight and already past the start: the quiet hours end tomorrow.
  const dayOffset = start > end && now >= start ? 1 : 0;
  const endAt = fromLocal(
    {
      year: local.year,
      month: local.month,
      day: local.day + dayOffset,
      hour: Math.floor(end / 60),
      minute: end % 60,
    },
    timeZone,
  );
  // An end time inside a DST gap maps to the gap's end, which is still after `instant`.
  return Math.max(endAt, instant);
}
