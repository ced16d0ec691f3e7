/**
 * Recipients: find one by a prefix of id or email; one recipient's profile, preferences,
 * devices, local-time schedules with their next runs, suppressions of their addresses, recent
 * notifications and inbox; erase, confirmed by typing the id.
 */
import type { Hono } from 'hono';
import type { Herald } from '../../herald.js';
import { quoteIdent } from '../../db/sql.js';
import { HeraldError } from '../../errors.js';
import { badge, html, jsonBlock, query, when } from '../html.js';
import { csrfField, page } from '../layout.js';
import { back, type AdminEnv } from '../env.js';

export function recipientRoutes(app: Hono<AdminEnv>, herald: Herald): void {
  const s = quoteIdent(herald.config.schema);

  app.get('/recipients', async (c) => {
    const prefix = c.req.query('q')?.trim() || undefined;
    const cursor = c.req.query('cursor') || undefined;
    let error: string | undefined;
    const found = await herald.recipients
      .list({ ...(prefix ? { prefix } : {}), ...(cursor ? { cursor } : {}), limit: '50' })
      .catch((err: unknown) => {
        if (!(err instanceof HeraldError)) throw err;
        error = err.message;
        return { items: [], nextCursor: null };
      });
    const body = html` <form method="get" action="/admin/recipients" class="filters" role="search">
        <label>Id or email starts with <input name="q" value="${prefix ?? ''}" /></label>
        <button type="submit">Find</button>
      </form>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
      <table>
        <thead>
          <tr>
            <th>id</th>
            <th>email</th>
            <th>phone</th>
            <th>locale</th>
            <th>time zone</th>
          </tr>
        </thead>
        <tbody>
          ${
            found.items.length === 0
              ? html`<tr>
                  <td colspan="5" class="muted">No recipient matches.</td>
                </tr>`
              : ''
          }${found.items.map(
            (r) =>
              html`<tr>
                <td><a href="/admin/recipients/${encodeURIComponent(r.id)}">${r.id}</a></td>
                <td>${r.email ?? ''}</td>
                <td>${r.phone ?? ''}</td>
                <td>${r.locale ?? ''}</td>
                <td>${r.timezone ?? ''}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${found.nextCursor ? html`<p><a rel="next" href="/admin/recipients${query({ q: prefix, cursor: found.nextCursor })}">Next →</a></p>` : ''}`;
    return c.html(
      page(
        {
          title: 'Recipients',
          path: '/admin/recipients',
          session: c.get('session'),
          notice: c.req.query('notice'),
        },
        body,
      ),
    );
  });

  app.get('/recipients/:id', async (c) => {
    const id = c.req.param('id');
    const session = c.get('session');
    const r = await herald.recipients.get(id).catch(() => null);
    if (!r)
      return c.html(
        page(
          { title: 'No such recipient', path: '/admin/recipients', session },
          html`<p>No recipient "${id}". <a href="/admin/recipients">Find one</a></p>`,
        ),
        404,
      );
    const addresses = [r.email?.toLowerCase(), r.phone].filter((a): a is string => !!a);
    const [prefs, devices, schedules, recent, inbox, unread, suppressed] = await Promise.all([
      herald.preferences.get(id),
      herald.devices.list(id),
      herald.localSchedules.list(id),
      herald.notifications.list({ recipient: id, limit: '20' }),
      herald.inbox.list(id, { limit: '10' }),
      herald.inbox.unreadCount(id),
      herald.db.query<{ channel: string; address: string; reason: string; created_at: Date }>(
        `SELECT channel, address, reason, created_at FROM ${s}.suppressions WHERE address = ANY($1::text[])`,
        [addresses],
      ),
    ]);
    const body = html` <div class="columns">
        <section class="card">
          <h2>Profile</h2>
          <dl>
            <dt>Email</dt>
            <dd>${r.email ?? '–'}</dd>
            <dt>Phone</dt>
            <dd>${r.phone ?? '–'}</dd>
            <dt>Locale</dt>
            <dd>${r.locale ?? '–'}</dd>
            <dt>Time zone</dt>
            <dd>${r.timezone ?? '–'}</dd>
            <dt>Created</dt>
            <dd>${when(r.createdAt)}</dd>
            <dt>Updated</dt>
            <dd>${when(r.updatedAt)}</dd>
          </dl>
          <h3>Data</h3>
          ${jsonBlock(r.data)}
        </section>
        <section class="card">
          <h2>Preferences</h2>
          ${jsonBlock(prefs)}
        </section>
      </div>
      <section class="card">
        <h2>Devices</h2>
        ${
          devices.length === 0
            ? html`<p class="muted">None.</p>`
            : html`<ul>
                ${devices.map((d) => html`<li>${d.kind} ${d.active ? badge('active') : badge('inactive')} <code class="clip">${d.token ?? 'web push subscription'}</code> ${when(d.createdAt)}</li>`)}
              </ul>`
        }
      </section>
      <section class="card">
        <h2>Local-time schedules</h2>
        ${
          schedules.length === 0
            ? html`<p class="muted">None.</p>`
            : html`<table>
                <thead>
                  <tr>
                    <th>schedule</th>
                    <th>type</th>
                    <th>cron</th>
                    <th>next run</th>
                  </tr>
                </thead>
                <tbody>
                  ${schedules.map(
                    (sc) =>
                      html`<tr>
                        <td>${sc.name}</td>
                        <td>${sc.type}</td>
                        <td><code>${sc.cron}</code> <small>${sc.timezone}</small></td>
                        <td>${when(sc.nextRunAt)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
        }
      </section>
      <section class="card">
        <h2>Suppressions</h2>
        ${
          suppressed.rows.length === 0
            ? html`<p class="muted">None of their addresses is suppressed.</p>`
            : html`<ul>
                ${suppressed.rows.map((x) => html`<li>${x.channel} <code>${x.address}</code> ${x.reason} ${when(x.created_at)}</li>`)}
              </ul>`
        }
      </section>
      <section class="card">
        <h2>Recent notifications</h2>
        <table>
          <thead>
            <tr>
              <th>created</th>
              <th>type</th>
              <th>deliveries</th>
            </tr>
          </thead>
          <tbody>
            ${recent.items.map(
              (n) =>
                html`<tr>
                  <td><a href="/admin/notifications/${n.id}">${when(n.createdAt)}</a></td>
                  <td>${n.type}</td>
                  <td>${n.deliveries.map((d) => html`${d.channel} ${badge(d.status)} `)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
        <p>
          <a href="/admin/notifications${query({ recipient: id })}">All their notifications →</a>
        </p>
      </section>
      <section class="card">
        <h2>Inbox</h2>
        <p>${unread} unread.</p>
        <ul>
          ${inbox.items.map((i) => html`<li>${i.read ? '' : badge('unread')} <strong>${i.title ?? ''}</strong> ${i.body ?? ''} ${when(i.createdAt)}</li>`)}
        </ul>
      </section>
      <section class="card danger-zone">
        <h2>Erase</h2>
        <p>
          Erasing removes the profile, devices and preferences, and the personal data of their
          notifications and deliveries. It cannot be undone.
        </p>
        <form method="post" action="/admin/recipients/${encodeURIComponent(id)}/erase">
          ${csrfField(session)}
          <label>Type the id to confirm <input name="confirm" autocomplete="off" required /></label>
          <button type="submit" class="danger" ${session.readOnly ? html` disabled` : ''}>
            Erase ${id}
          </button>
        </form>
      </section>`;
    return c.html(
      page(
        {
          title: `Recipient ${id}`,
          path: '/admin/recipients',
          session,
          notice: c.req.query('notice'),
        },
        body,
      ),
    );
  });

  app.post('/recipients/:id/erase', async (c) => {
    const form = await c.req.parseBody();
    const id = c.req.param('id');
    if (form.confirm !== id)
      return c.text(
        'The confirmation does not match the id: nothing was erased. Go back and type the id exactly.',
        400,
      );
    await herald.recipients.erase(id);
    return back(c, {}, '/admin/recipients', 'erased');
  });
}
