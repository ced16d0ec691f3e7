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
        : [{ field: at(i.path), message: i.message }],
    ),
  );
}
