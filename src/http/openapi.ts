/**
 * The OpenAPI 3.1 document, built from the operation table (openapi-operations.ts) and the
 * zod schemas that validate requests (openapi-schemas.ts), with zod's own JSON Schema
 * conversion (draft 2020-12, the dialect of OpenAPI 3.1). Served at GET /openapi.json.
 */
import { z } from 'zod';
import { NOTIFICATION_OPERATIONS } from './openapi-notifications.js';
import { ADMIN_OPERATIONS } from './openapi-admin.js';
import { WEBHOOK_OPERATIONS } from './openapi-webhooks.js';
import { TAGS, type Operation, type Param, type Realm } from './openapi-operations.js';
import { RESOURCE_OPERATIONS } from './openapi-resources.js';
import { REMINDER_OPERATIONS } from './openapi-reminders.js';
import { SCHEDULE_OPERATIONS } from './openapi-schedules.js';
import { SCHEMAS, type NamedSchema, type SchemaName } from './openapi-schemas.js';
import { STATUS } from './problem.js';

export type JsonSchema = Record<string, unknown>;

/** The parts of an OpenAPI 3.1 document Herald writes (and its reference page reads). */
export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  tags: { name: string; description: string }[];
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: {
    schemas: Record<string, JsonSchema>;
    securitySchemes: Record<string, Record<string, string>>;
  };
}

export interface OpenApiOperation {
  operationId: string;
  tags: string[];
  summary: string;
  description?: string;
  security: Record<string, string[]>[];
  'x-herald-realm': Realm;
  parameters?: OpenApiParameter[];
  requestBody?: { required: true; content: Record<string, MediaType> };
  responses: Record<string, { description: string; content?: Record<string, MediaType> }>;
}

export interface OpenApiParameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  description: string;
  schema: JsonSchema;
}

export interface MediaType {
  schema: JsonSchema;
  example?: unknown;
  examples?: Record<string, { summary: string; value: unknown }>;
}

/** How each realm authenticates, as OpenAPI security requirements. */
const SECURITY: Record<Realm, Record<string, string[]>[]> = {
  server: [{ apiKey: [] }],
  // Role names in the requirement (OpenAPI 3.1 allows them for non-OAuth schemes).
  admin: [{ apiKey: ['admin'] }],
  recipient: [{ recipientToken: [] }],
  public: [{ unsubscribeToken: [] }],
  none: [],
};

const SECURITY_SCHEMES = {
  apiKey: {
    type: 'http',
    scheme: 'bearer',
    description:
      'A server API key: `herald keys create` prints one (`--admin` for the admin realm), or ' +
      '`HERALD_API_KEY` / `HERALD_ADMIN_KEY`. Opens `/v1/...` except `/v1/me/...`.',
  },
  recipientToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'A JWT the app signs with `HERALD_JWT_SECRET` (HS256): `sub` is the recipient id, `exp` ' +
      'is required. Opens `/v1/me/...` for that recipient only.',
  },
  unsubscribeToken: {
    type: 'apiKey',
    in: 'query',
    name: 'token',
    description: 'The signed token in an unsubscribe link.',
  },
};

/** The problems an operation may answer because of its realm and shape, with when. */
function impliedErrors(op: Operation): Record<string, string> {
  const errors: Record<string, string> = {};
  if (op.realm === 'server' || op.realm === 'admin')
    errors.unauthorized = 'no API key, or one that is not known';
  if (op.realm === 'admin') errors.forbidden = 'the API key is not an admin key';
  if (op.realm === 'server' || op.realm === 'admin')
    errors.rate_limited = 'the API key is over `HERALD_API_RATE_LIMIT` (when set); see Retry-After';
  if (op.realm === 'recipient')
    errors.unauthorized = 'no recipient token, or one that is invalid or expired';
  const checked = [
    ...(Object.values(op.pathParams ?? {}).some((p) => !p.malformedIsNotFound)
      ? ['a path parameter']
      : []),
    ...(op.query || op.headers ? ['a query parameter or header'] : []),
    ...(op.body ? ['the body'] : []),
  ];
  if (checked.length > 0)
    errors.validation_failed =
      `${checked.join(' or ')} breaks a rule (each bad field is listed in \`errors\`)` +
      (op.body ? '; or the body is not JSON' : '');
  if (op.body) errors.payload_too_large = 'the body is over `HERALD_MAX_BODY_BYTES`';
  return errors;
}

function toJsonSchema(schema: z.ZodType, io: NamedSchema['io']): JsonSchema {
  // unrepresentable: 'any' turns what JSON Schema cannot say (a refine's predicate, a
  // transform) into "anything" instead of throwing; the checks still run on requests.
  const json = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  delete json.$schema; // the document's dialect already says it
  return json;
}

const ref = (name: SchemaName): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

function parameters(op: Operation): OpenApiParameter[] {
  const named = [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
  const declared = Object.keys(op.pathParams ?? {});
  if (named.join() !== declared.join())
    throw new Error(`${op.id}: path parameters ${named.join()} but declared ${declared.join()}`);
  const one = (name: string, where: OpenApiParameter['in'], p: Param): OpenApiParameter => ({
    name,
    in: where,
    required: where === 'path' || p.required === true,
    description: p.description,
    schema: toJsonSchema(p.schema, 'input'),
  });
  return [
    ...Object.entries(op.pathParams ?? {}).map(([n, p]) => one(n, 'path', p)),
    ...Object.entries(op.query ?? {}).map(([n, p]) => one(n, 'query', p)),
    ...Object.entries(op.headers ?? {}).map(([n, p]) => one(n, 'header', p)),
  ];
}

function responses(op: Operation): OpenApiOperation['responses'] {
  const out: OpenApiOperation['responses'] = {};
  for (const [status, reply] of Object.entries(op.responses)) {
    const type = reply.contentType ?? 'application/json';
    out[status] =
      reply.schema || reply.contentType
        ? {
            description: reply.description,
            content: { [type]: { schema: reply.schema ? ref(reply.schema) : { type: 'string' } } },
          }
        : { description: reply.description };
  }
  // Problems grouped by status, one example per code.
  const byStatus = new Map<number, [string, string][]>();
  for (const [code, when] of Object.entries({ ...impliedErrors(op), ...op.errors })) {
    const status = STATUS[code];
    if (status === undefined)
      throw new Error(`${op.id}: problem code ${code} has no status in problem.ts`);
    byStatus.set(status, [...(byStatus.get(status) ?? []), [code, when]]);
  }
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = {
      description: codes.map(([code, when]) => `\`${code}\`: ${when}`).join('; '),
      content: {
        'application/problem+json': {
          schema: ref('ProblemDetails'),
          examples: Object.fromEntries(
            codes.map(([code, when]) => [
              code,
              {
                summary: when,
                value: {
                  type: `https://herald.dev/problems/${code}`,
                  title: code.replace(/_/g, ' '),
                  status,
                  detail: when,
                  code,
                },
              },
            ]),
          ),
        },
      },
    };
  }
  return out;
}

function operation(op: Operation): OpenApiOperation {
  const params = parameters(op);
  return {
    operationId: op.id,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    security: SECURITY[op.realm],
    'x-herald-realm': op.realm,
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: true,
            content: {
              [op.body.contentType ?? 'application/json']: {
                schema: ref(op.body.schema),
                ...(op.body.example === undefined ? {} : { example: op.body.example }),
              },
            },
          },
        }
      : {}),
    responses: responses(op),
  };
}

/** The whole operation table, pending entries included. */
export const OPERATIONS: readonly Operation[] = [
  ...RESOURCE_OPERATIONS,
  ...NOTIFICATION_OPERATIONS,
  ...REMINDER_OPERATIONS,
  ...ADMIN_OPERATIONS,
  ...SCHEDULE_OPERATIONS,
  ...WEBHOOK_OPERATIONS,
];

/** The operations the document covers: every table entry that is served. */
export function servedOperations(): Operation[] {
  return OPERATIONS.filter((op) => op.pending === undefined);
}

/** Builds the document; pure, so callers may cache it. Throws if the table is inconsistent. */
export function openApiDocument(version: string): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const op of servedOperations()) {
    const item = (paths[op.path] ??= {});
    if (item[op.method]) throw new Error(`${op.method.toUpperCase()} ${op.path} is listed twice`);
    item[op.method] = operation(op);
  }
  // Only the schemas served operations use: a pending operation's body is not advertised.
  const used = new Set<SchemaName>(['ProblemDetails']);
  for (const op of servedOperations()) {
    if (op.body) used.add(op.body.schema);
    for (const reply of Object.values(op.responses)) if (reply.schema) used.add(reply.schema);
  }
  const schemas: Record<string, JsonSchema> = {};
  for (const name of Object.keys(SCHEMAS) as SchemaName[]) {
    if (!used.has(name)) continue;
    const named: NamedSchema = SCHEMAS[name];
    schemas[name] = { ...toJsonSchema(named.schema, named.io), description: named.description };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Herald API',
      version,
      description:
        'A self-hosted notification engine. Every body is JSON; every error is ' +
        '`application/problem+json` (RFC 9457) with a stable `code`. A refused request ' +
        'changes nothing.',
    },
    tags: TAGS,
    paths,
    components: { schemas, securitySchemes: SECURITY_SCHEMES },
  };
}
