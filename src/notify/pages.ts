/**
 * Pages of a server-realm list ordered by a text key (type names, recipient ids): `limit`
 * items after `cursor`, and the cursor of the next page. The cursor is the last key, base64url,
 * opaque to clients; a cursor this API did not give out is a validation error.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';

export const pageQuerySchema = z.strictObject({
  cursor: z.string().max(1_000).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** The key a cursor stands for. */
export function keyOf(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString();
  if (key.length === 0 || Buffer.from(key).toString('base64url') !== cursor)
    throw new ValidationError([{ field: 'cursor', message: 'is not a cursor this API gave out' }]);
  return key;
}

/** The page of `rows` (read with `limit + 1`, ordered by `key`), and its next cursor. */
export function pageOf<R, T>(
  rows: R[],
  limit: number,
  key: (row: R) => string,
  item: (row: R) => T,
): Page<T> {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(item),
    nextCursor:
      rows.length > limit && last !== undefined
        ? Buffer.from(key(last)).toString('base64url')
        : null,
  };
}
