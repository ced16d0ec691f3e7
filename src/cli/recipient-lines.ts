/**
 * The recipients of an import file, one by one, each checked as PUT /v1/recipients/{id}
 * checks its body (`checkRecipient`), or the reason its line is refused. A reason names the
 * line and the field, never the value: import files hold personal data.
 *
 * CSV: a header row names the columns: `id` (required), `email`, `phone`, `locale`,
 * `timezone`, `webhookUrl`, `slackWebhookUrl` (any case), and `data.<name>` for each custom
 * field (kept in `data` as text). An empty cell clears that field (a column left out keeps
 * what is stored); `data.*` columns replace `data` whole, without their empty cells.
 *
 * JSON lines: one object per line, `{"id": ..., ...}` with the rest as PUT's body.
 */
import { checkRecipient, type RecipientUpsert } from '../notify/recipients.js';
import { ValidationError } from '../errors.js';
import { checkJsonValue } from '../validation.js';
import { csvRecords } from './csv.js';

export type RecipientLine =
  | { line: number; recipient: RecipientUpsert; error?: undefined }
  | { line: number; error: string; recipient?: undefined };

/** The columns of a CSV file that are recipient fields (by lower-cased name). */
const FIELD_COLUMNS: Record<string, string> = {
  email: 'email',
  phone: 'phone',
  locale: 'locale',
  timezone: 'timezone',
  webhookurl: 'webhookUrl',
  slackwebhookurl: 'slackWebhookUrl',
};

export const CSV_COLUMNS_HELP =
  'id (required), email, phone, locale, timezone, webhookUrl, slackWebhookUrl, and data.<name> for custom fields';

/** What a cell goes to: the id, a field of the body, or a key of `data`. */
type Column = { to: 'id' } | { to: 'field'; name: string } | { to: 'data'; name: string };

function columnNamed(name: string): Column | undefined {
  const lower = name.toLowerCase();
  if (lower === 'id') return { to: 'id' };
  const field = FIELD_COLUMNS[lower];
  if (field) return { to: 'field', name: field };
  if (name.startsWith('data.') && name.length > 'data.'.length)
    return { to: 'data', name: name.slice('data.'.length) };
  return undefined;
}

/** The header's columns, or a ValidationError naming the bad ones (then nothing is read on). */
export function csvColumns(header: string[]): Column[] {
  const issues: { field: string; message: string }[] = [];
  const seen = new Set<string>();
  const columns = header.map((raw, i): Column => {
    const name = raw.trim();
    const column = columnNamed(name);
    const at = `header column ${i + 1}`;
    if (!column) {
      issues.push({
        field: at,
        message: `"${name}" is not a recipient field (${CSV_COLUMNS_HELP})`,
      });
      return { to: 'data', name };
    }
    const key = column.to === 'id' ? 'id' : `${column.to}:${column.name}`;
    if (seen.has(key)) issues.push({ field: at, message: `"${name}" is there twice` });
    seen.add(key);
    return column;
  });
  if (!seen.has('id'))
    issues.push({ field: 'header', message: 'has no id column (the first row names the columns)' });
  if (issues.length > 0) throw new ValidationError(issues);
  return columns;
}

/** A CSV file's recipients; throws a ValidationError for a bad header, before any recipient. */
export async function* csvRecipients(
  lines: AsyncIterable<string>,
  maxRecordChars: number,
): AsyncGenerator<RecipientLine> {
  let columns: Column[] | undefined;
  for await (const record of csvRecords(lines, maxRecordChars)) {
    if (record.error !== undefined) {
      if (!columns) throw new ValidationError([{ field: 'header', message: record.error }]);
      yield { line: record.line, error: record.error };
      continue;
    }
    if (!columns) {
      columns = csvColumns(record.fields);
      continue;
    }
    if (record.fields.length !== columns.length) {
      yield {
        line: record.line,
        error: `has ${record.fields.length} fields, the header has ${columns.length}`,
      };
      continue;
    }
    let id: string | undefined;
    const body: Record<string, unknown> = {};
    let data: Record<string, string> | undefined;
    columns.forEach((column, i) => {
      const cell = record.fields[i] as string;
      if (column.to === 'id') id = cell;
      else if (column.to === 'field') body[column.name] = cell === '' ? null : cell;
      else {
        data ??= {};
        if (cell !== '') data[column.name] = cell;
      }
    });
    if (data) body.data = data;
    yield checkedLine(record.line, id, body);
  }
  if (!columns) throw new ValidationError([{ field: 'header', message: 'the file is empty' }]);
}

/** A JSON-lines file's recipients; blank lines are skipped. */
export async function* jsonlRecipients(
  lines: AsyncIterable<string>,
  maxLineChars: number,
): AsyncGenerator<RecipientLine> {
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === '') continue;
    if (text.length > maxLineChars) {
      yield { line, error: `is longer than ${maxLineChars} characters` };
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // The parser's message quotes the text: say only that it is not JSON.
      yield { line, error: 'is not JSON' };
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      yield { line, error: 'must be a JSON object: {"id": "...", "email": "...", ...}' };
      continue;
    }
    const { id, ...body } = value as Record<string, unknown>;
    yield checkedLine(line, id, body);
  }
}

/** One recipient checked; a refusal as `field: message; ...`. */
function checkedLine(line: number, id: unknown, body: Record<string, unknown>): RecipientLine {
  try {
    checkJsonValue(body);
    return { line, recipient: checkRecipient(id, body) };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return { line, error: err.issues.map((i) => `${i.field}: ${i.message}`).join('; ') };
  }
}
