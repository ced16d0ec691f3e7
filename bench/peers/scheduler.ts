/**
 * The seam of the scheduler benchmark (bench/scheduler.ts): who the recipients are, which zone
 * each lives in, and the daily briefing both systems send.
 *
 * Recipient i (0 ≤ i < N) is `user-<i, 7 digits>` with the address `<id>@example.test`. Every
 * `every`-th recipient lives in the busy zone (100,000 of 1,000,000 by default); the others are
 * spread round-robin over every other IANA zone `Intl.supportedValuesOf('timeZone')` names. So
 * every zone has recipients, and the busy zone's runs fall in one minute of their own.
 */

/** The busy zone: +05:45 all year, an offset no other zone shares, so at its 08:00 no other
 * zone is at 08:00 and a scan by local time finds exactly its recipients. */
export const BUSY_ZONE = 'Asia/Katmandu';

export const BRIEFING_TYPE = 'daily_briefing';
export const BRIEFING_TIME = '08:00';

/** The email of the daily briefing (Handlebars); `runAt` and `recipient` come with every run. */
export const BRIEFING_EMAIL = {
  subject: 'Your daily briefing',
  html:
    '<p>Good morning {{recipient.id}},</p><p>here is your briefing for {{runAt}}.</p>' +
    '<p>Have a good day.</p>',
  text: 'Good morning {{recipient.id}},\n\nhere is your briefing for {{runAt}}.\nHave a good day.',
};

export interface ZonePlan {
  /** `zones[0]` is the busy zone; the others follow in `Intl` order. */
  zones: string[];
  /** Recipient i is in the busy zone when i % every == 0. */
  every: number;
}

export function zonePlan(largest: number, busy: number): ZonePlan {
  const every = largest / busy;
  if (!Number.isInteger(every) || every < 2)
    throw new Error(`--busy ${busy} must divide the largest scale ${largest} at most in half`);
  const all = Intl.supportedValuesOf('timeZone');
  if (!all.includes(BUSY_ZONE)) throw new Error(`this Node has no zone ${BUSY_ZONE}`);
  return { zones: [BUSY_ZONE, ...all.filter((z) => z !== BUSY_ZONE)], every };
}

/**
 * Recipients [from, to) of the plan as SQL rows (i, id, email, zone_no), zone_no counting
 * from 1 into `plan.zones`; the query's parameters are $1..$4, so callers add theirs from $5.
 */
export function planRows(
  plan: ZonePlan,
  from: number,
  to: number,
): { sql: string; params: unknown[] } {
  return {
    sql: `SELECT i, 'user-' || lpad(i::text, 7, '0') AS id,
            'user-' || lpad(i::text, 7, '0') || '@example.test' AS email,
            CASE WHEN i % $3 = 0 THEN 1 ELSE 2 + i % $4 END AS zone_no
          FROM generate_series($1::int, $2::int - 1) AS i`,
    params: [from, to, plan.every, plan.zones.length - 1],
  };
}

/** [from, to) in chunks of `size`, for set-up statements that report progress. */
export function* chunks(from: number, to: number, size: number): Generator<[number, number]> {
  for (let i = from; i < to; i += size) yield [i, Math.min(to, i + size)];
}
