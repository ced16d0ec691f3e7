/** Reading a request body as JSON, refusing what PostgreSQL cannot store. */
import { ValidationError } from '../errors.js';
import {
  findProtoKey,
  findUnstorable,
  nestedDeeperThan,
  TOO_DEEP_MESSAGE,
  UNSTORABLE_MESSAGE,
} from '../validation.js';

/** The request body as JSON, or a validation problem saying it is not. */
export async function jsonBody(req: Request): Promise<unknown> {
  const text = await req.text();
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError([{ field: '(body)', message: 'must be JSON' }]);
  }
  // Depth first: the checks after it, and PostgreSQL's jsonb, recurse once per level.
  if (nestedDeeperThan(body))
    throw new ValidationError([{ field: '(body)', message: TOO_DEEP_MESSAGE }]);
  const proto = findProtoKey(body);
  if (proto)
    throw new ValidationError([{ field: proto, message: '`__proto__` is not allowed as a key' }]);
  const bad = findUnstorable(body);
  if (bad) throw new ValidationError([{ field: bad, message: UNSTORABLE_MESSAGE }]);
  return body;
}
