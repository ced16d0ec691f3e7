/** Template rendering: escaping by output kind, strict variables, locale fallback, no prototype access; and the preview endpoint. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ValidationError, type Herald } from '../src/index.js';
import { render } from '../src/notify/render.js';
import { typeDefinitionSchema } from '../src/notify/types.js';
import { makeApp } from '../src/http/app.js';
import { closeHerald, openHerald } from './helpers/db.js';

const type = typeDefinitionSchema.parse({
  channels: ['email', 'sms', 'inapp'],
  templates: {
    email: {
      subject: 'Due: {{title}}',
      html: '<p>{{title}} by {{user.name}}</p>',
      text: '{{title}}',
    },
    sms: { text: '{{title}} is due {{due}}' },
    inapp: { title: '{{title}}', body: 'Due {{due}}', actionUrl: '/tasks/{{id}}' },
  },
  locales: {
    de: { email: { subject: 'Fällig: {{title}}' } },
    'de-AT': { sms: { text: 'Fällig (AT): {{title}}' } },
  },
});

describe('render', () => {
  const data = { title: 'Tom & Jerry <3', due: 'today', id: 7, user: { name: '<b>Ann</b>' } };

  it('escapes HTML only in HTML output', () => {
    const email = render(type, 'email', data);
    assert.equal(email.html, '<p>Tom &amp; Jerry &lt;3 by &lt;b&gt;Ann&lt;/b&gt;</p>');
    assert.equal(email.subject, 'Due: Tom & Jerry <3');
    assert.equal(email.text, 'Tom & Jerry <3');
    assert.equal(render(type, 'sms', data).text, 'Tom & Jerry <3 is due today');
  });

  it('falls back from the exact locale to its language to the default, field by field', () => {
    assert.equal(render(type, 'email', data, 'de-AT').subject, 'Fällig: Tom & Jerry <3');
    assert.equal(render(type, 'email', data, 'de-AT').text, 'Tom & Jerry <3', 'not overridden');
    assert.equal(render(type, 'sms', data, 'de-AT').text, 'Fällig (AT): Tom & Jerry <3');
    assert.equal(render(type, 'sms', data, 'de').text, 'Tom & Jerry <3 is due today');
    assert.equal(render(type, 'email', data, 'fr').subject, 'Due: Tom & Jerry <3');
  });

  it('a missing variable is an error naming the template and the variable', () => {
    assert.throws(
      () => render(type, 'inapp', { title: 'x' }),
      (e: unknown) =>
        e instanceof ValidationError &&
        e.issues.map((i) => i.field).join() === 'templates.inapp.body,templates.inapp.actionUrl' &&
        /uses \{\{due\}\}/.test(e.issues[0]?.message ?? ''),
    );
  });

  it('templates cannot reach prototype properties', () => {
    const sneaky = typeDefinitionSchema.parse({
      channels: ['sms'],
      templates: { sms: { text: '{{title.constructor.name}}' } },
    });
    assert.throws(() => render(sneaky, 'sms', { title: 'x' }), ValidationError);
  });
});

describe('POST /v1/types/{name}/preview', () => {
  let herald: Herald;
  before(async () => {
    herald = await openHerald('pglite', { apiKey: 'preview-test-key-0123456789' });
    await herald.types.put('due', type);
  });
  after(async () => {
    await closeHerald(herald);
  });
  const preview = (body: unknown) =>
    makeApp(herald).request('/v1/types/due/preview', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer preview-test-key-0123456789',
      },
      body: JSON.stringify(body),
    });

  it('renders every channel, or one, with sample data', async () => {
    const all = (await (
      await preview({ data: { title: 'T', due: 'now', id: 1, user: { name: 'A' } } })
    ).json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(all), ['email', 'sms', 'inapp']);
    const one = await preview({
      channel: 'sms',
      locale: 'de-AT',
      data: { title: 'T', due: 'now' },
    });
    assert.deepEqual(await one.json(), { sms: { text: 'Fällig (AT): T' } });
  });

  it('a missing variable is a 400 naming the template', async () => {
    const res = await preview({ channel: 'sms', data: { title: 'T' } });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: string; errors: { field: string }[] };
    assert.equal(body.code, 'validation_failed');
    assert.deepEqual(
      body.errors.map((e) => e.field),
      ['templates.sms.text'],
    );
  });
});
