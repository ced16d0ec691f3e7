/** Input checked against a zod schema, with zod's issues turned into Herald's field issues. */
import type { z } from 'zod';
import { ValidationError } from './errors.js';

/** Turns zod issues into Herald's field issues. */
export function checked<T>(schema: z.ZodType<T>, input: unknown, prefix = ''): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  // `prefix` names the value checked (a path parameter like 'id'); the body is '(body)'.
  const at = (path: PropertyKey[]) =>
    path.length > 0 ? prefix + path.join('.') : prefix || '(body)';
  throw new ValidationError(
    parsed.error.issues.flatMap((i) =>
      // An unknown field is named as the field itself, not as its parent object.
      i.code === 'unrecognized_keys'
        ? i.keys.map((k) => ({ field: at([...i.path, k]), message: 'is not a known field' }))
        : // A bad key of a record (a header name, say): what is wrong with it, not just "invalid".
          i.code === 'invalid_key'
          ? i.issues.map((inner) => ({ field: at(i.path), message: inner.message }))
          : [{ field: at(i.path), message: i.message }],
    ),
  );
}

/**
 * Text PostgreSQL cannot store in text or jsonb: U+0000, and UTF-16 surrogates that are not
 * part of a pair (JSON can carry them as escapes; jsonb refuses them).
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const UNSTORABLE_MESSAGE =
  'contains a NUL character or a lone UTF-16 surrogate, which cannot be stored';

export function isStorableText(s: string): boolean {
  return !s.includes('\u0000') && !LONE_SURROGATE.test(s);
}

/**
 * Where a JSON value has the key `__proto__`, as a field path, or null. JSON.parse makes it an
 * ordinary key, but rebuilding the object (validation does) turns it into a prototype change:
 * the key would vanish from what is stored. Refused rather than half kept.
 */
export function findProtoKey(value: unknown, path = ''): string | null {
  if (value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    const here = path ? `${path}.${k}` : k;
    if (k === '__proto__') return here;
    const found = findProtoKey(v, here);
    if (found) return found;
  }
  return null;
}

/** Where a JSON value holds unstorable text (in a string or a key), as a field path, or null. */
export function findUnstorable(value: unknown, path = ''): string | null {
  if (typeof value === 'string') return isStorableText(value) ? null : path || '(body)';
  if (value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    const here = path ? `${path}.${k}` : k;
    if (!isStorableText(k)) return here;
    const found = findUnstorable(v, here);
    if (found) return found;
  }
  return null;
}

/**
 * JSON nested deeper than this is refused: PostgreSQL's jsonb refuses deep nesting ("stack
 * depth limit exceeded"), and recursive code on it would overflow the stack. No sane
 * notification payload comes close.
 */
export const MAX_JSON_DEPTH = 64;

export const TOO_DEEP_MESSAGE = `is nested deeper than ${MAX_JSON_DEPTH} levels`;

/** Whether `value` nests arrays/objects deeper than `max`; iterative, so any depth is safe. */
export function nestedDeeperThan(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Refuses a JSON value as an HTTP body is refused (http/body.ts) before its schema sees it:
 * nested too deep, a `__proto__` key, or text PostgreSQL cannot store. Throws the ValidationError.
 */
export function checkJsonValue(value: unknown): void {
  // Depth first: the checks after it, and PostgreSQL's jsonb, recurse once per level.
  if (nestedDeeperThan(value))
    throw new ValidationError([{ field: '(body)', message: TOO_DEEP_MESSAGE }]);
  const proto = findProtoKey(value);
  if (proto)
    throw new ValidationError([{ field: proto, message: '`__proto__` is not allowed as a key' }]);
  const bad = findUnstorable(value);
  if (bad) throw new ValidationError([{ field: bad, message: UNSTORABLE_MESSAGE }]);
}
