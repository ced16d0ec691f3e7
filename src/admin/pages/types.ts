/**
 * Notification types and their templates: the list, and one type's preview per channel and
 * locale with sample data (the same render as sending, the email in a sandboxed frame whose
 * HTML comes from its own URL). The preview changes nothing, so it is a GET.
 */
import type { Hono } from 'hono';
import type { Herald } from '../../herald.js';
import { HeraldError, ValidationError } from '../../errors.js';
import { render } from '../../notify/render.js';
import type { NotificationType } from '../../notify/types.js';
import type { Channel } from '../../types.js';
import { html, jsonBlock, query, when } from '../html.js';
import { page } from '../layout.js';
import type { AdminEnv } from '../env.js';

/** Sample data: what the form says, or a placeholder for each variable the templates use. */
function sampleData(type: NotificationType, given: string | undefined): Record<string, unknown> {
  if (given) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(given);
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new ValidationError([{ field: 'data', message: 'must be a JSON object' }]);
    return parsed as Record<string, unknown>;
  }
  const names = new Set<string>();
  for (const m of JSON.stringify(type.templates).matchAll(/\{\{\{?\s*([A-Za-z_][\w]*)[\s}]/g))
    if (!['else', 'this', 'recipient', 'unsubscribeUrl'].includes(m[1] as string))
      names.add(m[1] as string);
  return Object.fromEntries([...names].map((n) => [n, `<${n}>`]));
}

function previewOf(
  type: NotificationType,
  channel: Channel,
  data: Record<string, unknown>,
  locale: string | undefined,
  parts: Awaited<ReturnType<Herald['templateParts']['current']>>,
) {
  const withRecipient = {
    recipient: { id: 'preview', locale: locale ?? null, data: {} },
    unsubscribeUrl: '#',
    ...data,
  };
  return render(type, channel, withRecipient, locale ?? null, parts);
}

export function typeRoutes(app: Hono<AdminEnv>, herald: Herald): void {
  app.get('/types', async (c) => {
    const list = await herald.types.list({
      limit: '200',
      ...(c.req.query('cursor') ? { cursor: c.req.query('cursor') } : {}),
    });
    const body = html` <table>
        <thead>
          <tr>
            <th>type</th>
            <th>category</th>
            <th>channels</th>
            <th>locales</th>
            <th>updated</th>
          </tr>
        </thead>
        <tbody>
          ${
            list.items.length === 0
              ? html`<tr>
                  <td colspan="5" class="muted">
                    No types yet. Define one with PUT /v1/types/{name}.
                  </td>
                </tr>`
              : ''
          }${list.items.map(
            (t) =>
              html`<tr>
                <td><a href="/admin/types/${encodeURIComponent(t.name)}">${t.name}</a></td>
                <td>${t.category}</td>
                <td>${t.channels.join(', ')}</td>
                <td>${Object.keys(t.locales).join(', ') || '–'}</td>
                <td>${when(t.updatedAt)}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${list.nextCursor ? html`<p><a rel="next" href="/admin/types${query({ cursor: list.nextCursor })}">Next →</a></p>` : ''}`;
    return c.html(page({ title: 'Types', path: '/admin/types', session: c.get('session') }, body));
  });

  app.get('/types/:name', async (c) => {
    const session = c.get('session');
    const type = await herald.types.get(c.req.param('name'));
    if (!type)
      return c.html(
        page(
          { title: 'No such type', path: '/admin/types', session },
          html`<p>No type "${c.req.param('name')}".</p>`,
        ),
        404,
      );
    const channel = (type.channels as string[]).includes(c.req.query('channel') ?? '')
      ? (c.req.query('channel') as Channel)
      : (type.channels[0] as Channel);
    const locale = c.req.query('locale') || undefined;
    let data: Record<string, unknown> = {};
    let rendered: Record<string, string> | undefined;
    let error: string | undefined;
    try {
      data = sampleData(type, c.req.query('data'));
      rendered = previewOf(type, channel, data, locale, await herald.templateParts.current());
    } catch (err) {
      if (!(err instanceof HeraldError)) throw err;
      error = err.message;
    }
    const frame = `/admin/types/${encodeURIComponent(type.name)}/email.html${query({ locale, data: JSON.stringify(data) })}`;
    const body = html` <form method="get" class="filters">
        <label
          >Channel
          <select name="channel">
            ${type.channels.map((ch) => html`<option${ch === channel ? html` selected` : ''}>${ch}</option>`)}
          </select></label
        >
        <label
          >Locale
          <select name="locale">
            <option value="">default</option>
            ${Object.keys(type.locales).map((l) => html`<option${l === locale ? html` selected` : ''}>${l}</option>`)}
          </select></label
        >
        <label class="wide"
          >Sample data (JSON)
          <textarea name="data" rows="4">${JSON.stringify(data, null, 2)}</textarea>
        </label>
        <button type="submit">Preview</button>
      </form>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
      ${
        rendered && channel === 'email'
          ? html`<section class="card">
              <h2>Subject: ${rendered.subject ?? ''}</h2>
              <iframe class="email" sandbox title="The email preview" src="${frame}"></iframe>${
                rendered.text
                  ? html`<h3>Text part</h3>
                      <pre>${rendered.text}</pre>`
                  : ''
              }
            </section>`
          : ''
      }
      ${
        rendered && channel !== 'email'
          ? html`<section class="card">
              <h2>${channel}</h2>
              ${jsonBlock(rendered)}
            </section>`
          : ''
      }
      <details class="card">
        <summary>Definition</summary>
        ${jsonBlock({ ...type, createdAt: undefined, updatedAt: undefined })}
      </details>`;
    return c.html(page({ title: `Type ${type.name}`, path: '/admin/types', session }, body));
  });

  app.get('/types/:name/email.html', async (c) => {
    const type = await herald.types.get(c.req.param('name'));
    if (!type || !type.channels.includes('email')) return c.text('no email template', 404);
    c.header(
      'content-security-policy',
      "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'",
    );
    try {
      const out = previewOf(
        type,
        'email',
        sampleData(type, c.req.query('data')),
        c.req.query('locale') || undefined,
        await herald.templateParts.current(),
      );
      return c.html(out.html ?? html`<pre>${out.text ?? ''}</pre>`.text);
    } catch (err) {
      if (!(err instanceof HeraldError)) throw err;
      return c.html(html`<p>${err.message}</p>`.text, 400);
    }
  });
}
