/**
 * `herald recipients import <file>`: creates or updates recipients from a CSV or JSON-lines
 * file (recipient-lines.ts says what each may hold), 1,000 per statement. A bad line is
 * reported (`line N: field: why`) and skipped, alone; the rest go on, and the command exits 1
 * at the end if any line failed. Each batch is its own transaction: an import cut short keeps
 * the batches before, and running it again is safe (it updates what is there).
 */
import { createReadStream, fstatSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Command } from 'commander';
import { openForCommand, withDbFlags, type SettingsFlags } from './common.js';
import { viaHttp } from './startup.js';
import { print } from './format.js';
import { makeProgress, type Progress } from './progress.js';
import {
  CSV_COLUMNS_HELP,
  csvRecipients,
  jsonlRecipients,
  type RecipientLine,
} from './recipient-lines.js';
import { ValidationError } from '../errors.js';
import { isDatabaseLost } from '../db/faults.js';
import type { Herald } from '../herald.js';
import type { RecipientUpsert } from '../notify/recipients.js';

/** Recipients per transaction (and statement) of an import. */
const BATCH = 1_000;

type Format = 'csv' | 'jsonl';

interface ImportFlags extends SettingsFlags {
  format?: string;
}

export function recipientsCommand(): Command {
  const recipients = new Command('recipients').description('the app’s users, in bulk');
  withDbFlags(recipients.command('import'))
    .description(
      'create or update recipients from a CSV or JSON-lines file, as PUT /v1/recipients/{id} does for one',
    )
    .argument('<file>', 'the file; - reads stdin')
    .option(
      '--format <format>',
      'csv or jsonl (default: from the file name: .csv, .jsonl, .ndjson)',
    )
    .addHelpText(
      'after',
      `
CSV: a header row names the columns: ${CSV_COLUMNS_HELP}.
  An empty cell clears that field; a column left out keeps what is stored.
JSON lines: one object per line, {"id": "ada", "email": "ada@example.com", "data": {...}}:
  the body of PUT /v1/recipients/{id} with the id in it.
A bad line is reported (line N) and skipped; the others are imported, and the exit code is 1.
Prints: imported N (new), updated M (existing), failed K.

Example:
  herald recipients import users.csv
  gunzip -c users.jsonl.gz | herald recipients import - --format jsonl`,
    )
    .action(async (file: string, flags: ImportFlags) => {
      const format = formatOf(file, flags.format);
      const size = sizeOf(file);
      const herald = await openForCommand(
        flags,
        viaHttp('PUT /v1/recipients/{id}, once per recipient'),
      );
      // Opened only now: a stream opened before the database would flow past its reader.
      const input = file === '-' ? process.stdin : createReadStream(file);
      let read = 0;
      input.on('data', (chunk: Buffer | string) => (read += chunk.length));
      try {
        const lines = lineReader(input);
        const progress = makeProgress({ doing: 'importing', what: 'recipients' });
        const maxChars = herald.config.maxBodyBytes;
        const records =
          format === 'csv' ? csvRecipients(lines, maxChars) : jsonlRecipients(lines, maxChars);
        const counts = await importLines(herald, records, progress, () =>
          size ? read / size : undefined,
        ).finally(() => progress.end());
        print(`imported ${counts.created}, updated ${counts.updated}, failed ${counts.failed}`);
        if (counts.failed > 0) process.exitCode = 1;
      } finally {
        input.destroy();
        await herald.close();
      }
    });
  return recipients;
}

interface Counts {
  created: number;
  updated: number;
  failed: number;
}

/** Writes the good lines in batches and reports the bad ones through `progress`. */
async function importLines(
  herald: Herald,
  records: AsyncIterable<RecipientLine>,
  progress: Progress,
  fraction: () => number | undefined,
): Promise<Counts> {
  const counts: Counts = { created: 0, updated: 0, failed: 0 };
  const refuse = (line: number, why: string) => {
    counts.failed++;
    progress.note(`herald: line ${line}: ${why}`);
  };
  let batch: { line: number; recipient: RecipientUpsert }[] = [];
  const flush = async () => {
    for (const created of await writeBatch(herald, batch, refuse)) {
      if (created) counts.created++;
      else counts.updated++;
    }
    batch = [];
  };
  for await (const record of records) {
    if (record.error !== undefined) refuse(record.line, record.error);
    else {
      batch.push(record);
      if (batch.length === BATCH) await flush();
    }
    progress.update(counts.created + counts.updated + counts.failed + batch.length, fraction());
  }
  await flush();
  return counts;
}

/**
 * One transaction for the batch; whether each recipient was created. Should the database
 * refuse the batch (a value the checks let through but a constraint does not), each line is
 * written alone, so only the refused one fails. A lost database is not a line's fault: the
 * import stops.
 */
async function writeBatch(
  herald: Herald,
  batch: { line: number; recipient: RecipientUpsert }[],
  refuse: (line: number, why: string) => void,
): Promise<boolean[]> {
  if (batch.length === 0) return [];
  const write = async (items: RecipientUpsert[]) =>
    (await herald.db.transaction((tx) => herald.recipients.upsertMany(items, tx))).map(
      (r) => r.created,
    );
  try {
    return await write(batch.map((b) => b.recipient));
  } catch (err) {
    if (isDatabaseLost(err)) throw err;
  }
  const written: boolean[] = [];
  for (const { line, recipient } of batch) {
    try {
      written.push(...(await write([recipient])));
    } catch (err) {
      if (isDatabaseLost(err)) throw err;
      // The SQLSTATE only: the database's message may quote the value.
      const code = (err as { code?: unknown }).code;
      refuse(
        line,
        `the database refused it${typeof code === 'string' ? ` (SQLSTATE ${code})` : ''}`,
      );
    }
  }
  return written;
}

function formatOf(file: string, given: string | undefined): Format {
  if (given !== undefined) {
    if (given === 'csv' || given === 'jsonl') return given;
    throw new ValidationError([{ field: '--format', message: 'must be csv or jsonl' }]);
  }
  const ext = extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  throw new ValidationError([
    {
      field: '--format',
      message:
        file === '-'
          ? 'give --format csv or --format jsonl when reading stdin'
          : `cannot tell the format from the name ${file}: give --format csv or --format jsonl`,
    },
  ]);
}

/** The file's size when it is a regular file (for percent), after checking it can be read. */
function sizeOf(file: string): number | undefined {
  try {
    const stat = file === '-' ? fstatSync(0) : statSync(file);
    if (stat.isDirectory())
      throw new ValidationError([{ field: 'file', message: `${file} is a folder` }]);
    return stat.isFile() && stat.size > 0 ? stat.size : undefined;
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
    throw new ValidationError([{ field: 'file', message: `cannot read ${file}: ${why}` }]);
  }
}

/** The stream's lines as UTF-8 text, without a byte order mark at the start. */
async function* lineReader(stream: Readable): AsyncGenerator<string> {
  let first = true;
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    yield first ? line.replace(/^\uFEFF/, '') : line;
    first = false;
  }
}
