/**
 * `herald recipients import` on PostgreSQL, as a user runs it: a CSV file and a JSON-lines
 * file of 2,000 recipients each with a few bad lines. Each bad line is named by its number and
 * field, never its value, and nothing of it is written; every good line is, and the summary
 * counts both. Importing again updates (a changed zone moves the recipient's local-time
 * schedule). A bad header writes nothing. The CSV reader's quoting rules are checked alone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Herald } from '../src/index.js';
import { csvRecords } from '../src/cli/csv.js';
import { closeHerald, openHerald, pgSkipReason, PG_URL } from './helpers/db.js';

const BIN = new URL('../bin/herald.js', import.meta.url).pathname;
const pgSkip = await pgSkipReason();
const N = 2_000;

async function records(text: string) {
  const out = [];
  for await (const r of csvRecords(Readable.from(text.split('\n')), 100)) out.push(r);
  return out;
}

describe('the CSV reader', () => {
  it('reads quoted fields with commas, doubled quotes and line breaks, numbering lines', async () => {
    assert.deepEqual(await records('id,note\n\na,"x, ""y"""\nb,"two\nlines"\nc,'), [
      { line: 1, fields: ['id', 'note'] },
      { line: 3, fields: ['a', 'x, "y"'] },
      { line: 4, fields: ['b', 'two\nlines'] },
      { line: 6, fields: ['c', ''] },
    ]);
  });

  it('reports a malformed record and goes on with the next line', async () => {
    assert.deepEqual(await records('a"b,c\n"x"y,z\nok,1\n"never closed\nmore'), [
      { line: 1, error: 'has a quote inside an unquoted field (quote the field)' },
      {
        line: 2,
        error: 'has text after a closing quote (a quote inside a field is written "")',
      },
      { line: 3, fields: ['ok', '1'] },
      { line: 4, error: 'has a quoted field that is never closed' },
    ]);
    // A runaway quote stops at the record limit, and reading starts again after it.
    const long = `"${'x'.repeat(60)}\n${'y'.repeat(60)}\nnext,1`;
    assert.deepEqual(await records(long), [
      { line: 1, error: 'is longer than 100 characters' },
      { line: 3, fields: ['next', '1'] },
    ]);
  });
});

describe('herald recipients import', { skip: pgSkip }, () => {
  let h: Herald;
  let dir: string;
  const s = () => `"${h.config.schema}"`;
  const run = (...args: string[]) => {
    const r = spawnSync(
      process.execPath,
      [BIN, 'recipients', 'import', ...args, '--database-url', PG_URL, '--schema', h.config.schema],
      { encoding: 'utf8', env: { ...process.env, HERALD_PROGRESS: '' } },
    );
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const count = async (where = 'true', params: unknown[] = []) =>
    (
      await h.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${s()}.recipients WHERE ${where}`,
        params,
      )
    ).rows[0]?.n;
  /** The lines `herald: line N: ...` of stderr. */
  const refusals = (err: string) => err.split('\n').filter((l) => l.startsWith('herald: line '));

  before(async () => {
    h = await openHerald('pg');
    dir = mkdtempSync(join(tmpdir(), 'herald-import-'));
  });
  after(async () => {
    await closeHerald(h);
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * 2,000 good rows `c0..c1999`, each bad row put in before the good row of its index; and the
   * line each bad row is on. Every tenth note is quoted, with a comma, a doubled quote and a
   * line break in it, so line numbers count physical lines, not records.
   */
  function csv(plan: string, bad: Map<number, string>): { text: string; badLines: number[] } {
    const rows = ['id,email,phone,timezone,data.plan,data.note'];
    const badLines: number[] = [];
    let line = 2;
    for (let i = 0; i < N; i++) {
      const before = bad.get(i);
      if (before !== undefined) {
        rows.push(before);
        badLines.push(line++);
      }
      const quoted = i % 10 === 0;
      const note = quoted ? '"said ""hi"",\nthen left"' : `note ${i}`;
      rows.push(`c${i},c${i}@example.com,,Europe/Berlin,${plan},${note}`);
      line += quoted ? 2 : 1;
    }
    return { text: rows.join('\n') + '\n', badLines };
  }

  it('imports a CSV file: the good lines all, each bad one named and left out', async () => {
    const file = join(dir, 'people.csv');
    const { text, badLines } = csv(
      'pro',
      new Map([
        [2, 'bad1,secret-not-an-email,,UTC,free,x'],
        [400, 'bad2,bad2@example.com,+49 151 SECRET,UTC,free,x'],
        [1203, 'bad3,bad3@example.com,,Mars/Secret_City,free,x'],
        [1900, 'bad4,bad4@example.com,,UTC'],
      ]),
    );
    assert.equal(badLines[0], 5);
    writeFileSync(file, text);
    const r = run(file);
    assert.equal(r.code, 1, r.err);
    assert.equal(r.out, `imported ${N}, updated 0, failed 4\n`);
    assert.deepEqual(refusals(r.err), [
      `herald: line ${badLines[0]}: email: Invalid email address`,
      `herald: line ${badLines[1]}: phone: must be an E.164 number, like +4915112345678`,
      `herald: line ${badLines[2]}: timezone: must be an IANA time zone, like Europe/Berlin`,
      `herald: line ${badLines[3]}: has 4 fields, the header has 6`,
    ]);
    assert.doesNotMatch(r.err, /SECRET|Secret|secret/, 'no value of a bad line is printed');
    assert.equal(await count(), N);
    assert.equal(await count(`id LIKE 'bad%'`), 0, 'nothing of a bad line is written');
    const { rows } = await h.db.query<{ email: string; timezone: string; data: unknown }>(
      `SELECT email, timezone, data FROM ${s()}.recipients WHERE id = ANY($1) ORDER BY id`,
      [['c0', 'c1']],
    );
    assert.deepEqual(rows, [
      {
        email: 'c0@example.com',
        timezone: 'Europe/Berlin',
        data: { plan: 'pro', note: 'said "hi",\nthen left' },
      },
      { email: 'c1@example.com', timezone: 'Europe/Berlin', data: { plan: 'pro', note: 'note 1' } },
    ]);
  });

  it('updates on a second import; a new zone moves local-time schedules', async () => {
    await h.preferences.put('c7', { schedules: { daily_briefing: { time: '08:00' } } });
    const file = join(dir, 'again.csv');
    writeFileSync(
      file,
      csv('team', new Map()).text.replace(
        'c7,c7@example.com,,Europe/Berlin',
        'c7,,,America/New_York',
      ),
    );
    const r = run(file);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `imported 0, updated ${N}, failed 0\n`);
    assert.equal(await count(`data->>'plan' = 'team'`), N);
    // An empty cell clears the field.
    assert.equal((await h.recipients.get('c7'))?.email, null);
    const [briefing] = await h.localSchedules.list('c7');
    assert.equal(briefing?.timezone, 'America/New_York');
  });

  it('imports JSON lines, the body of PUT /v1/recipients/{id} with the id in it', async () => {
    const lines: string[] = [];
    for (let i = 0; i < N; i++)
      lines.push(JSON.stringify({ id: `j${i}`, email: `j${i}@example.com`, data: { n: i } }));
    // Bad lines, and a blank one (skipped, but counted as a line).
    lines.splice(9, 0, '{"id": "jbad1", "email": "j@example.com", "nickname": "Secret"}');
    lines.splice(99, 0, '{"id": "jbad2", "email": "j@example.com" SECRET');
    lines.splice(999, 0, '["jbad3"]');
    lines.splice(1499, 0, '');
    lines.splice(1999, 0, '{"email": "nobody@example.com"}');
    lines.splice(2001, 0, '{"id": "jbad5", "data": {"__proto__": {"secret": 1}}}');
    const file = join(dir, 'people.jsonl');
    writeFileSync(file, lines.join('\n'));
    const r = run(file);
    assert.equal(r.code, 1, r.err);
    assert.equal(r.out, `imported ${N}, updated 0, failed 5\n`);
    assert.deepEqual(refusals(r.err), [
      'herald: line 10: nickname: is not a known field',
      'herald: line 100: is not JSON',
      'herald: line 1000: must be a JSON object: {"id": "...", "email": "...", ...}',
      'herald: line 2000: id: Invalid input: expected string, received undefined',
      'herald: line 2002: data.__proto__: `__proto__` is not allowed as a key',
    ]);
    assert.doesNotMatch(r.err, /SECRET|Secret|secret/);
    assert.equal(await count(`id LIKE 'j%'`), N);
    assert.equal(await count(`id LIKE 'jbad%'`), 0);
    assert.deepEqual((await h.recipients.get('j1999'))?.data, { n: 1999 });
    // From stdin, with the format named; a JSON line may leave fields out (they are kept).
    const again = spawnSync(
      process.execPath,
      [
        BIN,
        'recipients',
        'import',
        '-',
        '--format',
        'jsonl',
        '--database-url',
        PG_URL,
        '--schema',
        h.config.schema,
      ],
      { encoding: 'utf8', input: '{"id":"j1","locale":"de"}\n{"id":"new1"}\n' },
    );
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, 'imported 1, updated 1, failed 0\n');
    const j1 = await h.recipients.get('j1');
    assert.equal(j1?.locale, 'de');
    assert.equal(j1?.email, 'j1@example.com');
  });

  it('a bad header or format writes nothing and says what to do', async () => {
    const before = await count();
    const file = join(dir, 'header.csv');
    writeFileSync(file, 'id,emial,first_name\nz1,z1@example.com,Zed\n');
    const r = run(file);
    assert.equal(r.code, 2);
    assert.equal(
      r.err.trim().split('\n').at(-1),
      'herald: header column 2: "emial" is not a recipient field (id (required), email, phone, locale, timezone, webhookUrl, slackWebhookUrl, and data.<name> for custom fields); header column 3: "first_name" is not a recipient field (id (required), email, phone, locale, timezone, webhookUrl, slackWebhookUrl, and data.<name> for custom fields)',
    );
    const txt = join(dir, 'people.txt');
    writeFileSync(txt, '');
    const unknown = run(txt);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /cannot tell the format from the name .*people\.txt: give --format/);
    assert.equal(
      run(join(dir, 'missing.csv')).err.trim(),
      `herald: file: cannot read ${join(dir, 'missing.csv')}: no such file`,
    );
    assert.equal(await count(), before);
  });
});
