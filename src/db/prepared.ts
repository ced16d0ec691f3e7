/**
 * Statements worth preparing: the few run for every job (the queue's insert, claim and
 * completion). Parsing and planning such a statement again on every call was about a tenth of
 * the server's profile at 500 jobs/s, and prepared, the median wait from enqueue in one process
 * to start in another fell from 2.7 to 1.6 ms on the two-core development machine.
 * The PostgreSQL driver (pg.ts) sends a statement marked here as a named prepared statement,
 * parsed once per connection; PGlite runs it like every other statement. Marking is by text, so a caller's
 * own transaction (`enqueue(spec, { tx })`) gets the plain statement.
 *
 * Behind a pooler that hands each transaction a different server connection (PgBouncer before
 * 1.21 in transaction mode) named statements fail: they are off when
 * `HERALD_DIRECT_DATABASE_URL` is set, or turn them off with `HERALD_PREPARED_STATEMENTS=false`
 * (docs/scaling.md).
 */
import { createHash } from 'node:crypto';

const names = new Map<string, string>();

/** Marks `text` as worth preparing and returns it unchanged. */
export function prepared(text: string): string {
  if (!names.has(text)) {
    // The name follows from the text, so every process and connection agrees on it, and a
    // statement of another schema (another text) gets another name.
    names.set(text, `herald_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`);
  }
  return text;
}

/** The prepared statement's name for `text`, or undefined if it was not marked. */
export function preparedName(text: string): string | undefined {
  return names.get(text);
}
