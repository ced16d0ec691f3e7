/**
 * Templates kept as files: the reader (good types read; a broken template, an unknown channel,
 * a variable a sample lacks... each reported at its file), the loader on both backends
 * (writes, then writes nothing when nothing changed; a folder with a problem writes nothing),
 * the `templatesDir` setting, `herald templates check|load` as a user runs them, and the
 * examples/templates folder passing the check.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createHerald, resolveConfig, type Herald } from '../src/index.js';
import { render } from '../src/notify/render.js';
import { loadTemplateFolder, readTemplateFolder } from '../src/notify/template-files.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';

const pgSkip = await pgSkipReason();
const EXAMPLES = new URL('../examples/templates', import.meta.url).pathname;
const BIN = new URL('../bin/herald.js', import.meta.url).pathname;

const temps: string[] = [];
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A temporary folder holding `files` (path → content). */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'herald-templates-'));
  temps.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** Problems as `file: message`, the file relative to the folder. */
function problems(dir: string): string[] {
  return readTemplateFolder(dir).problems.map(
    (p) => `${p.file.slice(dir.length + 1)}: ${p.message}`,
  );
}

const good = {
  'layouts/brand.html.hbs': '<main>{{{body}}}</main>{{> footer}}\n',
  'layouts/brand.text.hbs': '{{body}}\n-- {{company}}\n',
  'partials/footer.hbs': '<small>{{company}}</small>\n',
  'types/welcome/type.json': JSON.stringify({ channels: ['email', 'sms'], layout: 'brand' }),
  'types/welcome/email.subject.hbs': 'Welcome, {{name}}\n',
  'types/welcome/email.html.hbs': '<p>Hi {{name}}</p>\n',
  'types/welcome/email.text.hbs': 'Hi {{name}}\n',
  'types/welcome/sms.text.hbs': '{{name}}: welcome to {{company}}\n',
  'types/welcome/locales/de/email.subject.hbs': 'Willkommen, {{name}}\n',
  'types/welcome/sample.json': JSON.stringify({ name: 'Ann', company: 'Acme' }),
  // Templates may also sit in type.json, as the API takes them.
  'types/ping/type.json': JSON.stringify({
    channels: ['sms'],
    templates: { sms: { text: 'ping' } },
  }),
};
describe('readTemplateFolder', () => {
  it('reads types, layouts and partials; one final line break is not part of a template', () => {
    const dir = folder(good);
    const read = readTemplateFolder(dir);
    assert.deepEqual(read.problems, []);
    assert.deepEqual(read.unsampled, ['ping']);
    assert.deepEqual(read.layouts, {
      brand: { source: '<main>{{{body}}}</main>{{> footer}}', text: '{{body}}\n-- {{company}}' },
    });
    assert.deepEqual(read.partials, { footer: '<small>{{company}}</small>' });
    const welcome = read.types.welcome;
    assert.ok(welcome);
    assert.equal(welcome.templates.email?.subject, 'Welcome, {{name}}');
    assert.deepEqual(welcome.locales, { de: { email: { subject: 'Willkommen, {{name}}' } } });
    assert.equal(welcome.category, 'transactional', 'defaults filled in');
    assert.deepEqual(read.types.ping?.templates, { sms: { text: 'ping' } });
    const parts = { partials: read.partials, layouts: read.layouts };
    assert.deepEqual(render(welcome, 'email', { name: 'A&B', company: 'C' }, 'de', parts), {
      subject: 'Willkommen, A&B',
      html: '<main><p>Hi A&amp;B</p></main><small>C</small>',
      text: 'Hi A&B\n-- C',
    });
  });

  it('reports each problem at its file', () => {
    const dir = folder({
      ...good,
      // A broken template.
      'types/broken/type.json': JSON.stringify({ channels: ['sms'] }),
      'types/broken/sms.text.hbs': 'Hi {{#if name}}',
      // An unknown channel, as a file and in the list.
      'types/pigeon/type.json': JSON.stringify({ channels: ['pigeon'] }),
      'types/pigeon/pigeon.text.hbs': 'coo',
      // A listed channel without its files; a field given twice; an unknown field file.
      'types/gaps/type.json': JSON.stringify({
        channels: ['sms', 'push'],
        templates: { sms: { text: 'in json' } },
      }),
      'types/gaps/sms.text.hbs': 'in a file',
      'types/gaps/email.body.hbs': 'x',
      // Variables the sample lacks: in the type, in a locale override, in the layout.
      'types/vars/type.json': JSON.stringify({ channels: ['email', 'sms'], layout: 'brand' }),
      'types/vars/email.subject.hbs': 'Hi {{name}}',
      'types/vars/email.html.hbs': '<p>{{name}}</p>',
      'types/vars/email.text.hbs': 'text',
      'types/vars/sms.text.hbs': 'ok',
      'types/vars/locales/de/sms.text.hbs': 'Hallo {{vorname}}',
      'types/vars/sample.json': JSON.stringify({ nam: 'typo' }),
      // An unknown layout; no type.json; a bad type name; an empty file; a bad partial name.
      'types/nolayout/type.json': JSON.stringify({
        channels: ['sms'],
        layout: 'fancy',
        templates: { sms: { text: 'x' } },
      }),
      'types/nojson/sms.text.hbs': 'x',
      'types/Bad Name/type.json': '{}',
      'types/empty/type.json': JSON.stringify({ channels: ['sms'] }),
      'types/empty/sms.text.hbs': '\n',
      'partials/Bad.hbs': 'x',
      'layouts/nobody.html.hbs': '<p>no body</p>',
      'typos/x.hbs': 'x',
    });
    const found = problems(dir);
    const expected = [
      'typos: is not a known folder: expected types/, layouts/ and partials/',
      'layouts/nobody.html.hbs: must insert the rendered email html with {{{body}}}',
      'partials/Bad.hbs: "Bad" is not a partial name: lower-case letters, digits, _ and -',
      'types/Bad Name: "Bad Name" is not a type name: lower-case letters, digits, _ . -',
      'types/gaps/email.body.hbs: email has no field "body": subject, html, text, replyTo',
      'types/gaps/sms.text.hbs: is also given in type.json (templates.sms.text): keep one',
      'types/gaps/type.json: templates.push: channel push needs a template (files push.title.hbs, push.body.hbs)',
      'types/empty/sms.text.hbs: is empty',
      'types/nojson/type.json: is missing: every type needs its type.json',
      'types/nolayout/type.json: layout: there is no layout "fancy" (layouts/fancy.html.hbs)',
      'types/pigeon/pigeon.text.hbs: "pigeon" is not a channel: email, sms, whatsapp, push, inapp, webhook, slack',
      'types/vars/email.subject.hbs: uses {{name}}, which the data does not have (rendering vars with its sample.json)',
      'types/vars/email.html.hbs: uses {{name}}, which the data does not have (rendering vars with its sample.json)',
      'types/vars/locales/de/sms.text.hbs: uses {{vorname}}, which the data does not have (rendering vars with its sample.json, locale de)',
    ];
    for (const line of expected)
      assert.ok(found.includes(line), `missing: ${line}\n${found.join('\n')}`);
    assert.ok(
      found.some((l) =>
        /^types\/broken\/sms\.text\.hbs: is not a valid Handlebars template: Parse error on line 1/.test(
          l,
        ),
      ),
      found.join('\n'),
    );
    assert.ok(
      found.some((l) => l.startsWith('types/pigeon/type.json: channels.0: ')),
      found.join('\n'),
    );
    // Good types in the same folder still read; broken ones do not.
    const read = readTemplateFolder(dir);
    assert.deepEqual(Object.keys(read.types).sort(), ['ping', 'welcome']);
    assert.deepEqual(Object.keys(read.layouts), ['brand']);
  });

  it('a layout variable the sample lacks is reported at the layout file', () => {
    const dir = folder({ ...good, 'types/welcome/sample.json': JSON.stringify({ name: 'Ann' }) });
    assert.deepEqual(problems(dir), [
      'layouts/brand.html.hbs: uses {{company}} (in it or in a partial it uses), which the data does not have (rendering welcome with its sample.json)',
      'layouts/brand.text.hbs: uses {{company}}, which the data does not have (rendering welcome with its sample.json)',
      'types/welcome/sms.text.hbs: uses {{company}}, which the data does not have (rendering welcome with its sample.json)',
    ]);
  });

  it('a missing folder is an error, not a list of problems', () => {
    assert.throws(() => readTemplateFolder('/nonexistent/templates'), /does not exist/);
  });
});

describe('the templatesDir setting', () => {
  it('defaults to templates/ in the config folder, resolves relative paths from the file', () => {
    const dir = folder({ 'templates/types/.keep': '', 'herald.config.json': '{}' });
    assert.equal(resolveConfig({ configPath: dir, env: {} }).templatesDir, join(dir, 'templates'));
    assert.equal(
      resolveConfig({ configPath: join(dir, 'herald.config.json'), env: {} }).templatesDir,
      join(dir, 'templates'),
    );
    const other = folder({ 'herald.config.json': JSON.stringify({ templatesDir: 'tpl' }) });
    assert.equal(resolveConfig({ configPath: other, env: {} }).templatesDir, join(other, 'tpl'));
    assert.equal(
      resolveConfig({ configPath: dir, env: { HERALD_TEMPLATES_DIR: '/elsewhere' } }).templatesDir,
      '/elsewhere',
    );
    const bare = folder({ 'herald.config.json': '{}' });
    assert.equal(resolveConfig({ configPath: bare, env: {} }).templatesDir, undefined);
  });
});

for (const backend of BACKENDS) {
  describe(
    `loadTemplateFolder on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      before(async () => {
        herald = await openHerald(backend);
      });
      after(async () => {
        await closeHerald(herald);
      });

      it('a folder with a problem writes nothing', async () => {
        const dir = folder({ ...good, 'types/welcome/sms.text.hbs': '{{#if}}' });
        await assert.rejects(
          loadTemplateFolder(herald, dir),
          /templates folder .* has 1 problem .*first: .*sms\.text\.hbs: is not a valid Handlebars/,
        );
        assert.equal(await herald.types.get('ping'), null);
        assert.deepEqual(await herald.templateParts.current(), { partials: {}, layouts: {} });
      });

      it('writes the examples, then nothing when nothing changed, then what changed', async () => {
        const first = await loadTemplateFolder(herald, EXAMPLES);
        assert.deepEqual(first, {
          types: { created: 2, updated: 0, unchanged: 0 },
          layouts: { created: 1, updated: 0, unchanged: 0 },
          partials: { created: 2, updated: 0, unchanged: 0 },
        });
        const type = await herald.types.get('due_date_reminder');
        assert.ok(type);
        assert.equal(type.layout, 'brand');
        const html = render(
          type,
          'email',
          {
            task: { title: 'T', due: 'd', id: 1 },
            taskUrl: '/t',
            recipient: { data: { name: 'A' } },
          },
          'de',
          await herald.templateParts.current(),
        ).html;
        assert.match(html ?? '', /<!doctype html>[\s\S]*Hallo A,[\s\S]*Aufgabe öffnen/);
        const again = await loadTemplateFolder(herald, EXAMPLES);
        assert.deepEqual(again.types, { created: 0, updated: 0, unchanged: 2 });
        assert.deepEqual(again.partials, { created: 0, updated: 0, unchanged: 2 });

        const copy = folder({});
        cpSync(EXAMPLES, copy, { recursive: true });
        writeFileSync(join(copy, 'types/product_news/email.subject.hbs'), 'News: {{headline}}\n');
        writeFileSync(join(copy, 'partials/footer.hbs'), '<p>Acme</p>\n');
        const changed = await loadTemplateFolder(herald, copy);
        assert.deepEqual(changed.types, { created: 0, updated: 1, unchanged: 1 });
        assert.deepEqual(changed.partials, { created: 0, updated: 1, unchanged: 1 });
        assert.equal(
          (await herald.types.get('product_news'))?.templates.email?.subject,
          'News: {{headline}}',
        );
      });
    },
  );
}

function herald(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: '', HERALD_TEMPLATES_DIR: '', HERALD_CONFIG: '' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('herald templates', () => {
  it('every command has --help', () => {
    for (const cmd of [['templates'], ['templates', 'check'], ['templates', 'load']]) {
      const r = herald(...cmd, '--help');
      assert.equal(r.code, 0, `herald ${cmd.join(' ')} --help`);
      assert.match(r.out, /^Usage: herald templates/m);
    }
  });

  it('check passes the examples', () => {
    const r = herald('templates', 'check', '--templates-dir', EXAMPLES);
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(r.out, `${EXAMPLES}: 2 types, 1 layout, 2 partials: OK\n`);
  });

  it('check lists each problem as `file: message` and exits 1', () => {
    const dir = folder({
      ...good,
      'types/broken/type.json': JSON.stringify({ channels: ['sms'] }),
      'types/broken/sms.text.hbs': 'Hi {{#if name}}',
    });
    const r = herald('templates', 'check', '--templates-dir', dir);
    assert.equal(r.code, 1);
    // The parser's whole message: the line, the pointer under the error, what it expected.
    assert.ok(
      r.out.startsWith(
        `${dir}/types/broken/sms.text.hbs: is not a valid Handlebars template: Parse error on line 1:\n` +
          'Hi {{#if name}}\n---------------^\nExpecting ',
      ),
      r.out,
    );
    assert.match(r.out, /got 'EOF'\n/);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.at(-2), 'note: no sample.json in ping: their variables are not checked');
    assert.equal(lines.at(-1), `${dir}: 2 types, 1 layout, 1 partial: 1 problem`);
  });

  it('check finds templates/ in the --config folder; without a folder it says what to do', () => {
    const config = folder({ 'herald.config.json': '{}' });
    cpSync(EXAMPLES, join(config, 'templates'), { recursive: true });
    const r = herald('templates', 'check', '--config', config);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /2 types, 1 layout, 2 partials: OK/);
    const none = herald('templates', 'check', '--config', folder({}));
    assert.equal(none.code, 1);
    assert.match(none.err, /^herald: no templates folder: give --templates-dir/);
    assert.equal(none.err.trim().split('\n').length, 1);
  });

  it('load writes the folder to the database', async () => {
    const data = folder({});
    const r = herald('templates', 'load', '--data-dir', data, '--templates-dir', EXAMPLES);
    assert.equal(r.code, 0, r.err);
    assert.equal(
      r.out,
      'types: 2 created, 0 updated, 0 unchanged\nlayouts: 1 created, 0 updated, 0 unchanged\npartials: 2 created, 0 updated, 0 unchanged\n',
    );
    const h = await createHerald({ dataDir: data, logLevel: 'warn' });
    try {
      assert.equal((await h.types.get('product_news'))?.category, 'marketing');
    } finally {
      await h.close();
    }
  });
});
