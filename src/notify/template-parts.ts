/**
 * Layouts and partials: the shared pieces of templates, kept in `template_parts`.
 *
 * - A partial is a Handlebars snippet any template uses as `{{> name}}`.
 * - A layout wraps the rendered email html at `{{{body}}}` (`source`) and, optionally, the
 *   email text at `{{body}}` (`text`).
 *
 * Every source is parsed as Handlebars when it is saved: a syntax error is a validation error
 * naming the field, not a failed send later. `current()` hands out all of them for rendering
 * from a cache: it asks the database whether anything changed at most once per `refreshMs`
 * (default 1 s), so another process's change is seen within about that long, and this
 * process's own changes at once.
 */
import Handlebars from 'handlebars';
import { z } from 'zod';
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { HeraldError, ValidationError, type FieldIssue } from '../errors.js';
import { checked } from '../validation.js';
import type { Layout, RenderParts } from './render.js';
import { partNameSchema, templateSyntaxIssues } from './types.js';

export type PartKind = 'layout' | 'partial';
export const PART_KINDS: readonly PartKind[] = ['layout', 'partial'];

export interface TemplatePart {
  kind: PartKind;
  name: string;
  /** The partial, or the layout's html (with `{{{body}}}`). */
  source: string;
  /** A layout's plain-text part (with `{{body}}`), if it has one. */
  text?: string;
  createdAt: Date;
  updatedAt: Date;
}

const source = z.string().min(1).max(100_000);
/** The bodies of PUT /v1/partials/{name} and PUT /v1/layouts/{name} (for the API reference too). */
export const partBodySchemas = {
  partial: z.strictObject({ source }),
  layout: z.strictObject({ source, text: source.optional() }),
};

export type PartInput = { source: string; text?: string | undefined };

/**
 * Checks a layout's or partial's body (`{source, text?}`): the fields, the Handlebars syntax,
 * and that a layout inserts the body (unescaped in html: it is HTML already). Throws a
 * ValidationError naming each bad field.
 */
export function validatePart(kind: PartKind, input: unknown): PartInput {
  const part: PartInput = checked(partBodySchemas[kind], input);
  const issues = templateSyntaxIssues(part, []);
  if (issues.length === 0 && kind === 'layout') issues.push(...layoutBodyIssues(part));
  if (issues.length > 0) throw new ValidationError(issues);
  return part;
}

/** Where a layout inserts `body`: each use, and whether it is escaped (`{{body}}`). */
function bodyUses(template: string): { escaped: boolean }[] {
  const uses: { escaped: boolean }[] = [];
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach(visit);
    const n = node as {
      type?: string;
      escaped?: boolean;
      path?: { type?: string; parts?: string[]; depth?: number };
    };
    if (
      n.type === 'MustacheStatement' &&
      n.path?.type === 'PathExpression' &&
      n.path.depth === 0 &&
      n.path.parts?.length === 1 &&
      n.path.parts[0] === 'body'
    ) {
      uses.push({ escaped: n.escaped === true });
    }
    for (const [key, value] of Object.entries(n)) if (key !== 'loc') visit(value);
  };
  visit(Handlebars.parse(template));
  return uses;
}

function layoutBodyIssues(part: PartInput): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const html = bodyUses(part.source);
  if (html.length === 0) {
    issues.push({
      field: 'source',
      message: 'must insert the rendered email html with {{{body}}}',
    });
  } else if (html.some((u) => u.escaped)) {
    issues.push({
      field: 'source',
      message: 'inserts {{body}} escaped: use {{{body}}} (three braces), the body is HTML already',
    });
  }
  if (part.text !== undefined && bodyUses(part.text).length === 0)
    issues.push({ field: 'text', message: 'must insert the rendered email text with {{body}}' });
  return issues;
}

interface PartRow {
  kind: PartKind;
  name: string;
  source: string;
  text_source: string | null;
  created_at: Date;
  updated_at: Date;
  inserted?: boolean;
}

const toPart = (r: PartRow): TemplatePart => ({
  kind: r.kind,
  name: r.name,
  source: r.source,
  ...(r.text_source !== null ? { text: r.text_source } : {}),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface TemplatePartsOptions {
  /** How long `current()` trusts its cache before asking the database again. Default 1000 ms. */
  refreshMs?: number;
}

export function makeTemplateParts(db: Db, schema: string, options: TemplatePartsOptions = {}) {
  const table = `${quoteIdent(schema)}.template_parts`;
  const types = `${quoteIdent(schema)}.notification_types`;
  const refreshMs = options.refreshMs ?? 1_000;
  const COLUMNS = 'kind, name, source, text_source, created_at, updated_at';

  let snapshot: RenderParts | undefined;
  let signature: string | undefined;
  let checkedAt = 0;
  // Bumped by this process's writes, so a check that began before one does not count as fresh.
  let generation = 0;
  let inflight: Promise<RenderParts> | undefined;

  const name = (n: string) => checked(partNameSchema, n, 'name');

  function invalidate(): void {
    generation += 1;
    checkedAt = 0;
    inflight = undefined;
  }

  async function refresh(): Promise<RenderParts> {
    const started = Date.now();
    const gen = generation;
    // A digest of every row's identity and version: cheap for the few rows this table holds,
    // and, unlike max(updated_at), it changes when a transaction commits out of time order.
    const { rows } = await db.query<{ sig: string | null }>(
      `SELECT md5(string_agg(kind || '/' || name || '/' || updated_at::text, ',' ORDER BY kind, name)) AS sig
         FROM ${table}`,
    );
    const sig = rows[0]?.sig ?? '';
    if (!snapshot || sig !== signature) {
      const all = await db.query<PartRow>(`SELECT ${COLUMNS} FROM ${table}`);
      const next: RenderParts = { partials: {}, layouts: {} };
      for (const r of all.rows) {
        if (r.kind === 'partial') next.partials[r.name] = r.source;
        else
          next.layouts[r.name] = {
            source: r.source,
            ...(r.text_source !== null ? { text: r.text_source } : {}),
          } satisfies Layout;
      }
      snapshot = next;
      signature = sig;
    }
    if (gen === generation) checkedAt = started;
    return snapshot;
  }

  async function get(kind: PartKind, partName: string): Promise<TemplatePart | null> {
    const { rows } = await db.query<PartRow>(
      `SELECT ${COLUMNS} FROM ${table} WHERE kind = $1 AND name = $2`,
      [kind, name(partName)],
    );
    return rows[0] ? toPart(rows[0]) : null;
  }

  return {
    /**
     * Defines or replaces a layout or partial (`{source}`, a layout also `{text?}`); `created`
     * says which, `changed` whether anything was written (the same source again writes nothing).
     */
    async put(
      kind: PartKind,
      partName: string,
      input: unknown,
    ): Promise<{ part: TemplatePart; created: boolean; changed: boolean }> {
      const n = name(partName);
      const part = validatePart(kind, input);
      // An unchanged part is not written: its updated_at stays, and no cache reloads for it.
      const { rows } = await db.query<PartRow>(
        `INSERT INTO ${table} AS t (kind, name, source, text_source) VALUES ($1, $2, $3, $4)
         ON CONFLICT (kind, name) DO UPDATE
           SET source = excluded.source, text_source = excluded.text_source, updated_at = now()
           WHERE (t.source, t.text_source) IS DISTINCT FROM (excluded.source, excluded.text_source)
         RETURNING ${COLUMNS}, (xmax = 0) AS inserted`,
        [kind, n, part.source, part.text ?? null],
      );
      const row = rows[0];
      if (!row) {
        const same = await get(kind, n);
        if (!same) throw new HeraldError('conflict', `${kind} "${n}" was removed meanwhile`);
        return { part: same, created: false, changed: false };
      }
      invalidate();
      return { part: toPart(row), created: row.inserted === true, changed: true };
    },

    get,

    /** Every layout or every partial, by name. */
    async list(kind: PartKind): Promise<TemplatePart[]> {
      const { rows } = await db.query<PartRow>(
        `SELECT ${COLUMNS} FROM ${table} WHERE kind = $1 ORDER BY name`,
        [kind],
      );
      return rows.map(toPart);
    },

    /**
     * Removes a layout or partial; false if there was none. A layout that a type names is
     * refused (`conflict`, naming the types). Partials are not tracked: a template that still
     * uses a removed one fails to render, naming it.
     */
    async remove(kind: PartKind, partName: string): Promise<boolean> {
      const n = name(partName);
      return db.transaction(async (tx) => {
        if (kind === 'layout') {
          // `->` compares JSON values: a type's `layout: false` is not the layout "false".
          const users = await tx.query<{ name: string }>(
            `SELECT name FROM ${types} WHERE definition -> 'layout' = to_jsonb($1::text) ORDER BY name`,
            [n],
          );
          if (users.rows.length > 0) {
            const names = users.rows.map((r) => r.name).join(', ');
            throw new HeraldError(
              'conflict',
              `layout "${n}" is used by the types ${names}: give them another layout first`,
            );
          }
        }
        const { rows } = await tx.query(
          `DELETE FROM ${table} WHERE kind = $1 AND name = $2 RETURNING name`,
          [kind, n],
        );
        if (rows.length > 0) invalidate();
        return rows.length > 0;
      });
    },

    /**
     * All layouts and partials, for `render(...)`. Cheap to call on every render: the answer is
     * cached and checked against the database at most once per `refreshMs`. The same object is
     * returned until something changes (render caches compiled partials per object).
     */
    /** The last `current()` answer, without asking the database (undefined before the first). */
    peek(): RenderParts | undefined {
      return snapshot;
    },

    current(): Promise<RenderParts> {
      if (snapshot && Date.now() - checkedAt < refreshMs) return Promise.resolve(snapshot);
      if (!inflight) {
        const p = refresh().finally(() => {
          if (inflight === p) inflight = undefined;
        });
        inflight = p;
      }
      return inflight;
    },
  };
}

export type TemplateParts = ReturnType<typeof makeTemplateParts>;
