/**
 * The API reference page, rendered on the server from the OpenAPI document: one
 * self-contained HTML file (inline CSS, a few lines of inline JS for the filter box, nothing
 * fetched from elsewhere). Every interpolated value goes through `esc`.
 */
import { createHash } from 'node:crypto';
import type { JsonSchema, OpenApiDocument, OpenApiOperation, OpenApiParameter } from './openapi.js';

export interface ReferencePage {
  html: string;
  /** A Content-Security-Policy that allows exactly this page's inline style and script. */
  csp: string;
}

const esc = (value: unknown): string =>
  String(value).replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch,
  );

/** Inline `code` spans in the document's prose, escaped. */
const prose = (text: string): string =>
  esc(text).replace(/`([^`]+)`/g, (_, code: string) => `<code>${code}</code>`);

const pretty = (value: unknown): string => esc(JSON.stringify(value, null, 2));

const REALMS: Record<string, string> = {
  server: 'API key',
  admin: 'admin API key',
  recipient: 'recipient token (JWT)',
  public: 'signed token in the link',
  none: 'none',
};

const STYLE = `
*{box-sizing:border-box}[hidden]{display:none!important}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;display:flex}
nav{position:sticky;top:0;height:100vh;overflow:auto;width:340px;flex:none;background:#f4f5f8;border-right:1px solid #dde0e7;padding:16px}
nav .brand{font-weight:700;font-size:18px}nav .brand span{font-weight:400;color:#667}
nav input{width:100%;margin:12px 0;padding:6px 8px;font:inherit;border:1px solid #bbc;border-radius:6px}
nav h2{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#667;margin:14px 0 4px}
nav ul{list-style:none;margin:0;padding:0}nav li a{display:flex;gap:6px;align-items:baseline;padding:2px 4px;border-radius:4px;color:inherit;text-decoration:none;font-size:13px}
nav li a:hover{background:#e3e6ee}nav .m{min-width:50px;flex:none}nav code{font-size:12px;overflow-wrap:anywhere}
main{flex:1;min-width:0;padding:24px 40px;max-width:1100px}
h1{margin-top:0}h2{border-bottom:1px solid #dde0e7;padding-bottom:4px;margin-top:40px}
.op{border:1px solid #dde0e7;border-radius:8px;padding:4px 20px 12px;margin:20px 0}
.op h3{font-size:17px;margin:14px 0 4px}.op h4{margin:16px 0 6px;font-size:14px}
.m{display:inline-block;min-width:58px;text-align:center;border-radius:4px;padding:0 6px;font:600 12px/20px ui-monospace,monospace;color:#fff;background:#667}
.m-get{background:#1f7a4d}.m-put{background:#a05a00}.m-post{background:#1f5fa8}.m-delete{background:#b0283a}
.realm{color:#556;font-size:13px}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
pre{background:#f4f5f8;padding:10px;border-radius:6px;overflow:auto}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{text-align:left;vertical-align:top;border-bottom:1px solid #e6e8ee;padding:4px 8px}
th{font-weight:600;color:#556}table.fields td:first-child{width:30%}table.fields td:nth-child(2){width:22%}table.fields td:nth-child(3){width:9%}td.req{color:#b0283a;font-size:12px}
details summary{cursor:pointer;color:#1f5fa8;font-size:13px;margin:6px 0}
`;

// The filter: every word typed must appear in an operation's method, path, summary or tag.
const SCRIPT = `
const box = document.getElementById('filter');
box.addEventListener('input', () => {
  const words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
  for (const el of document.querySelectorAll('[data-search]'))
    el.hidden = !words.every((w) => el.dataset.search.includes(w));
  for (const group of document.querySelectorAll('[data-group]'))
    group.hidden = !group.querySelector('[data-search]:not([hidden])');
});
`;

type Components = OpenApiDocument['components']['schemas'];

function resolve(schema: JsonSchema, components: Components): JsonSchema {
  const target = schema.$ref;
  if (typeof target !== 'string') return schema;
  return components[target.replace('#/components/schemas/', '')] ?? {};
}

const variants = (s: JsonSchema): JsonSchema[] | undefined =>
  (s.oneOf ?? s.anyOf) as JsonSchema[] | undefined;

/** A short type label: `string (email) | null`, `map of boolean`, `"a" | "b"`. */
function typeLabel(s: JsonSchema): string {
  if (typeof s.$ref === 'string') return s.$ref.replace('#/components/schemas/', '');
  if ('const' in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  const union = variants(s);
  if (union) return union.map(typeLabel).join(' | ');
  if (s.type === 'array') return `array of ${nested((s.items as JsonSchema) ?? {})}`;
  if (s.type === 'object') {
    const values = s.additionalProperties;
    if (!s.properties && values && typeof values === 'object')
      return `map of ${nested(values as JsonSchema)}`;
    return 'object';
  }
  if (Array.isArray(s.type)) return s.type.join(' | ');
  if (typeof s.type === 'string')
    return typeof s.format === 'string' ? `${s.type} (${s.format})` : s.type;
  return 'any';
}

/** A label inside another (`map of (a | b)`), in parentheses when it is a union. */
function nested(s: JsonSchema): string {
  const label = typeLabel(s);
  return label.includes(' | ') ? `(${label})` : label;
}

/** The rules of a schema, in words. */
function notes(s: JsonSchema): string[] {
  const out: string[] = [];
  const nonNull = variants(s)?.filter((v) => v.type !== 'null');
  if (nonNull?.length === 1 && nonNull[0]) out.push(...notes(nonNull[0]));
  if (typeof s.description === 'string') out.push(s.description);
  const keys = s.propertyNames as JsonSchema | undefined;
  if (keys?.enum) out.push(`keys: ${(keys.enum as unknown[]).join(', ')}`);
  if (typeof keys?.pattern === 'string') out.push(`keys match ${keys.pattern}`);
  const rule = (key: string, words: string) => {
    const value = s[key];
    // z.int() states the safe-integer range; that goes without saying.
    if (typeof value === 'number' && Math.abs(value) >= Number.MAX_SAFE_INTEGER) return;
    // A format says it better than its long regular expression.
    if (key === 'pattern' && typeof s.format === 'string') return;
    if (typeof value === 'number' || typeof value === 'string') out.push(`${words} ${value}`);
  };
  rule('minLength', 'at least');
  rule('maxLength', 'at most');
  rule('minimum', '≥');
  rule('maximum', '≤');
  rule('minItems', 'items ≥');
  rule('maxItems', 'items ≤');
  rule('pattern', 'matches');
  if (s.default !== undefined) out.push(`default ${JSON.stringify(s.default)}`);
  return out;
}

interface Row {
  name: string;
  schema: JsonSchema;
  required: boolean;
}

/** Flattens an object schema's fields into rows: `quietHours.start`, `schedules.{key}.time`. */
function rows(s: JsonSchema, prefix: string, depth: number, out: Row[]): Row[] {
  const props = (s.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((s.required as string[] | undefined) ?? []);
  for (const [key, prop] of Object.entries(props)) {
    const name = prefix + key;
    out.push({ name, schema: prop, required: required.has(key) });
    if (depth >= 3) continue;
    const inner = variants(prop)?.find((v) => v.type === 'object') ?? prop;
    const values = inner.additionalProperties as JsonSchema | undefined;
    const items = inner.type === 'array' ? (inner.items as JsonSchema | undefined) : undefined;
    if (inner.properties) rows(inner, `${name}.`, depth + 1, out);
    else if (items?.properties) rows(items, `${name}[].`, depth + 1, out);
    else if (values && typeof values === 'object' && values.properties)
      rows(values, `${name}.{key}.`, depth + 1, out);
  }
  return out;
}

function fieldTable(s: JsonSchema): string {
  const body = rows(s, '', 0, [])
    .map(
      (r) =>
        `<tr><td><code>${esc(r.name)}</code></td><td>${esc(typeLabel(r.schema))}</td>` +
        `<td class="req">${r.required ? 'required' : ''}</td>` +
        `<td>${notes(r.schema).map(prose).join('; ')}</td></tr>`,
    )
    .join('');
  return `<table class="fields"><tr><th>field</th><th>type</th><th></th><th>rules</th></tr>${body}</table>`;
}

/** A union's branch by its discriminator (`kind = "apns"`), or by number. */
function variantName(v: JsonSchema, i: number): string {
  const props = (v.properties ?? {}) as Record<string, JsonSchema>;
  const tag = Object.entries(props).find(([, p]) => 'const' in p);
  return tag ? `${tag[0]} = ${JSON.stringify(tag[1].const)}` : `Variant ${i + 1}`;
}

/** A schema as readable tables (one per variant of a union), with its JSON Schema folded. */
function schemaBlock(ref: JsonSchema, components: Components): string {
  const s = resolve(ref, components);
  const name = typeLabel(ref);
  const parts = [
    `<p><code>${esc(name)}</code>${typeof s.description === 'string' ? ': ' + prose(s.description) : ''}</p>`,
  ];
  const union = variants(s);
  const items = s.type === 'array' ? (s.items as JsonSchema | undefined) : undefined;
  if (union?.every((v) => v.properties)) {
    union.forEach((v, i) => parts.push(`<p>${esc(variantName(v, i))}:</p>${fieldTable(v)}`));
  } else if (s.properties) {
    parts.push(fieldTable(s));
  } else if (items?.properties) {
    parts.push(`<p>An array of:</p>${fieldTable(items)}`);
  } else {
    parts.push(`<p>${esc(typeLabel(s))}</p>`);
  }
  parts.push(`<details><summary>JSON Schema</summary><pre>${pretty(s)}</pre></details>`);
  return parts.join('');
}

function paramsTable(params: OpenApiParameter[]): string {
  const body = params
    .map(
      (p) =>
        `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td>` +
        `<td>${esc(typeLabel(p.schema))}</td><td class="req">${p.required ? 'required' : ''}</td>` +
        `<td>${[p.description.replace(/\.$/, ''), ...notes(p.schema)].map(prose).join('; ')}</td></tr>`,
    )
    .join('');
  return `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th></th><th>about</th></tr>${body}</table>`;
}

function responsesTable(op: OpenApiOperation, components: Components): string {
  const success: string[] = [];
  const problems: string[] = [];
  for (const [status, res] of Object.entries(op.responses)) {
    const problem = res.content?.['application/problem+json'];
    if (problem) {
      for (const [code, ex] of Object.entries(problem.examples ?? {}))
        problems.push(
          `<tr><td>${esc(status)}</td><td><code>${esc(code)}</code></td><td>${prose(ex.summary)}</td></tr>`,
        );
      continue;
    }
    const [type, media] = Object.entries(res.content ?? {})[0] ?? [];
    const shape = media
      ? `<td>${esc(type)}: <code>${esc(typeLabel(media.schema))}</code></td>`
      : '<td>no body</td>';
    success.push(`<tr><td>${esc(status)}</td><td>${prose(res.description)}</td>${shape}</tr>`);
  }
  const bodies = Object.values(op.responses)
    .flatMap((r) => Object.entries(r.content ?? {}))
    .filter(([type, m]) => type === 'application/json' && typeof m.schema.$ref === 'string')
    .map(([, m]) => m.schema);
  const distinct = [...new Map(bodies.map((b) => [b.$ref, b])).values()];
  return (
    `<h4>Responses</h4><table><tr><th>status</th><th>when</th><th>body</th></tr>${success.join('')}</table>` +
    distinct.map((b) => schemaBlock(b, components)).join('') +
    (problems.length > 0
      ? `<h4>Errors (application/problem+json)</h4><table><tr><th>status</th><th>code</th><th>when</th></tr>${problems.join('')}</table>`
      : '')
  );
}

function requestBody(op: OpenApiOperation, components: Components): string {
  const [type, media] = Object.entries(op.requestBody?.content ?? {})[0] ?? [];
  if (!type || !media) return '';
  const example = media.example;
  return (
    `<h4>Request body (${esc(type)})</h4>${schemaBlock(media.schema, components)}` +
    (example === undefined ? '' : `<p>Example:</p><pre>${pretty(example)}</pre>`)
  );
}

const searchText = (method: string, path: string, op: OpenApiOperation) =>
  esc(`${method} ${path} ${op.summary} ${op.tags.join(' ')}`.toLowerCase());

function operationHtml(method: string, path: string, op: OpenApiOperation, doc: OpenApiDocument) {
  const components = doc.components.schemas;
  return (
    `<article class="op" id="op-${esc(op.operationId)}" data-search="${searchText(method, path, op)}">` +
    `<h3><span class="m m-${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>` +
    `<p><strong>${prose(op.summary)}</strong></p>` +
    `<p class="realm">Auth: ${esc(REALMS[op['x-herald-realm']] ?? op['x-herald-realm'])}</p>` +
    (op.description ? `<p>${prose(op.description)}</p>` : '') +
    (op.parameters ? paramsTable(op.parameters) : '') +
    requestBody(op, components) +
    responsesTable(op, components) +
    `</article>`
  );
}

/** Renders the reference page for a document. */
export function referencePage(doc: OpenApiDocument): ReferencePage {
  const byTag = new Map<string, [string, string, OpenApiOperation][]>();
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item)) {
      const tag = op.tags[0] ?? 'Other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), [method, path, op]]);
    }
  const tags = doc.tags.filter((t) => byTag.has(t.name));
  const nav = tags
    .map(
      (t) =>
        `<section data-group><h2>${esc(t.name)}</h2><ul>` +
        (byTag.get(t.name) ?? [])
          .map(
            ([m, p, op]) =>
              `<li data-search="${searchText(m, p, op)}"><a href="#op-${esc(op.operationId)}">` +
              `<span class="m m-${esc(m)}">${esc(m.toUpperCase())}</span> <code>${esc(p)}</code></a></li>`,
          )
          .join('') +
        `</ul></section>`,
    )
    .join('');
  const sections = tags
    .map(
      (t) =>
        `<section data-group id="tag-${esc(t.name)}"><h2>${esc(t.name)}</h2><p>${prose(t.description)}</p>` +
        (byTag.get(t.name) ?? []).map(([m, p, op]) => operationHtml(m, p, op, doc)).join('') +
        `</section>`,
    )
    .join('');
  const schemes = Object.entries(doc.components.securitySchemes)
    .map(
      ([name, s]) =>
        `<tr><td><code>${esc(name)}</code></td><td>${prose(s.description ?? '')}</td></tr>`,
    )
    .join('');
  const title = `${doc.info.title} reference`;
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${esc(title)}</title><link rel="icon" href="data:,"><style>${STYLE}</style></head><body>` +
    `<nav><div class="brand">${esc(doc.info.title)} <span>${esc(doc.info.version)}</span></div>` +
    `<input id="filter" type="search" placeholder="Filter operations" aria-label="Filter operations" autocomplete="off">` +
    `<a href="/openapi.json">openapi.json</a>${nav}</nav>` +
    `<main><h1>${esc(title)}</h1><p>${prose(doc.info.description)}</p>` +
    `<p>Version ${esc(doc.info.version)} · OpenAPI ${esc(doc.openapi)}: <a href="/openapi.json">/openapi.json</a></p>` +
    `<h2 id="auth">Authentication</h2><table><tr><th>scheme</th><th>how</th></tr>${schemes}</table>` +
    `<h2 id="errors">Errors</h2>${schemaBlock({ $ref: '#/components/schemas/ProblemDetails' }, doc.components.schemas)}` +
    `${sections}</main><script>${SCRIPT}</script></body></html>`;
  const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
  const csp =
    `default-src 'none'; style-src ${hash(STYLE)}; script-src ${hash(SCRIPT)}; ` +
    `img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  return { html, csp };
}
