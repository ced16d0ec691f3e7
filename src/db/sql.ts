/**
 * Identifiers cannot travel as parameters, so the one identifier Herald splices into SQL,
 * the schema name, is checked against a strict pattern first and then quoted.
 */
import { HeraldError } from '../errors.js';

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkSchemaName(name: string): string {
  if (!IDENT.test(name)) {
    throw new HeraldError(
      'config_invalid',
      `schema name "${name}" is not allowed: use lower-case letters, digits and _ (at most 63), starting with a letter or _`,
    );
  }
  return name;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
