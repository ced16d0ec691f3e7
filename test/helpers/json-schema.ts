/**
 * A small JSON Schema (draft 2020-12) checker for the keywords zod's conversion writes:
 * enough to check examples and live answers against the OpenAPI document in tests. Not a
 * general validator: unknown keywords are ignored, `format` only for date-time and uuid.
 */
export type Schema = Record<string, unknown>;

const FORMATS: Record<string, RegExp> = {
  'date-time': /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
};

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** The reasons `value` does not match `schema` (empty when it does). */
export function schemaErrors(
  schema: Schema,
  value: unknown,
  components: Record<string, Schema> = {},
  at = '$',
): string[] {
  const errs: string[] = [];
  const sub = (s: unknown, v: unknown, where: string) =>
    schemaErrors(s as Schema, v, components, where);
  if (typeof schema.$ref === 'string') {
    const target = components[schema.$ref.replace('#/components/schemas/', '')];
    if (!target) return [`${at}: unresolved ${schema.$ref}`];
    errs.push(...sub(target, value, at));
  }
  const t = typeOf(value);
  if (schema.type !== undefined) {
    const types = [schema.type].flat() as string[];
    const ok = types.includes(t) || (types.includes('number') && t === 'integer');
    if (!ok) return [...errs, `${at}: is ${t}, not ${types.join(' or ')}`];
  }
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(value))
    errs.push(`${at}: is not ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => e === value))
    errs.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((s) => sub(s, value, at).length === 0))
    errs.push(`${at}: matches no anyOf branch`);
  if (Array.isArray(schema.oneOf)) {
    const n = schema.oneOf.filter((s) => sub(s, value, at).length === 0).length;
    if (n !== 1) errs.push(`${at}: matches ${n} oneOf branches, not 1`);
  }
  if (Array.isArray(schema.allOf)) for (const s of schema.allOf) errs.push(...sub(s, value, at));
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength)
      errs.push(`${at}: shorter than ${schema.minLength}`);
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength)
      errs.push(`${at}: longer than ${schema.maxLength}`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value))
      errs.push(`${at}: does not match ${schema.pattern}`);
    const format = FORMATS[String(schema.format)];
    if (format && !format.test(value)) errs.push(`${at}: is not a ${String(schema.format)}`);
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum)
      errs.push(`${at}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum)
      errs.push(`${at}: above ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems)
      errs.push(`${at}: fewer than ${schema.minItems} items`);
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems)
      errs.push(`${at}: more than ${schema.maxItems} items`);
    if (schema.items) value.forEach((v, i) => errs.push(...sub(schema.items, v, `${at}[${i}]`)));
  }
  if (t === 'object') {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of (schema.required as string[] | undefined) ?? [])
      if (!(key in obj)) errs.push(`${at}: lacks required ${key}`);
    for (const [key, v] of Object.entries(obj)) {
      const where = `${at}.${key}`;
      if (schema.propertyNames) errs.push(...sub(schema.propertyNames, key, `${where} (key)`));
      if (props[key]) errs.push(...sub(props[key], v, where));
      else if (schema.additionalProperties === false) errs.push(`${where}: is not allowed`);
      else if (typeof schema.additionalProperties === 'object')
        errs.push(...sub(schema.additionalProperties, v, where));
    }
  }
  return errs;
}
