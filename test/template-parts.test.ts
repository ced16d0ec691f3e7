/**
 * Layouts and partials: rendering (escaping follows the template using a partial, a missing
 * partial is an error naming it, the layout wraps the email html and text only), the store
 * on both backends (checked on save, a layout in use is kept), the HTTP routes (auth, field
 * errors, nothing written on error), and a second process seeing a change within ~1 s.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Hono } from 'hono';
import { createHerald, ValidationError, type Herald } from '../src/index.js';
import { render, type RenderParts } from '../src/notify/render.js';
import { typeDefinitionSchema, type TypeDefinition } from '../src/notify/types.js';
import { makeApp } from '../src/http/app.js';
import { requireKey } from '../src/http/auth.js';
import { problemFor } from '../src/http/problem.js';
import { templatePartsRoutes } from '../src/http/template-parts-routes.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason, PG_URL, waitFor } from './helpers/db.js';
import { apiCaller, type Call, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();

const def = (input: unknown): TypeDefinition => typeDefinitionSchema.parse(input);
const fields = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e.issues.map((i) => `${i.field}: ${i.message}`);
    throw e;
  }
  assert.fail('expected a ValidationError');
};

describe('render with partials and layouts', () => {
  const parts: RenderParts = {
    partials: {
      greet: 'Hi {{name}}',
      button: '<a href="{{url}}">{{label}}</a>',
      loop: 'again {{> loop}}',
      signed: '{{> greet}}, from {{sender}}',
    },
    layouts: {
      brand: { source: '<main>{{{body}}}</main><footer>{{company}} {{> greet}}</footer>' },
      plain: { source: '<div>{{{body}}}</div>', text: '{{body}}\n-- {{company}}' },
      default: { source: '<default>{{{body}}}</default>' },
    },
  };
  const data = { name: '<Ann & Bob>', company: 'A & B', url: '/x?a=1&b=2', sender: 'Cy' };

  it('a partial is escaped in email html and plain everywhere else', () => {
    const type = def({
      channels: ['email', 'sms'],
      layout: false,
      templates: {
        email: { subject: '{{> greet}}', html: '<p>{{> greet}}</p>', text: '{{> greet}}' },
        sms: { text: '{{> greet}}!' },
      },
    });
    assert.deepEqual(render(type, 'email', data, null, parts), {
      subject: 'Hi <Ann & Bob>',
      html: '<p>Hi &lt;Ann &amp; Bob&gt;</p>',
      text: 'Hi <Ann & Bob>',
    });
    assert.deepEqual(render(type, 'sms', data, null, parts), { text: 'Hi <Ann & Bob>!' });
  });

  it('partials take hash parameters and use other partials', () => {
    const type = def({
      channels: ['email'],
      layout: false,
      templates: { email: { subject: '{{> signed}}', html: '{{> button label="Go" url=url}}' } },
    });
    assert.deepEqual(render(type, 'email', data, null, parts), {
      subject: 'Hi <Ann & Bob>, from Cy',
      html: '<a href="/x?a&#x3D;1&amp;b&#x3D;2">Go</a>',
    });
  });

  it('a missing partial, or one that includes itself, is an error naming it, not a crash', () => {
    const type = def({
      channels: ['sms', 'push'],
      templates: { sms: { text: 'x {{> nope}}' }, push: { title: '{{> loop}}', body: 'b' } },
    });
    assert.deepEqual(
      fields(() => render(type, 'sms', data, null, parts)),
      ['templates.sms.text: uses the partial {{> nope}}, which does not exist'],
    );
    assert.match(
      fields(() => render(type, 'push', data, null, parts))[0] ?? '',
      /^templates\.push\.title: partials include each other without end/,
    );
    // Without parts (the old signature) every partial is missing, and that is said too.
    assert.match(fields(() => render(type, 'sms', data))[0] ?? '', /\{\{> nope\}\}/);
    // Names of prototype properties are not partials.
    const proto = def({ channels: ['sms'], templates: { sms: { text: '{{> constructor}}' } } });
    assert.match(fields(() => render(proto, 'sms', data, null, parts))[0] ?? '', /does not exist/);
  });

  it('a variable missing in a partial is named, with a hint that it may be in the partial', () => {
    const type = def({ channels: ['sms'], templates: { sms: { text: '{{> signed}}' } } });
    assert.deepEqual(
      fields(() => render(type, 'sms', { name: 'x' }, null, parts)),
      [
        'templates.sms.text: uses {{sender}} (in it or in a partial it uses), which the data does not have',
      ],
    );
  });

  it('the layout wraps the email html, unescaped, with its own variables escaped', () => {
    const type = def({
      channels: ['email', 'sms'],
      layout: 'brand',
      templates: {
        email: { subject: 'S {{name}}', html: '<b>{{name}}</b>', text: 'T' },
        sms: { text: '{{name}}' },
      },
    });
    assert.deepEqual(render(type, 'email', data, null, parts), {
      subject: 'S <Ann & Bob>',
      html: '<main><b>&lt;Ann &amp; Bob&gt;</b></main><footer>A &amp; B Hi &lt;Ann &amp; Bob&gt;</footer>',
      text: 'T', // brand has no text part
    });
    assert.deepEqual(render(type, 'sms', data, null, parts), { text: '<Ann & Bob>' });
  });

  it("a layout's text part wraps the email text, unescaped", () => {
    const type = def({
      channels: ['email'],
      layout: 'plain',
      templates: { email: { subject: 'S', html: '<i>{{name}}</i>', text: '{{name}}' } },
    });
    assert.deepEqual(render(type, 'email', data, null, parts), {
      subject: 'S',
      html: '<div><i>&lt;Ann &amp; Bob&gt;</i></div>',
      text: '<Ann & Bob>\n-- A & B',
    });
  });

  it('no layout named: `default` if there is one; false: none; an unknown one: an error', () => {
    const email = { subject: 'S', html: '<p>h</p>' };
    const unnamed = def({ channels: ['email'], templates: { email } });
    assert.equal(render(unnamed, 'email', {}, null, parts).html, '<default><p>h</p></default>');
    assert.equal(render(unnamed, 'email', {}).html, '<p>h</p>', 'no parts, no layout');
    const none = def({ channels: ['email'], layout: false, templates: { email } });
    assert.equal(render(none, 'email', {}, null, parts).html, '<p>h</p>');
    const unknown = def({ channels: ['email'], layout: 'gone', templates: { email } });
    assert.deepEqual(
      fields(() => render(unknown, 'email', {}, null, parts)),
      ['layout: there is no layout "gone"'],
    );
  });

  it("a variable missing in the layout names the layout's field", () => {
    const type = def({
      channels: ['email'],
      layout: 'plain',
      templates: { email: { subject: 'S', html: 'h', text: 't' } },
    });
    assert.deepEqual(
      fields(() => render(type, 'email', {}, null, parts)),
      ['layouts.plain.text: uses {{company}}, which the data does not have'],
    );
  });
});

/** The app the routes are served by. Until makeApp mounts them, a stand-in mounted the same way. */
function appFor(herald: Herald): Hono {
  const app = makeApp(herald);
  if (app.routes.some((r) => r.path.startsWith('/v1/layouts'))) return app;
  const standIn = new Hono();
  standIn.onError((err) => problemFor(err));
  const v1 = new Hono();
  v1.use(requireKey(herald.keys));
  v1.route('/', templatePartsRoutes(herald));
  standIn.route('/v1', v1);
  return standIn;
}

const KEY = 'parts-test-key-0123456789';

for (const backend of BACKENDS) {
  describe(
    `layouts and partials on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      let call: Call;
      before(async () => {
        herald = await openHerald(backend, { apiKey: KEY });
        call = apiCaller(appFor(herald), KEY);
      });
      after(async () => {
        await closeHerald(herald);
      });

      it('needs an API key', async () => {
        for (const [method, path] of [
          ['GET', '/v1/layouts'],
          ['GET', '/v1/partials'],
          ['PUT', '/v1/layouts/a'],
          ['GET', '/v1/partials/a'],
          ['DELETE', '/v1/partials/a'],
        ] as const) {
          const res = await call(
            method,
            path,
            method === 'PUT' ? { source: 'x' } : undefined,
            null,
          );
          assert.equal(res.status, 401, `${method} ${path}`);
          assert.equal(((await res.json()) as Problem).code, 'unauthorized');
        }
        assert.equal(
          (await call('PUT', '/v1/partials/a', { source: 'x' }, 'wrong-key')).status,
          401,
        );
        assert.deepEqual(await herald.templateParts.list('partial'), [], 'nothing written');
      });

      it('defines, reads, lists, replaces and deletes partials and layouts', async () => {
        const put = await call('PUT', '/v1/partials/footer', { source: '<p>{{company}}</p>' });
        assert.equal(put.status, 201);
        const body = (await put.json()) as Record<string, unknown>;
        assert.equal(body.name, 'footer');
        assert.equal(body.source, '<p>{{company}}</p>');
        assert.equal((await call('PUT', '/v1/partials/footer', { source: 'v2' })).status, 200);
        const layout = { source: '<html>{{{body}}}{{> footer}}</html>', text: '{{body}}\n--' };
        assert.equal((await call('PUT', '/v1/layouts/brand', layout)).status, 201);
        const got = (await (await call('GET', '/v1/layouts/brand')).json()) as Record<
          string,
          unknown
        >;
        assert.equal(got.text, layout.text);
        const list = (await (await call('GET', '/v1/partials')).json()) as { name: string }[];
        assert.deepEqual(
          list.map((p) => p.name),
          ['footer'],
        );
        assert.deepEqual(await herald.templateParts.current(), {
          partials: { footer: 'v2' },
          layouts: { brand: layout },
        });
        assert.equal((await call('DELETE', '/v1/partials/footer')).status, 204);
        assert.equal((await call('GET', '/v1/partials/footer')).status, 404);
        assert.equal((await call('DELETE', '/v1/partials/footer')).status, 404);
        assert.deepEqual((await herald.templateParts.current()).partials, {}, 'seen at once');
        assert.equal((await call('DELETE', '/v1/layouts/brand')).status, 204);
      });

      it('the same source again writes nothing', async () => {
        const first = await herald.templateParts.put('partial', 'same', { source: 'x' });
        const again = await herald.templateParts.put('partial', 'same', { source: 'x' });
        assert.deepEqual(
          [first.created, first.changed, again.created, again.changed],
          [true, true, false, false],
        );
        assert.equal(again.part.updatedAt.getTime(), first.part.updatedAt.getTime());
        await herald.templateParts.remove('partial', 'same');
      });

      it('refuses bad sources and names, naming the field, and writes nothing', async () => {
        const refused = async (path: string, body: unknown): Promise<string[]> => {
          const res = await call('PUT', path, body);
          assert.equal(res.status, 400, path);
          const p = (await res.json()) as Problem;
          assert.equal(p.code, 'validation_failed');
          return (p.errors ?? []).map((e) => `${e.field}: ${e.message}`);
        };
        const [syntax] = await refused('/v1/partials/bad', { source: 'Hi {{#if x}}' });
        assert.match(syntax ?? '', /^source: is not a valid Handlebars template/);
        assert.deepEqual(await refused('/v1/layouts/bad', { source: '<p>no body</p>' }), [
          'source: must insert the rendered email html with {{{body}}}',
        ]);
        assert.deepEqual(await refused('/v1/layouts/bad', { source: '<p>{{body}}</p>' }), [
          'source: inserts {{body}} escaped: use {{{body}}} (three braces), the body is HTML already',
        ]);
        assert.deepEqual(
          await refused('/v1/layouts/bad', { source: '{{{body}}}', text: 'no body here' }),
          ['text: must insert the rendered email text with {{body}}'],
        );
        assert.deepEqual(await refused('/v1/partials/bad', { source: 'x', text: 'y' }), [
          'text: is not a known field',
        ]);
        assert.deepEqual(await refused('/v1/partials/bad', { source: '' }), [
          'source: Too small: expected string to have >=1 characters',
        ]);
        const [name] = await refused('/v1/partials/Bad.Name', { source: 'x' });
        assert.match(name ?? '', /^name: /);
        assert.equal((await call('GET', '/v1/partials/bad')).status, 404);
        assert.equal((await call('GET', '/v1/layouts/bad')).status, 404);
        assert.deepEqual(await herald.templateParts.current(), { partials: {}, layouts: {} });
      });

      it('keeps a layout a type names; `layout: false` is not the layout "false"', async () => {
        await herald.templateParts.put('layout', 'news', { source: '{{{body}}}' });
        await herald.templateParts.put('layout', 'false', { source: '{{{body}}}' });
        const email = { subject: 's', html: 'h' };
        await herald.types.put('uses-news', {
          channels: ['email'],
          layout: 'news',
          templates: { email },
        });
        await herald.types.put('no-layout', {
          channels: ['email'],
          layout: false,
          templates: { email },
        });
        const res = await call('DELETE', '/v1/layouts/news');
        assert.equal(res.status, 409);
        assert.match(((await res.json()) as Problem).detail, /used by the types uses-news/);
        assert.ok(await herald.templateParts.get('layout', 'news'), 'still there');
        assert.equal((await call('DELETE', '/v1/layouts/false')).status, 204);
        await herald.types.remove('uses-news');
        assert.equal((await call('DELETE', '/v1/layouts/news')).status, 204);
        await herald.types.remove('no-layout');
      });
    },
  );
}

describe('another process', { skip: pgSkip }, () => {
  let one: Herald;
  let two: Herald;
  before(async () => {
    one = await openHerald('pg');
    two = await createHerald({ databaseUrl: PG_URL, schema: one.config.schema, logLevel: 'warn' });
  });
  after(async () => {
    await two.close();
    await closeHerald(one);
  });

  // The 1 s staleness bound is the cache's rule (template-parts.ts); how soon after it the
  // check query answers is the machine's, so the waits below are not bounded by a clock.
  it('sees a new partial after the 1 s staleness bound, and is served from cache before', async () => {
    const before = await two.templateParts.current();
    assert.deepEqual(before.partials, {});
    await one.templateParts.put('partial', 'fresh', { source: 'new' });
    const written = Date.now();
    assert.equal(await two.templateParts.current(), before, 'cached: no query yet');
    await waitFor(
      async () => (await two.templateParts.current()).partials.fresh === 'new',
      30_000,
      'the other process to see the new partial',
    );
    process.stderr.write(
      `  template parts: seen by the other process after ${Date.now() - written} ms\n`,
    );
    // And a removal the same way.
    await one.templateParts.remove('partial', 'fresh');
    await waitFor(
      async () => (await two.templateParts.current()).partials.fresh === undefined,
      30_000,
      'the other process to see the removal',
    );
  });
});
