/**
 * The OpenAPI document stays true: its structure is OpenAPI 3.1; every route the Hono app
 * registers is in it and everything in it is served; request schemas converted from zod agree
 * with zod on examples and spot checks; live answers match the response schemas.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import { SignJWT } from 'jose';
import { z } from 'zod';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { OPERATIONS, openApiDocument, type OpenApiDocument } from '../src/http/openapi.js';
import { SCHEMAS, type SchemaName } from '../src/http/openapi-schemas.js';
import type { InboxPage } from '../src/notify/inbox.js';
import type { NotificationDetail } from '../src/notify/notifications.js';
import type { SendResult } from '../src/notify/send.js';
import { apiCaller, type Call } from './helpers/api.js';
import { closeHerald, openHerald } from './helpers/db.js';
import { schemaErrors, type Schema } from './helpers/json-schema.js';

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
const KEY = 'openapi-test-server-key-0123456789';
const SECRET = 'an-openapi-test-jwt-secret-of-32-chars!';
/** Routes that serve the document itself, not part of the API it describes. */
const DOCS_ROUTES = new Set(['GET /openapi.json', 'GET /docs']);
/** The console's pages and forms (docs/console.md): HTML for people, not the API. */
const isConsole = (route: string) => / \/admin(\/|$)/.test(route);

// The response schemas written out for TypeScript interfaces must stay the same type.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Out<N extends SchemaName> = z.output<(typeof SCHEMAS)[N]['schema']>;
const sameShapes: [
  Same<Out<'InboxPage'>, InboxPage>,
  Same<Out<'Notification'>, NotificationDetail>,
  Same<Out<'TriggerResult'>, Omit<SendResult, 'replayed'>>,
] = [true, true, true];

const doc: OpenApiDocument = openApiDocument(VERSION);
const components = doc.components.schemas as Record<string, Schema>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** Every `$ref` anywhere in a value. */
function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refs(v, out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  return out;
}

describe('OpenAPI document', () => {
  let herald: Herald;
  let app: Hono;
  let call: Call;
  before(async () => {
    herald = await openHerald('pglite', { apiKey: KEY, jwtSecret: SECRET });
    app = makeApp(herald);
    call = apiCaller(app, KEY);
  });
  after(async () => {
    await closeHerald(herald);
  });

  it('is OpenAPI 3.1 in structure', () => {
    assert.deepEqual(sameShapes, [true, true, true]);
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.info.version, VERSION);
    assert.ok(doc.info.title);
    const ids = new Set<string>();
    const tags = new Set(doc.tags.map((t) => t.name));
    for (const [path, item] of Object.entries(doc.paths)) {
      assert.match(path, /^\/[^:]*$/, `${path}: OpenAPI form, /x/{id}`);
      for (const [method, op] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        assert.ok(METHODS.includes(method), where);
        assert.ok(!ids.has(op.operationId), `${where}: operationId ${op.operationId} twice`);
        ids.add(op.operationId);
        assert.ok(
          op.tags.every((t) => tags.has(t)),
          `${where}: a tag not in tags`,
        );
        const statuses = Object.keys(op.responses);
        // A WebSocket endpoint's success is 101 Switching Protocols.
        assert.ok(
          statuses.some((s) => /^2\d\d$/.test(s) || s === '101'),
          `${where}: no 2xx response`,
        );
        for (const [status, res] of Object.entries(op.responses)) {
          assert.match(status, /^[1-5]\d\d$/, where);
          assert.ok(res.description, `${where} ${status}: a response needs a description`);
        }
        const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
        const declared = (op.parameters ?? [])
          .filter((p) => p.in === 'path')
          .map((p) => (assert.equal(p.required, true, where), p.name))
          .sort();
        assert.deepEqual(declared, inPath, `${where}: path parameters`);
        for (const [name] of Object.entries(op.security[0] ?? {}))
          assert.ok(name in doc.components.securitySchemes, `${where}: scheme ${name}`);
      }
    }
    for (const ref of refs(doc)) {
      assert.match(ref, /^#\/components\/schemas\//);
      assert.ok(components[ref.split('/').at(-1) ?? ''], `${ref} does not resolve`);
    }
    const problem = components.ProblemDetails as Schema;
    assert.deepEqual(Object.keys(problem.properties as object).sort(), [
      'code',
      'detail',
      'errors',
      'status',
      'title',
      'type',
    ]);
  });

  it('lists every route the app serves, and serves every operation it lists', () => {
    const served = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL')
        .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`)
        .filter((r) => !DOCS_ROUTES.has(r) && !isConsole(r)),
    );
    const listed = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths))
      for (const method of Object.keys(item)) listed.add(`${method.toUpperCase()} ${path}`);
    const pending = new Map(
      OPERATIONS.filter((op) => op.pending).map((op) => [
        `${op.method.toUpperCase()} ${op.path}`,
        op,
      ]),
    );
    for (const route of served) {
      const waiting = pending.get(route);
      assert.ok(
        !waiting,
        `${route} is served now: remove \`pending: '${waiting?.pending}'\` from its entry ` +
          `(${waiting?.id}) in src/http/openapi-*.ts and check the entry is true`,
      );
      assert.ok(
        listed.has(route),
        `${route} is served but not in the OpenAPI document: add an entry to the operation ` +
          'table (src/http/openapi-resources.ts or openapi-notifications.ts)',
      );
    }
    for (const op of listed)
      assert.ok(served.has(op), `${op} is in the OpenAPI document but the app does not serve it`);
  });

  it('/openapi.json serves the document; /docs a page without auth', async () => {
    const res = await app.request('/openapi.json');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), JSON.parse(JSON.stringify(doc)));
    const page = await app.request('/docs');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  });

  it('converts every named schema both ways without throwing', () => {
    for (const [name, named] of Object.entries(SCHEMAS))
      for (const io of ['input', 'output'] as const)
        assert.doesNotThrow(
          () =>
            z.toJSONSchema(named.schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }),
          `${name} as ${io}`,
        );
  });

  it('request bodies: zod and the JSON Schema both accept the examples and agree on refusals', () => {
    let checkedRefusals = 0;
    for (const op of OPERATIONS) {
      if (!op.body) continue;
      const zodSchema = SCHEMAS[op.body.schema].schema;
      const json = z.toJSONSchema(zodSchema, { io: 'input', target: 'draft-2020-12' }) as Schema;
      const example = op.body.example as Record<string, unknown> | undefined;
      assert.ok(example, `${op.id}: give the body an example`);
      assert.deepEqual(zodSchema.safeParse(example).error?.issues ?? [], [], `${op.id}: zod`);
      assert.deepEqual(schemaErrors(json, example), [], `${op.id}: JSON Schema`);
      if (json.type !== 'object') continue;
      // What the JSON Schema says is required or closed, zod refuses too.
      const refuse = (bad: unknown, what: string) => {
        assert.ok(schemaErrors(json, bad).length > 0, `${op.id}: JSON Schema accepts ${what}`);
        assert.equal(zodSchema.safeParse(bad).success, false, `${op.id}: zod accepts ${what}`);
        checkedRefusals++;
      };
      if (json.additionalProperties === false)
        refuse({ ...example, notAField: 1 }, 'an unknown field');
      for (const key of (json.required as string[] | undefined) ?? []) {
        const without = { ...example };
        delete without[key];
        refuse(without, `no ${key}`);
      }
      for (const [key, prop] of Object.entries(json.properties as Record<string, Schema>))
        if (Array.isArray(prop.enum)) refuse({ ...example, [key]: 'not-in-the-enum' }, key);
    }
    assert.ok(checkedRefusals >= 10, `only ${checkedRefusals} refusals checked`);
    // The spot check the issue names: the recipient body is closed in both.
    const recipient = components.RecipientInput as Schema;
    assert.equal(recipient.additionalProperties, false);
    assert.equal(SCHEMAS.RecipientInput.schema.safeParse({ nickname: 'x' }).success, false);
  });

  it('live answers match the response schemas', async () => {
    const check = async (res: Response, schema: SchemaName, what: string) => {
      assert.ok(res.ok, `${what}: ${res.status} ${await res.clone().text()}`);
      const body: unknown = await res.json();
      assert.deepEqual(
        schemaErrors({ $ref: `#/components/schemas/${schema}` }, body, components),
        [],
        what,
      );
      return body;
    };
    await check(await app.request('/health'), 'Health', 'health');
    await check(await app.request('/ready'), 'Ready', 'ready');
    await check(
      await call('PUT', '/v1/recipients/u-1', {
        email: 'u1@example.com',
        timezone: 'Europe/Berlin',
      }),
      'Recipient',
      'recipient',
    );
    await check(await call('GET', '/v1/recipients/u-1/preferences'), 'Preferences', 'preferences');
    await check(
      await call('POST', '/v1/recipients/u-1/devices', { kind: 'fcm', token: 'f'.repeat(40) }),
      'Device',
      'device',
    );
    await check(await call('GET', '/v1/recipients/u-1/devices'), 'DeviceList', 'devices');
    const type = {
      channels: ['inapp'],
      templates: { inapp: { title: 'Hi {{name}}', body: 'Welcome' } },
    };
    await check(await call('PUT', '/v1/types/welcome', type), 'NotificationType', 'type');
    await check(
      await call('POST', '/v1/types/welcome/preview', { data: { name: 'Ada' } }),
      'Rendered',
      'preview',
    );
    const sent = (await check(
      await call('POST', '/v1/notifications', { type: 'welcome', to: 'u-1', data: { name: 'A' } }),
      'TriggerResult',
      'trigger',
    )) as { notifications: { id: string }[] };
    const id = sent.notifications[0]?.id ?? '';
    await check(await call('GET', `/v1/notifications/${id}`), 'Notification', 'notification');
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u-1')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    await check(await call('GET', '/v1/me/notifications', undefined, jwt), 'InboxPage', 'inbox');
    await check(await call('GET', '/v1/me/unread-count', undefined, jwt), 'UnreadCount', 'count');
    const missing = await call('GET', '/v1/recipients/nobody');
    assert.equal(missing.headers.get('content-type'), 'application/problem+json');
    await check(new Response(await missing.text(), { status: 200 }), 'ProblemDetails', 'a problem');
  });
});
