/**
 * Notifications: the search (recipient, type, delivery status, time, a `data` key/value) and
 * one notification's timeline, the page that answers "why didn't this person get this?": the
 * trigger (who, payload, idempotency key), each channel's content, each delivery with its
 * status history, attempts, provider answers, errors and skip reasons, and retry/cancel.
 *
 * Content is what was sent, kept on each delivery (HERALD_KEEP_CONTENT, default on), and the
 * inbox item as stored; where it was not kept (turned off, or sent by an older Herald) it is
 * rendered again from the type's current templates with the notification's data, and the
 * page says which. The email's HTML is shown
 * in a sandboxed frame from its own URL, whose CSP lets it style itself and run nothing.
 */
import type { Context, Hono } from 'hono';
import type { Herald } from '../../herald.js';
import { quoteIdent } from '../../db/sql.js';
import { recipientData } from '../../notify/deliver.js';
import { isUuid } from '../../notify/ids.js';
import type { NotificationDetail } from '../../notify/notifications.js';
import { render } from '../../notify/render.js';
import type { Channel } from '../../types.js';
import { HeraldError } from '../../errors.js';
import { badge, html, jsonBlock, query, when, type Html } from '../html.js';
import { actionButton, page } from '../layout.js';
import { back, type AdminEnv } from '../env.js';

const STATUSES = ['', 'queued', 'sent', 'failed', 'skipped', 'cancelled'];

interface JobRow {
  key: string;
  status: string;
  attempts: number;
  max_attempts: number;
  errors: { at: string; attempt: number; error: string }[];
}

export function notificationRoutes(app: Hono<AdminEnv>, herald: Herald): void {
  const s = quoteIdent(herald.config.schema);

  app.get('/notifications', async (c) => {
    const q = c.req.query();
    const f = {
      recipient: q.recipient?.trim() || undefined,
      type: q.type?.trim() || undefined,
      status: q.status || undefined,
      since: q.since ? toIso(q.since) : undefined,
      until: q.until ? toIso(q.until) : undefined,
      key: q.key?.trim() || undefined,
      value: q.value ?? undefined,
      cursor: q.cursor || undefined,
    };
    let result: Awaited<ReturnType<Herald['notifications']['list']>> | undefined;
    let error: string | undefined;
    try {
      result = await herald.notifications.list({
        ...(f.recipient ? { recipient: f.recipient } : {}),
        ...(f.type ? { type: f.type } : {}),
        ...(f.status ? { status: f.status } : {}),
        ...(f.since ? { since: f.since } : {}),
        ...(f.until ? { until: f.until } : {}),
        ...(f.key && f.value !== undefined && f.value !== '' ? { [`data.${f.key}`]: f.value } : {}),
        ...(f.cursor ? { cursor: f.cursor } : {}),
        limit: '50',
      });
    } catch (err) {
      if (!(err instanceof HeraldError)) throw err;
      error = err.message;
    }
    const keep = { ...q, cursor: undefined, notice: undefined };
    const body = html` <form
        method="get"
        action="/admin/notifications"
        class="filters"
        role="search"
      >
        <label>Recipient <input name="recipient" value="${f.recipient ?? ''}" /></label>
        <label>Type <input name="type" value="${f.type ?? ''}" /></label>
        <label
          >Delivery status
          <select name="status">
            ${STATUSES.map(
              (st) =>
                html`<option value="${st}" ${st === (f.status ?? '') ? html` selected` : ''}>
                  ${st || 'any'}
                </option>`,
            )}
          </select></label
        >
        <label
          >Since <input name="since" type="datetime-local" step="1" value="${q.since ?? ''}"
        /></label>
        <label
          >Until <input name="until" type="datetime-local" step="1" value="${q.until ?? ''}"
        /></label>
        <label>Data key <input name="key" value="${f.key ?? ''}" placeholder="orderId" /></label>
        <label>Data value <input name="value" value="${f.value ?? ''}" /></label>
        <button type="submit">Search</button>
      </form>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
      <table>
        <thead>
          <tr>
            <th>created</th>
            <th>recipient</th>
            <th>type</th>
            <th>deliveries</th>
            <th>data</th>
          </tr>
        </thead>
        <tbody>
          ${
            result && result.items.length === 0
              ? html`<tr>
                  <td colspan="5" class="muted">No notification matches.</td>
                </tr>`
              : ''
          }${(result?.items ?? []).map(
            (n) =>
              html`<tr>
                <td><a href="/admin/notifications/${n.id}">${when(n.createdAt)}</a></td>
                <td>
                  ${n.recipientId ? html`<a href="/admin/recipients/${encodeURIComponent(n.recipientId)}">${n.recipientId}</a>` : html`<span class="muted">erased</span>`}
                </td>
                <td>${n.type}</td>
                <td>
                  ${n.deliveries.map((d) => html`<span class="delivery">${d.channel} ${badge(d.status)}${d.reason ? html` <small>${d.reason}</small>` : ''}</span> `)}
                </td>
                <td><code class="clip">${JSON.stringify(n.data)}</code></td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${result?.nextCursor ? html`<p><a href="/admin/notifications${query({ ...keep, cursor: result.nextCursor })}" rel="next">Older →</a></p>` : ''}`;
    return c.html(
      page(
        {
          title: 'Notifications',
          path: '/admin/notifications',
          session: c.get('session'),
          notice: q.notice,
        },
        body,
      ),
    );
  });

  app.get('/notifications/:id', async (c) => {
    const n = isUuid(c.req.param('id')) ? await herald.notifications.get(c.req.param('id')) : null;
    if (!n) return c.html(missing(c), 404);
    const [idem, jobs, recipient, type, stored] = await Promise.all([
      herald.db.query<{ key: string }>(
        `SELECT key FROM ${s}.idempotency_keys WHERE trigger_id = $1`,
        [n.triggerId],
      ),
      herald.db.query<JobRow>(
        `SELECT key, status, attempts, max_attempts, errors FROM ${s}.jobs WHERE key = ANY($1::text[])`,
        [n.deliveries.map((d) => `deliver:${d.id}`)],
      ),
      n.recipientId ? herald.recipients.get(n.recipientId) : null,
      herald.types.get(n.type),
      storedContent(herald, n.id),
    ]);
    const jobOf = new Map(jobs.rows.map((j) => [j.key.slice('deliver:'.length), j]));
    const session = c.get('session');
    const pending = n.deliveries.some((d) => d.status === 'queued');
    const content = await contentOf(herald, n, recipient, type, stored);
    const body = html` <section class="card">
        <h2>Trigger</h2>
        <dl>
          <dt>Notification</dt>
          <dd><code>${n.id}</code></dd>
          <dt>Recipient</dt>
          <dd>
            ${n.recipientId ? html`<a href="/admin/recipients/${encodeURIComponent(n.recipientId)}">${n.recipientId}</a>` : html`<span class="muted">erased</span>`}
          </dd>
          <dt>Type</dt>
          <dd>
            <a href="/admin/types/${encodeURIComponent(n.type)}">${n.type}</a> (${n.priority})
          </dd>
          <dt>Created</dt>
          <dd>${when(n.createdAt)}</dd>
          <dt>Send at</dt>
          <dd>${when(n.sendAt)}</dd>
          <dt>Trigger</dt>
          <dd><code>${n.triggerId}</code></dd>
          <dt>Idempotency key</dt>
          <dd>
            ${idem.rows[0] ? html`<code>${idem.rows[0].key}</code>` : html`<span class="muted">none</span>`}
          </dd>
          ${
            n.cancelledAt
              ? html`<dt>Cancelled</dt>
                  <dd>${when(n.cancelledAt)}</dd>`
              : ''
          }
          <dt>Inbox</dt>
          <dd>
            ${n.inbox ? (n.read ? 'read' : 'unread') : html`<span class="muted">not in the inbox</span>`}
          </dd>
        </dl>
        <h3>Payload</h3>
        ${jsonBlock(n.data)}
        ${pending ? actionButton(session, `/admin/notifications/${n.id}/cancel`, 'Cancel what is not sent', {}, { danger: true, confirm: 'Cancel the deliveries not sent yet?' }) : ''}
      </section>
      <h2>Deliveries</h2>
      ${n.deliveries.map((d) => deliveryCard(d, jobOf.get(d.id), session, n.id))}
      <h2>Content</h2>
      ${content}`;
    return c.html(
      page(
        {
          title: `${n.type} → ${n.recipientId ?? 'erased recipient'}`,
          path: '/admin/notifications',
          session,
          notice: c.req.query('notice'),
        },
        body,
        pending ? { refreshMs: 2_000 } : {},
      ),
    );
  });

  // The email as HTML, for the sandboxed frame: styles may apply, nothing may run or load.
  app.get('/notifications/:id/email.html', async (c) => {
    const n = isUuid(c.req.param('id')) ? await herald.notifications.get(c.req.param('id')) : null;
    if (!n) return c.text('no email', 404);
    const out = await emailOf(herald, n);
    if (!out) return c.text('no email', 404);
    c.header(
      'content-security-policy',
      "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'",
    );
    return c.html(
      out.ok
        ? (out.fields.html ?? `<pre>${escapeText(out.fields.text ?? '')}</pre>`)
        : `<p>${escapeText(out.error)}</p>`,
    );
  });

  app.post('/notifications/:id/cancel', async (c) => {
    const form = await c.req.parseBody();
    const n = await herald.notifications.cancel(c.req.param('id'));
    if (!n) return c.html(missing(c), 404);
    return back(c, form, `/admin/notifications/${n.id}`, 'cancelled');
  });

  app.post('/deliveries/:id/retry', async (c) => {
    const form = await c.req.parseBody();
    const row = await herald.deliveries.retry(c.req.param('id'));
    if (!row) return c.text('no such delivery', 404);
    return back(c, form, '/admin/notifications', 'retried');
  });
}

function deliveryCard(
  d: NotificationDetail['deliveries'][number],
  job: JobRow | undefined,
  session: AdminEnv['Variables']['session'],
  notificationId: string,
): Html {
  const retryable = d.status === 'failed' || d.status === 'cancelled';
  return html`<section class="card delivery-card" data-delivery="${d.id}" data-status="${d.status}">
    <h3>
      ${d.channel}
      ${badge(d.status)}${d.reason ? html` <small class="reason">${d.reason}</small>` : ''}
    </h3>
    <dl>
      <dt>Provider</dt>
      <dd>
        ${d.provider ?? html`<span class="muted">–</span>`}${d.providerMessageId ? html` · <code>${d.providerMessageId}</code>` : ''}
      </dd>
      <dt>Address</dt>
      <dd>${d.address ?? html`<span class="muted">–</span>`}</dd>
      <dt>Attempts</dt>
      <dd>
        ${d.attempts}${job ? html` (job ${job.status}, ${job.attempts} of ${job.max_attempts})` : ''}
      </dd>
      <dt>Sent</dt>
      <dd>${when(d.sentAt)}</dd>
      ${
        d.error
          ? html`<dt>Error</dt>
              <dd class="error">${d.error}</dd>`
          : ''
      }
      ${
        d.details
          ? html`<dt>Provider's answer</dt>
              <dd>${jsonBlock(d.details)}</dd>`
          : ''
      }
    </dl>
    <ol class="timeline">
      ${d.events.map(
        (e) =>
          html`<li>
            ${when(e.at)} ${badge(e.status)}${e.detail ? html` <span>${e.detail}</span>` : ''}
          </li>`,
      )}${(job?.errors ?? []).map(
        (e) =>
          html`<li>
            ${when(e.at)} <span class="badge s-failed">attempt ${e.attempt}</span>
            <span class="error">${e.error}</span>
          </li>`,
      )}
    </ol>
    ${retryable ? actionButton(session, `/admin/deliveries/${d.id}/retry`, `Retry ${d.channel}`, { back: `/admin/notifications/${notificationId}` }) : ''}
  </section>`;
}

type Rendered = { ok: true; fields: Record<string, string> } | { ok: false; error: string };

function renderChannel(
  herald: Herald,
  parts: Awaited<ReturnType<Herald['templateParts']['current']>>,
  n: NotificationDetail,
  recipient: Awaited<ReturnType<Herald['recipients']['get']>>,
  type: NonNullable<Awaited<ReturnType<Herald['types']['get']>>>,
  channel: Channel,
): Rendered {
  const data = {
    ...n.data,
    recipient: recipientData({
      recipient_id: n.recipientId,
      email: recipient?.email ?? null,
      phone: recipient?.phone ?? null,
      locale: recipient?.locale ?? null,
      timezone: recipient?.timezone ?? null,
      recipient_data: recipient?.data ?? {},
    }),
  };
  try {
    return { ok: true, fields: render(type, channel, data, recipient?.locale ?? null, parts) };
  } catch (err) {
    herald.log.debug({ err }, 'console:render');
    return { ok: false, error: (err as Error).message };
  }
}

/** The content each channel's delivery was sent with (HERALD_KEEP_CONTENT), by channel. */
async function storedContent(
  herald: Herald,
  id: string,
): Promise<Map<string, Record<string, string>>> {
  const { rows } = await herald.db.query<{ channel: string; content: Record<string, string> }>(
    `SELECT channel, content FROM ${quoteIdent(herald.config.schema)}.deliveries
     WHERE notification_id = $1 AND content IS NOT NULL ORDER BY id`,
    [id],
  );
  return new Map(rows.map((r) => [r.channel, r.content]));
}

const AS_SENT = html`<small class="muted">as sent</small>`;
const RENDERED_NOW = html`<small class="muted"
  >rendered now from the type's current templates with this notification's data (the content sent
  was not kept)</small
>`;

/** The notification's email: as sent if kept, else rendered now; undefined if it has none. */
async function emailOf(herald: Herald, n: NotificationDetail): Promise<Rendered | undefined> {
  const sent = (await storedContent(herald, n.id)).get('email');
  if (sent) return { ok: true, fields: sent };
  const type = await herald.types.get(n.type);
  if (!type || !type.channels.includes('email')) return undefined;
  const recipient = n.recipientId ? await herald.recipients.get(n.recipientId) : null;
  const parts = await herald.templateParts.current();
  return renderChannel(herald, parts, n, recipient, type, 'email');
}

async function contentOf(
  herald: Herald,
  n: NotificationDetail,
  recipient: Awaited<ReturnType<Herald['recipients']['get']>>,
  type: Awaited<ReturnType<Herald['types']['get']>>,
  stored: Map<string, Record<string, string>>,
): Promise<Html> {
  if (n.recipientId === null)
    return html`<p class="muted">The recipient was erased, and with them the content.</p>`;
  const parts = await herald.templateParts.current();
  const channels = [...new Set(n.deliveries.map((d) => d.channel as Channel))];
  return html`${channels.map((channel) => {
    const sent = stored.get(channel);
    if (channel === 'email' && (sent || type))
      return html`<section class="card">
        <h3>email ${sent ? AS_SENT : RENDERED_NOW}</h3>
        ${sent?.subject ? html`<p>Subject: <strong>${sent.subject}</strong></p>` : ''}
        <iframe
          class="email"
          sandbox
          title="The email as the recipient sees it"
          src="/admin/notifications/${n.id}/email.html"
        ></iframe>
      </section>`;
    if (channel === 'inapp' && n.inbox)
      return html`<section class="card">
        <h3>inapp <small class="muted">as stored in the inbox</small></h3>
        ${jsonBlock(n.inbox)}
      </section>`;
    if (sent)
      return html`<section class="card">
        <h3>${channel} ${AS_SENT}</h3>
        ${jsonBlock(sent)}
      </section>`;
    if (!type)
      return html`<section class="card">
        <h3>${channel}</h3>
        <p class="muted">Not kept, and the type "${n.type}" no longer exists.</p>
      </section>`;
    const out = renderChannel(herald, parts, n, recipient, type, channel);
    return html`<section class="card">
      <h3>${channel} ${RENDERED_NOW}</h3>
      ${out.ok ? jsonBlock(out.fields) : html`<p class="error">${out.error}</p>`}
    </section>`;
  })}`;
}

/** A datetime-local value (no zone: taken as UTC) or an ISO instant, as ISO; else as given. */
function toIso(v: string): string {
  const local = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(v)
    ? `${v}${v.length === 16 ? ':00' : ''}Z`
    : v;
  const t = Date.parse(local);
  return Number.isNaN(t) ? v : new Date(t).toISOString();
}

const escapeText = (t: string) => html`${t}`.text;

function missing(c: Context): string {
  return `<!doctype html><title>Not found</title><p>No notification "${escapeText(c.req.param('id') ?? '')}". <a href="/admin/notifications">Search</a></p>`;
}
