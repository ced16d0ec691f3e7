/**
 * Shared pieces of the API fuzz tests (fast-check): arbitrary JSON with every UTF-16 code unit,
 * bodies nested deeper than any sane client sends, odd object keys, broken URL escapes, RFC 3339
 * date-times over the whole range the format writes, request bodies that fast-check reports
 * short, and a snapshot of every table, to show that a refused request changed nothing.
 */
import fc from 'fast-check';
import type { Hono } from 'hono';
import type { Herald } from '../../src/index.js';

// Strings of any UTF-16 code unit: NUL and lone surrogates included.
export const codeUnit = fc.nat(0xffff).map((c) => String.fromCharCode(c));
export const anyJson = fc.jsonValue({ stringUnit: codeUnit });

/** A URL cannot carry a lone surrogate (encodeURIComponent throws): such ids send U+FFFD. */
export const urlSafe = (s: string) =>
  s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

/** Path segments and query strings as typed by hand: stray and broken percent escapes. */
export const rawUrlPart = fc
  .array(
    fc.constantFrom(
      '%',
      '%2',
      '%ZZ',
      '%E0%A4%A',
      '%00',
      '%C0%AF',
      '%ff',
      '%25',
      'a',
      '0',
      '-',
      '.',
      '=',
      '&',
      '+',
    ),
    { maxLength: 8 },
  )
  .map((parts) => parts.join(''));

/** Keys that trip up objects in JavaScript, or text columns in PostgreSQL. */
export const oddKey = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'hasOwnProperty',
    'toString',
    '',
    ' ',
    '$where',
    'a.b',
    'a\u0000b',
    '\ud800',
    '\u202e',
    'x'.repeat(2_000),
  ),
  fc.string({ unit: codeUnit, maxLength: 20 }),
);

/**
 * JSON text (arrays, or objects) nested `depth` levels deep: a small body that recursive code
 * walks one stack frame per level.
 */
export const deepJson = (depth: number, arrays: boolean) =>
  arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
/** 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z (Date.UTC reads years 0 to 99 as 19xx). */
const FIRST = -62_167_219_200_000;
const LAST = Date.UTC(9999, 11, 31, 23, 59, 59);

/** RFC 3339 date-times: a wall-clock time (ms, read as UTC fields) with any offset. */
export const dateTime = (wallClock: fc.Arbitrary<number>) =>
  fc
    .tuple(
      wallClock,
      fc.oneof(fc.constant(0), fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 })),
      fc.option(fc.integer({ min: 0, max: 999 })),
    )
    .map(([ms, offsetMin, fraction]) => {
      const d = new Date(ms);
      const off = Math.abs(offsetMin);
      const zone =
        offsetMin === 0
          ? 'Z'
          : `${offsetMin < 0 ? '-' : '+'}${pad(Math.floor(off / 60))}:${pad(off % 60)}`;
      return (
        `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
        `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}` +
        `${fraction === null ? '' : `.${pad(fraction, 3)}`}${zone}`
      );
    });

/**
 * Date-times over the whole range RFC 3339 writes, wall clocks from year 0000 to 9999 in any
 * offset (so the instant itself may fall outside those years); the ends are drawn often.
 */
export const anyDateTime = dateTime(
  fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: Date.UTC(2000, 0), max: Date.UTC(2100, 0) }) },
    { weight: 1, arbitrary: fc.integer({ min: FIRST, max: LAST }) },
    { weight: 2, arbitrary: fc.integer({ min: LAST - 86_400_000, max: LAST }) },
    { weight: 1, arbitrary: fc.integer({ min: FIRST, max: FIRST + 86_400_000 }) },
  ),
);

/** Date-times a client means: from a year ago to about ten years ahead. */
export const plausibleDateTime = dateTime(
  fc.integer({ min: Date.now() - 366 * 86_400_000, max: Date.now() + 10 * 366 * 86_400_000 }),
);

/** Long text cut in the middle, for assertion messages and fast-check's reports. */
export const short = (t: string, max = 300) =>
  t.length <= max ? t : `${t.slice(0, max - 60)}…(${t.length} chars)…${t.slice(-40)}`;

/**
 * A request body as sent. fast-check prints it cut short: a report carrying a 300 kB
 * counterexample breaks the test runner's messages between processes.
 */
export interface Payload {
  text: string;
  [fc.toStringMethod](): string;
}

/** The text as it is (broken JSON, deep nesting). */
export const rawBody = (text: string): Payload => ({
  text,
  [fc.toStringMethod]: () => JSON.stringify(short(text)),
});

/** The value as JSON. */
export const jsonBody = (value: unknown): Payload => rawBody(JSON.stringify(value));

export type Snapshot = Record<string, string>;

/** Row count of a table in a snapshot. */
export const rowCount = (s: Snapshot, table: string) => Number(s[table]?.split(':')[0] ?? NaN);

/**
 * Every table of Herald's schema as "rows:md5 of the rows", one query. Tables are found in
 * the catalogue, so a table added later is watched too.
 */
export function tableSnapshot(herald: Herald): () => Promise<Snapshot> {
  let query: Promise<string> | undefined;
  const schema = herald.config.schema;
  const q = (id: string) => `"${id.replace(/"/g, '""')}"`;
  return async () => {
    query ??= herald.db
      .query<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables
         WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`,
        [schema],
      )
      .then(({ rows }) =>
        rows
          .map(
            ({ name }) =>
              `SELECT '${name}' AS name, count(*) || ':' ||
                 md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS state
               FROM ${q(schema)}.${q(name)} x`,
          )
          .join(' UNION ALL '),
      );
    const { rows } = await herald.db.query<{ name: string; state: string }>(await query);
    return Object.fromEntries(rows.map((r) => [r.name, r.state]));
  };
}

/** Tables whose state differs between two snapshots (empty: nothing was written). */
export const changed = (a: Snapshot, b: Snapshot) =>
  Object.keys({ ...a, ...b }).filter((t) => a[t] !== b[t]);

/** Any string of up to `max` UTF-16 code units. */
export const oddString = (max: number) => fc.string({ unit: codeUnit, maxLength: max });

export type Request = (
  method: string,
  path: string,
  payload?: Payload,
  headers?: Record<string, string>,
) => Promise<Response>;

/** Requests in-process with the API key; `headers` may replace the authorization. */
export function requester(app: Hono, key: string): Request {
  return async (method, path, payload, headers = {}) =>
    app.request(path, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
      ...(payload ? { body: payload.text } : {}),
    });
}

/**
 * fast-check runs for a property: `n`, times HERALD_FUZZ_SCALE when set (a longer hunt on a
 * developer machine: `HERALD_FUZZ_SCALE=20 node --import tsx --test test/api-fuzz*.test.ts`).
 */
export function runs(n: number): number {
  const scale = Number(process.env.HERALD_FUZZ_SCALE ?? 1);
  return Math.max(1, Math.round(n * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}
