/**
 * Cron expressions in IANA time zones: the five classic fields (minute, hour, day of month,
 * month, day of week) with lists, ranges, steps and names, an optional leading seconds field
 * (as croner and node-cron allow), and the next tick after an instant.
 *
 * Written here rather than taken from a cron library because the DST rules are part of
 * Herald's contract (docs/scheduler.md) and libraries disagree on them: a local time that does
 * not exist on a day (the spring-forward gap) fires at the first instant after the gap, and a
 * local time that occurs twice (the fall-back overlap) fires once, at its first occurrence.
 * The method makes both rules fall out: walk the local slots the expression names in wall-clock
 * order, map each to its instant with time/zoned.ts (gap → the gap's end, overlap → the first
 * occurrence), and take the first instant after `after`. Slots inside a gap collapse onto one
 * instant, so `*\/15` fires once at 03:00 on a spring-forward night, not four times.
 */
import { ValidationError, type FieldIssue } from '../errors.js';
import { fromLocal, offsetAt, toLocal } from './zoned.js';

export interface CronSpec {
  source: string;
  /** [0] for five-field expressions; a sixth, leading field gives seconds. */
  seconds: number[];
  minutes: number[];
  hours: number[];
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** Cron's rule: when both day of month and day of week are restricted, either may match. */
  dayOr: boolean;
  anyDay: boolean;
  anyWeekday: boolean;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const SECOND_FIELD = { name: 'second', min: 0, max: 59, names: undefined } as const;
const FIELDS = [
  { name: 'minute', min: 0, max: 59, names: undefined },
  { name: 'hour', min: 0, max: 23, names: undefined },
  { name: 'day of month', min: 1, max: 31, names: undefined },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day of week', min: 0, max: 7, names: WEEKDAYS },
] as const;

const MACROS: Record<string, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
};

/** The values one field names, or a message saying what is wrong with it. */
type Field = (typeof FIELDS)[number] | typeof SECOND_FIELD;

function parseField(text: string, field: Field): number[] | string {
  const values = new Set<number>();
  const value = (t: string): number | undefined => {
    const named = field.names?.indexOf(t.toLowerCase()) ?? -1;
    if (named >= 0) return named + (field.name === 'month' ? 1 : 0);
    if (!/^\d{1,2}$/.test(t)) return undefined;
    return Number(t);
  };
  for (const part of text.split(',')) {
    const m = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(part);
    if (!m) return `"${part}" is not a value, range or step`;
    const [, range = '', stepText] = m;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) return `step ${stepText} must be at least 1`;
    let lo: number | undefined;
    let hi: number | undefined;
    if (range === '*') [lo, hi] = [field.min, field.max === 7 ? 6 : field.max];
    else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      [lo, hi] = [value(a), value(b)];
    } else {
      lo = value(range);
      hi = stepText === undefined ? lo : field.max;
    }
    if (lo === undefined || hi === undefined) return `"${part}" is not a value, range or step`;
    if (lo < field.min || hi > field.max || lo > hi)
      return `"${part}" is outside ${field.min}–${field.max}`;
    for (let v = lo; v <= hi; v += step) values.add(field.name === 'day of week' ? v % 7 : v);
  }
  return [...values].sort((a, b) => a - b);
}

/**
 * Parses a cron expression (five fields, six with a leading seconds field, or @daily and
 * friends); throws a ValidationError naming what is wrong.
 */
export function parseCron(expression: string, fieldName = 'cron'): CronSpec {
  const source = expression.trim();
  const text = MACROS[source.toLowerCase()] ?? source;
  const all = text.split(/\s+/);
  if (all.length !== 5 && all.length !== 6) {
    throw new ValidationError([
      {
        field: fieldName,
        message:
          'must have five fields (minute hour day-of-month month day-of-week), e.g. "0 8 * * 1-5", or six with seconds first',
      },
    ]);
  }
  const issues: FieldIssue[] = [];
  let seconds = [0];
  if (all.length === 6) {
    const parsedSeconds = parseField(all[0] as string, SECOND_FIELD);
    if (typeof parsedSeconds === 'string')
      issues.push({ field: fieldName, message: `second: ${parsedSeconds}` });
    else seconds = parsedSeconds;
  }
  const parts = all.slice(all.length - 5);
  const parsed = parts.map((p, i) => {
    const field = FIELDS[i] as (typeof FIELDS)[number];
    const values = parseField(p, field);
    if (typeof values === 'string')
      issues.push({ field: fieldName, message: `${field.name}: ${values}` });
    return typeof values === 'string' ? [] : values;
  });
  if (issues.length > 0) throw new ValidationError(issues);
  const [minutes = [], hours = [], days = [], months = [], weekdays = []] = parsed;
  const anyDay = parts[2] === '*';
  const anyWeekday = parts[4] === '*';
  return {
    source,
    seconds,
    minutes,
    hours,
    days: new Set(days),
    months: new Set(months),
    weekdays: new Set(weekdays),
    dayOr: !anyDay && !anyWeekday,
    anyDay,
    anyWeekday,
  };
}

/** Whether a local calendar day matches the expression's day fields. */
function dayMatches(spec: CronSpec, year: number, month: number, day: number): boolean {
  if (!spec.months.has(month)) return false;
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  const byDay = spec.days.has(day);
  const byWeekday = spec.weekdays.has(weekday);
  if (spec.dayOr) return byDay || byWeekday;
  return (spec.anyDay || byDay) && (spec.anyWeekday || byWeekday);
}

/** How far ahead a tick is looked for: Feb 29 on a Monday can be 28 years away. */
const MAX_DAYS = 366 * 29;

/**
 * The first tick of `spec` in `timeZone` strictly after `after` (ms), by the DST rules above;
 * null if the expression never fires (e.g. `0 0 31 2 *`).
 */
export function nextTick(spec: CronSpec, timeZone: string, after: number): number | null {
  const start = toLocal(after, timeZone);
  // Begin a day early: a slot of yesterday's local date can still lie ahead near DST changes.
  const first = Date.UTC(start.year, start.month - 1, start.day) - 86_400_000;
  // A slot's instant is its wall time less an offset in force near it (or, in a gap, earlier
  // still), so a slot whose wall time less the smallest offset nearby is not after `after`
  // cannot be the answer: skipped without mapping it.
  const smallest = Math.min(
    offsetAt(after - 2 * 86_400_000, timeZone),
    offsetAt(after, timeZone),
    offsetAt(after + 2 * 86_400_000, timeZone),
  );
  const earliestWall = after + smallest;
  const lastSecond = spec.seconds.at(-1) ?? 0;
  for (let d = 0; d < MAX_DAYS; d++) {
    const date = new Date(first + d * 86_400_000);
    const [year, month, day] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
    if (!dayMatches(spec, year, month, day)) continue;
    for (const hour of spec.hours) {
      for (const minute of spec.minutes) {
        const wall = Date.UTC(year, month - 1, day, hour, minute);
        if (wall + lastSecond * 1000 <= earliestWall) continue;
        const at = fromLocal({ year, month, day, hour, minute }, timeZone);
        // Inside a gap every second of the minute maps to the gap's end.
        const exists = offsetAt(at, timeZone) === wall - at;
        for (const second of spec.seconds) {
          const t = exists ? at + second * 1000 : at;
          if (t > after) return t;
        }
      }
    }
  }
  return null;
}

/** The ticks of `spec` in (`after`, `until`], at most `limit` of them, in order. */
export function ticksBetween(
  spec: CronSpec,
  timeZone: string,
  after: number,
  until: number,
  limit: number,
): number[] {
  const out: number[] = [];
  let t = after;
  while (out.length < limit) {
    const next = nextTick(spec, timeZone, t);
    if (next === null || next > until) break;
    out.push(next);
    t = next;
  }
  return out;
}
