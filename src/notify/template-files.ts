/**
 * Notification types, layouts and partials kept as files (docs/templates.md):
 *
 * ```text
 * <templatesDir>/
 *   layouts/<name>.html.hbs           a layout's html, with {{{body}}}
 *   layouts/<name>.text.hbs           its plain-text part, with {{body}} (optional)
 *   partials/<name>.hbs               a partial, used as {{> name}}
 *   types/<type>/type.json            the type as PUT /v1/types/{name} takes it
 *   types/<type>/<channel>.<field>.hbs            one template field, e.g. email.subject.hbs
 *   types/<type>/locales/<locale>/<channel>.<field>.hbs   a locale's override of one field
 *   types/<type>/sample.json          data to render every channel and locale with (optional)
 * ```
 *
 * `readTemplateFolder` only reads and checks, with the same rules as the API (the zod schema,
 * the Handlebars parse) plus a trial render of each channel and locale with the sample, so a
 * variable the sample lacks is found before anyone is sent anything. Every problem names its
 * file. `loadTemplateFolder` writes a folder without problems to the database.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { HeraldError, ValidationError, type FieldIssue } from '../errors.js';
import { checked, isStorableText } from '../validation.js';
import { render, type Layout, type RenderParts } from './render.js';
import { validatePart, type PartKind, type TemplateParts } from './template-parts.js';
import {
  CHANNELS,
  partNameSchema,
  typeDefinitionSchema,
  typeNameSchema,
  typeActionUrlIssues,
  typeSyntaxIssues,
  type Channel,
  type TypeDefinition,
  type Types,
} from './types.js';

/** One thing wrong in the folder, at the file to fix (under the folder as given). */
export interface TemplateProblem {
  file: string;
  message: string;
}

export interface TemplateFolder {
  /** The types without problems, by name. */
  types: Record<string, TypeDefinition>;
  layouts: Record<string, Layout>;
  partials: Record<string, string>;
  problems: TemplateProblem[];
  /** Types without a sample.json: their variables were not checked by a trial render. */
  unsampled: string[];
}

/** The template fields of each channel, as file names use them. */
export const CHANNEL_FIELDS: Record<Channel, readonly string[]> = {
  email: ['subject', 'html', 'text', 'replyTo'],
  sms: ['text'],
  whatsapp: ['text'],
  push: ['title', 'body'],
  inapp: ['title', 'body', 'actionUrl'],
  webhook: ['title', 'body'],
  slack: ['text', 'blocks'],
};

const FIELD_FILE = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.hbs$/;
const visible = (name: string) => !name.startsWith('.');

/** Reads and checks a templates folder; throws only when the folder itself is missing. */
export function readTemplateFolder(dir: string): TemplateFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new HeraldError('config_invalid', `the templates folder ${dir} does not exist`);
  const out: TemplateFolder = { types: {}, layouts: {}, partials: {}, problems: [], unsampled: [] };
  const problem = (rel: string, message: string) => {
    const file = join(dir, rel);
    if (!out.problems.some((p) => p.file === file && p.message === message))
      out.problems.push({ file, message });
  };
  /** A text file's content, or undefined after reporting why it cannot be used. */
  const readText = (rel: string): string | undefined => {
    // Editors end files with a line break; templates are taken without it (and without a BOM).
    const text = readFileSync(join(dir, rel), 'utf8')
      .replace(/^\uFEFF/, '')
      .replace(/\r?\n$/, '');
    if (text.trim() === '') return void problem(rel, 'is empty');
    if (!isStorableText(text))
      return void problem(rel, 'contains a NUL character or invalid UTF-8, which cannot be stored');
    return text;
  };
  const readJson = (rel: string): Record<string, unknown> | undefined => {
    const text = readText(rel);
    if (text === undefined) return undefined;
    try {
      const value: unknown = JSON.parse(text);
      if (value && typeof value === 'object' && !Array.isArray(value))
        return value as Record<string, unknown>;
      problem(rel, 'must hold a JSON object');
    } catch (err) {
      problem(rel, `is not valid JSON: ${(err as Error).message}`);
    }
    return undefined;
  };

  for (const entry of readdirSync(dir, { withFileTypes: true }).filter((e) => visible(e.name))) {
    if (entry.isDirectory() && !['types', 'layouts', 'partials'].includes(entry.name))
      problem(entry.name, 'is not a known folder: expected types/, layouts/ and partials/');
  }

  // Layouts and partials first: the types' trial renders use them.
  const broken = { layout: new Set<string>(), partial: new Set<string>() };
  const partName = (kind: PartKind, rel: string, name: string): boolean => {
    const ok = partNameSchema.safeParse(name).success;
    if (!ok) {
      problem(rel, `"${name}" is not a ${kind} name: lower-case letters, digits, _ and -`);
      broken[kind].add(name);
    }
    return ok;
  };
  const savePart = (
    kind: PartKind,
    name: string,
    input: unknown,
    files: Record<string, string>,
  ) => {
    try {
      const part = validatePart(kind, input);
      if (kind === 'partial') out.partials[name] = part.source;
      else out.layouts[name] = part;
    } catch (err) {
      broken[kind].add(name);
      for (const i of issuesOf(err)) problem(files[i.field] ?? files.source ?? '', i.message);
    }
  };

  const layoutFiles = new Map<string, { html?: string; text?: string }>();
  for (const entry of list(dir, 'layouts')) {
    const rel = join('layouts', entry.name);
    const m = /^(.+)\.(html|text)\.hbs$/.exec(entry.name);
    if (!entry.isFile() || !m) {
      problem(rel, 'is not a layout file: layouts/<name>.html.hbs, and <name>.text.hbs if wanted');
      continue;
    }
    const [, name = '', part = ''] = m;
    if (!partName('layout', rel, name)) continue;
    const files = layoutFiles.get(name) ?? {};
    files[part as 'html' | 'text'] = rel;
    layoutFiles.set(name, files);
  }
  for (const [name, files] of layoutFiles) {
    if (!files.html) {
      problem(files.text ?? '', `has no ${name}.html.hbs beside it: a layout needs its html`);
      broken.layout.add(name);
      continue;
    }
    const html = readText(files.html);
    const text = files.text === undefined ? undefined : readText(files.text);
    if (html === undefined || (files.text !== undefined && text === undefined)) {
      broken.layout.add(name);
      continue;
    }
    savePart('layout', name, text === undefined ? { source: html } : { source: html, text }, {
      source: files.html,
      ...(files.text ? { text: files.text } : {}),
    });
  }

  for (const entry of list(dir, 'partials')) {
    const rel = join('partials', entry.name);
    const m = /^(.+)\.hbs$/.exec(entry.name);
    if (!entry.isFile() || !m) {
      problem(rel, 'is not a partial file: partials/<name>.hbs');
      continue;
    }
    const name = m[1] ?? '';
    if (!partName('partial', rel, name)) continue;
    const source = readText(rel);
    if (source === undefined) broken.partial.add(name);
    else savePart('partial', name, { source }, { source: rel });
  }

  const parts: RenderParts = { partials: out.partials, layouts: out.layouts };
  for (const entry of list(dir, 'types')) {
    const rel = join('types', entry.name);
    if (!entry.isDirectory()) {
      problem(rel, 'is not a folder: each type is a folder types/<name>/ with a type.json');
      continue;
    }
    if (!typeNameSchema.safeParse(entry.name).success) {
      problem(rel, `"${entry.name}" is not a type name: lower-case letters, digits, _ . -`);
      continue;
    }
    readType(entry.name, rel);
  }
  return out;

  function readType(name: string, folder: string): void {
    const before = out.problems.length;
    /** Where each template field came from: `templates.email.subject` → its file. */
    const origin = new Map<string, string>();
    const typeJson = join(folder, 'type.json');
    const templates: Record<string, Record<string, string>> = {};
    const locales: Record<string, Record<string, Record<string, string>>> = {};
    let sample: Record<string, unknown> | undefined;
    let hasTypeJson = false;

    const fieldFile = (
      rel: string,
      fileName: string,
      into: Record<string, Record<string, string>>,
      at: string,
    ) => {
      const m = FIELD_FILE.exec(fileName);
      if (!m) return void problem(rel, 'is not a known file: templates are <channel>.<field>.hbs');
      const [, channel = '', field = ''] = m;
      const fields = CHANNEL_FIELDS[channel as Channel] as readonly string[] | undefined;
      if (!fields)
        return void problem(rel, `"${channel}" is not a channel: ${CHANNELS.join(', ')}`);
      if (!fields.includes(field))
        return void problem(rel, `${channel} has no field "${field}": ${fields.join(', ')}`);
      const source = readText(rel);
      if (source === undefined) return;
      (into[channel] ??= {})[field] = source;
      origin.set(`${at}.${channel}.${field}`, rel);
    };

    for (const entry of list(dir, folder)) {
      const rel = join(folder, entry.name);
      if (entry.name === 'type.json' && entry.isFile()) hasTypeJson = true;
      else if (entry.name === 'sample.json' && entry.isFile()) sample = readJson(rel) ?? {};
      else if (entry.name === 'locales' && entry.isDirectory()) {
        for (const loc of list(dir, rel)) {
          const locRel = join(rel, loc.name);
          if (!loc.isDirectory()) {
            problem(locRel, 'is not a folder: locales/<locale>/<channel>.<field>.hbs');
            continue;
          }
          const into = (locales[loc.name] ??= {});
          for (const f of list(dir, locRel)) {
            const fRel = join(locRel, f.name);
            if (!f.isFile()) problem(fRel, 'is not a template file: <channel>.<field>.hbs');
            else fieldFile(fRel, f.name, into, `locales.${loc.name}`);
          }
        }
      } else if (entry.isFile()) fieldFile(rel, entry.name, templates, 'templates');
      else problem(rel, 'is not a known folder: the only folder in a type is locales/');
    }
    if (!hasTypeJson) return void problem(typeJson, 'is missing: every type needs its type.json');
    const json = readJson(typeJson);
    if (!json) return;

    // type.json may hold templates itself (as the API takes them); a field given twice is refused.
    const merged = merge(json.templates, templates, 'templates');
    const mergedLocales = mergeLocales(json.locales, locales);
    const where = (field: string): string => origin.get(field) ?? typeJson;
    const report = (issues: FieldIssue[]) => {
      for (const i of issues) {
        const file = where(i.field);
        problem(file, (file === typeJson ? `${i.field}: ` : '') + i.message);
      }
    };

    let def: TypeDefinition;
    try {
      def = checked(typeDefinitionSchema, { ...json, templates: merged, locales: mergedLocales });
    } catch (err) {
      return report(issuesOf(err).map((i) => withHint(i)));
    }
    const syntax = typeSyntaxIssues(def);
    if (syntax.length > 0) return report(syntax);
    const urls = typeActionUrlIssues(def);
    if (urls.length > 0) return report(urls);
    if (
      typeof def.layout === 'string' &&
      !broken.layout.has(def.layout) &&
      !out.layouts[def.layout]
    )
      problem(
        typeJson,
        `layout: there is no layout "${def.layout}" (layouts/${def.layout}.html.hbs)`,
      );

    if (sample === undefined) out.unsampled.push(name);
    else if (out.problems.length === before) {
      const channels = CHANNELS.filter((c) => def.templates[c] !== undefined);
      for (const locale of [undefined, ...Object.keys(def.locales)]) {
        for (const channel of channels) {
          try {
            render(def, channel, sample, locale, parts);
          } catch (err) {
            const issues = issuesOf(err).filter((i) => !dueToBrokenPart(i, broken));
            for (const i of issues) {
              const field = sourceOf(i.field, locale);
              const layout = /^layouts\.([^.]+)\.(source|text)$/.exec(field);
              const file = layout
                ? join('layouts', `${layout[1]}.${layout[2] === 'source' ? 'html' : 'text'}.hbs`)
                : where(field);
              // A locale is named only for its own sources (a shared one would repeat per locale).
              const own = /^locales\.([^.]+)\./.exec(field)?.[1];
              const context = `rendering ${name} with its sample.json${own ? `, locale ${own}` : ''}`;
              problem(file, `${file === typeJson ? `${field}: ` : ''}${i.message} (${context})`);
            }
          }
        }
      }
    }
    if (out.problems.length === before) out.types[name] = def;

    /** Where a rendered field's source is, after locale fallback: `locales.de.sms.text`. */
    function sourceOf(field: string, locale: string | undefined): string {
      if (!field.startsWith('templates.')) return field;
      const rest = field.slice('templates.'.length);
      // The exact locale wins over its language (as in render's templatesFor).
      for (const l of locale ? [locale, locale.split('-')[0] ?? locale] : []) {
        if (getPath(def.locales, [l, ...rest.split('.')]) !== undefined)
          return `locales.${l}.${rest}`;
      }
      return field;
    }

    function merge(
      fromJson: unknown,
      fromFiles: Record<string, Record<string, string>>,
      at: string,
    ) {
      if (fromJson === undefined) return fromFiles;
      if (!fromJson || typeof fromJson !== 'object') return fromJson; // the schema names it
      const result: Record<string, unknown> = { ...(fromJson as Record<string, unknown>) };
      for (const [channel, fields] of Object.entries(fromFiles)) {
        const inJson = result[channel];
        if (inJson && typeof inJson === 'object') {
          for (const field of Object.keys(fields)) {
            if (field in inJson)
              problem(
                origin.get(`${at}.${channel}.${field}`) ?? typeJson,
                `is also given in type.json (${at}.${channel}.${field}): keep one`,
              );
          }
          result[channel] = { ...(inJson as Record<string, unknown>), ...fields };
        } else result[channel] = fields;
      }
      return result;
    }

    function mergeLocales(fromJson: unknown, fromFiles: typeof locales) {
      if (fromJson === undefined) return fromFiles;
      if (!fromJson || typeof fromJson !== 'object') return fromJson;
      const result: Record<string, unknown> = { ...(fromJson as Record<string, unknown>) };
      for (const [locale, channels] of Object.entries(fromFiles))
        result[locale] = merge(result[locale], channels, `locales.${locale}`);
      return result;
    }
  }
}

/** The visible entries of a subfolder, sorted; none if it does not exist. */
function list(dir: string, rel: string) {
  const path = join(dir, rel);
  if (!existsSync(path) || !statSync(path).isDirectory()) return [];
  return readdirSync(path, { withFileTypes: true })
    .filter((e) => visible(e.name))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function issuesOf(err: unknown): FieldIssue[] {
  if (err instanceof ValidationError) return err.issues;
  throw err;
}

/** "channel sms needs a template" says which files would give it one. */
function withHint(i: FieldIssue): FieldIssue {
  const m = /^templates\.([a-z]+)$/.exec(i.field);
  const fields = m ? (CHANNEL_FIELDS[m[1] as Channel] as readonly string[] | undefined) : undefined;
  if (!m || !fields) return i;
  return {
    ...i,
    message: `${i.message} (files ${fields.map((f) => `${m[1]}.${f}.hbs`).join(', ')})`,
  };
}

/** A render issue that only repeats a broken layout's or partial's own problem. */
function dueToBrokenPart(
  i: FieldIssue,
  broken: { layout: Set<string>; partial: Set<string> },
): boolean {
  const partial = /uses the partial \{\{> (.+)\}\}, which does not exist/.exec(i.message);
  if (partial && broken.partial.has(partial[1] ?? '')) return true;
  const layout = /^there is no layout "(.+)"$/.exec(i.message);
  return i.field === 'layout' && layout !== null && broken.layout.has(layout[1] ?? '');
}

function getPath(value: unknown, path: string[]): unknown {
  let node = value;
  for (const key of path) {
    if (!node || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

export interface LoadCounts {
  created: number;
  updated: number;
  unchanged: number;
}

export interface LoadResult {
  types: LoadCounts;
  layouts: LoadCounts;
  partials: LoadCounts;
}

/**
 * Reads `dir` and writes its layouts, partials and types to the database (created, or replaced
 * when they differ; what is stored but not in the folder stays). A folder with any problem
 * writes nothing and throws `config_invalid` naming the first problem and how many there are.
 */
export async function loadTemplateFolder(
  herald: { types: Types; templateParts: TemplateParts },
  dir: string,
): Promise<LoadResult> {
  const folder = readTemplateFolder(dir);
  const [first] = folder.problems;
  if (first) {
    const n = folder.problems.length;
    throw new HeraldError(
      'config_invalid',
      `the templates folder ${dir} has ${n} problem${n === 1 ? '' : 's'} (\`herald templates check\` lists them); first: ${first.file}: ${first.message}`,
    );
  }
  const counts = (): LoadCounts => ({ created: 0, updated: 0, unchanged: 0 });
  const result: LoadResult = { types: counts(), layouts: counts(), partials: counts() };
  const tally = (c: LoadCounts, created: boolean, changed: boolean) => {
    if (created) c.created += 1;
    else if (changed) c.updated += 1;
    else c.unchanged += 1;
  };
  for (const [name, layout] of Object.entries(folder.layouts)) {
    const { created, changed } = await herald.templateParts.put('layout', name, layout);
    tally(result.layouts, created, changed);
  }
  for (const [name, source] of Object.entries(folder.partials)) {
    const { created, changed } = await herald.templateParts.put('partial', name, { source });
    tally(result.partials, created, changed);
  }
  for (const [name, def] of Object.entries(folder.types)) {
    const stored = await herald.types.get(name);
    if (stored) {
      const storedDef: Record<string, unknown> = { ...stored };
      for (const key of ['name', 'createdAt', 'updatedAt']) delete storedDef[key];
      // Compared as JSON (what the database keeps), so absent and undefined fields agree.
      if (isDeepStrictEqual(storedDef, JSON.parse(JSON.stringify(def)))) {
        tally(result.types, false, false);
        continue;
      }
    }
    const { created } = await herald.types.put(name, def);
    tally(result.types, created, true);
  }
  return result;
}
