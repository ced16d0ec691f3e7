/**
 * CSV records from a stream of lines (RFC 4180: comma-separated; a field in double quotes may
 * hold commas, line breaks and doubled quotes `""`). Each record says the line it starts on,
 * so a bad one is reported as `line N`. A malformed record is reported and skipped, and the
 * next starts on the following line; so is one longer than `maxRecordChars`, which bounds the
 * memory a runaway quote can take.
 */

export type CsvRecord =
  | { line: number; fields: string[]; error?: undefined }
  | { line: number; error: string; fields?: undefined };

export async function* csvRecords(
  lines: AsyncIterable<string>,
  maxRecordChars: number,
): AsyncGenerator<CsvRecord> {
  let lineNo = 0;
  /** The record being read across lines (inside quotes at a line break). */
  let open: { line: number; fields: string[]; field: string; chars: number } | undefined;
  for await (const text of lines) {
    lineNo++;
    if (open && open.chars + text.length > maxRecordChars) {
      yield { line: open.line, error: `is longer than ${maxRecordChars} characters` };
      open = undefined;
      continue;
    }
    if (!open && text.length === 0) continue; // blank lines separate nothing
    const start = open ?? { line: lineNo, fields: [], field: '', chars: 0 };
    if (!open && text.length > maxRecordChars) {
      yield { line: lineNo, error: `is longer than ${maxRecordChars} characters` };
      continue;
    }
    const parsed = parseLine(text, open ? { fields: start.fields, field: start.field } : null);
    if ('error' in parsed) {
      yield { line: start.line, error: parsed.error };
      open = undefined;
    } else if (parsed.inQuotes) {
      open = {
        line: start.line,
        fields: parsed.fields,
        field: parsed.field + '\n',
        chars: start.chars + text.length + 1,
      };
    } else {
      yield { line: start.line, fields: parsed.fields };
      open = undefined;
    }
  }
  if (open) yield { line: open.line, error: 'has a quoted field that is never closed' };
}

type Parsed = { fields: string[]; field: string; inQuotes: boolean } | { error: string };

/**
 * One physical line; `carry` is the record continued from the line before, whose last field
 * is still inside quotes. Ends inside quotes or with the record's fields.
 */
function parseLine(text: string, carry: { fields: string[]; field: string } | null): Parsed {
  const fields = carry ? [...carry.fields] : [];
  let field = carry ? carry.field : '';
  let inQuotes = carry !== null;
  let quoted = carry !== null; // this field began with a quote
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (inQuotes) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        inQuotes = false;
        i++;
        const next = text[i];
        if (next !== undefined && next !== ',')
          return { error: 'has text after a closing quote (a quote inside a field is written "")' };
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === ',') {
      fields.push(field);
      field = '';
      quoted = false;
      i++;
      continue;
    }
    if (c === '"' && field === '' && !quoted) {
      inQuotes = true;
      quoted = true;
      i++;
      continue;
    }
    if (c === '"') return { error: 'has a quote inside an unquoted field (quote the field)' };
    field += c;
    i++;
  }
  if (inQuotes) return { fields, field, inQuotes: true };
  fields.push(field);
  return { fields, field: '', inQuotes: false };
}
