/**
 * Jobs and dead letters: counts by kind and status with the oldest due job's wait, pause and
 * resume per kind; the dead jobs with their errors, filtered by kind and error text, retried
 * or discarded one at a time or all that match the filter at once.
 */
import type { Hono } from 'hono';
import type { Herald } from '../../herald.js';
import { HeraldError } from '../../errors.js';
import { queueLines } from '../../queue/queue-lines.js';
import { badge, duration, html, query, when } from '../html.js';
import { actionButton, page } from '../layout.js';
import { back, type AdminEnv } from '../env.js';

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

export function jobRoutes(app: Hono<AdminEnv>, herald: Herald): void {
  app.get('/jobs', async (c) => {
    const session = c.get('session');
    const filter = { kind: str(c.req.query('kind')), error: str(c.req.query('error')) };
    const clean = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined));
    let error: string | undefined;
    const [status, paused, kinds, dead] = await Promise.all([
      herald.queue.status(),
      herald.pauses.list(),
      herald.deadLetters.kinds(),
      herald.deadLetters.list(clean, 100).catch((err: unknown) => {
        if (!(err instanceof HeraldError)) throw err;
        error = err.message;
        return { items: [], total: 0 };
      }),
    ]);
    const rows = queueLines(status, paused);
    const here = `/admin/jobs${query(filter)}`;
    const body = html` <h2>By kind</h2>
      <table>
        <thead>
          <tr>
            <th>queue</th>
            <th>kind</th>
            <th>queued</th>
            <th>processing</th>
            <th>dead</th>
            <th>cancelled</th>
            <th>oldest due waiting</th>
            <th>worker</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          ${
            rows.length === 0
              ? html`<tr>
                  <td colspan="9" class="muted">No jobs.</td>
                </tr>`
              : ''
          }${rows.map((r) => {
            const isPaused = r.paused;
            return html`<tr>
              <td>${r.queue}</td>
              <td>${r.kind}${isPaused ? html` <span class="badge s-paused">paused</span>` : ''}</td>
              <td>${r.queued}</td>
              <td>${r.processing}</td>
              <td>${r.dead}</td>
              <td>${r.cancelled}</td>
              <td>${duration(r.oldestDueLagMs)}</td>
              <td>${r.handled ? 'live' : html`<span class="muted">none seen</span>`}</td>
              <td>
                ${actionButton(session, isPaused ? '/admin/jobs/resume' : '/admin/jobs/pause', isPaused ? `Resume ${r.kind}` : `Pause ${r.kind}`, { queue: r.queue, kind: r.kind, back: here })}
              </td>
            </tr>`;
          })}
        </tbody>
      </table>
      <h2 id="dead">Dead letters</h2>
      <form method="get" action="/admin/jobs" class="filters" role="search">
        <label
          >Kind
          <select name="kind">
            <option value="">any</option>
            ${kinds.map(
              (k) =>
                html`<option value="${k.kind}" ${k.kind === filter.kind ? html` selected` : ''}>
                  ${k.kind} (${k.count})
                </option>`,
            )}
          </select></label
        >
        <label>Error contains <input name="error" value="${filter.error ?? ''}" /></label>
        <button type="submit">Filter</button>
      </form>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
      <p>
        <strong class="match-count">${dead.total}</strong> dead jobs
        match${dead.total > dead.items.length ? html` (the newest ${dead.items.length} shown)` : ''}.
        ${
          dead.total > 0
            ? html`${actionButton(session, '/admin/jobs/dead/replay', `Retry all ${dead.total} matching`, { ...clean, back: here }, { confirm: `Queue ${dead.total} dead jobs again?` })}
              ${actionButton(session, '/admin/jobs/dead/discard', `Discard all ${dead.total} matching`, { ...clean, back: here }, { danger: true, confirm: `Discard ${dead.total} dead jobs?` })}`
            : ''
        }
      </p>
      <table>
        <thead>
          <tr>
            <th>job</th>
            <th>kind</th>
            <th>attempts</th>
            <th>died</th>
            <th>last error</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          ${dead.items.map(
            (j) =>
              html`<tr>
                <td>${j.id}</td>
                <td>${j.kind}</td>
                <td>${j.attempts}/${j.maxAttempts}</td>
                <td>${when(j.updatedAt)}</td>
                <td>
                  <details>
                    <summary class="error">${(j.lastError ?? '').split('\n')[0]}</summary>
                    <pre>${j.lastError ?? ''}</pre>
                    <p>Payload</p>
                    <pre class="json">${JSON.stringify(j.payload, null, 2)}</pre>
                  </details>
                </td>
                <td>
                  ${actionButton(session, '/admin/jobs/dead/replay', 'Retry', { id: j.id, back: here })}
                  ${actionButton(session, '/admin/jobs/dead/discard', 'Discard', { id: j.id, back: here }, { danger: true })}
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
      <p class="muted">
        ${badge('dead')} jobs used up their attempts or failed permanently. Retrying starts a new
        series of attempts.
      </p>`;
    return c.html(
      page({ title: 'Jobs', path: '/admin/jobs', session, notice: c.req.query('notice') }, body),
    );
  });

  const filterOf = (form: Record<string, unknown>) =>
    Object.fromEntries(
      (['kind', 'error', 'id'] as const).flatMap((k) => (str(form[k]) ? [[k, str(form[k])]] : [])),
    );
  app.post('/jobs/dead/replay', async (c) => {
    const form = await c.req.parseBody();
    return back(
      c,
      form,
      '/admin/jobs',
      `replayed:${await herald.deadLetters.replay(filterOf(form))}`,
    );
  });
  app.post('/jobs/dead/discard', async (c) => {
    const form = await c.req.parseBody();
    return back(
      c,
      form,
      '/admin/jobs',
      `discarded:${await herald.deadLetters.discard(filterOf(form))}`,
    );
  });
  app.post('/jobs/pause', async (c) => {
    const form = await c.req.parseBody();
    const kind = str(form.kind);
    if (!kind) return c.text('say which kind', 400);
    await herald.pauses.pause(kind, str(form.queue) ?? 'default');
    return back(c, form, '/admin/jobs', 'paused');
  });
  app.post('/jobs/resume', async (c) => {
    const form = await c.req.parseBody();
    const kind = str(form.kind);
    if (!kind) return c.text('say which kind', 400);
    await herald.pauses.resume(kind, str(form.queue) ?? 'default');
    return back(c, form, '/admin/jobs', 'resumed');
  });
}
