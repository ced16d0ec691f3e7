/**
 * The overview: the processes running (their roles, last heartbeat), notifications and deliveries per bucket by channel and status, the failure
 * rate, per-provider time to send, the queue with its lag and the dead letters, over the last
 * hour, day or week. The charts (uPlot, admin.js) read /admin/overview.json and refresh while
 * the tab is visible (every 10 s for the hour, less often for longer ranges).
 */
import type { Hono } from 'hono';
import type { Herald } from '../../herald.js';
import { duration, html, query, when } from '../html.js';
import { page } from '../layout.js';
import type { AdminEnv } from '../env.js';
import { overview, RANGES, type Range } from '../stats.js';

/** How often the charts refresh: a week's figures read a week of deliveries. */
const REFRESH_MS: Record<Range, number> = { hour: 10_000, day: 30_000, week: 60_000 };

const rangeOf = (r: string | undefined): Range => (r && r in RANGES ? (r as Range) : 'hour');
const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)} %`);

export function overviewRoutes(app: Hono<AdminEnv>, herald: Herald): void {
  app.get('/overview.json', async (c) =>
    c.json(await overview(herald, rangeOf(c.req.query('range')))),
  );

  app.get('/', async (c) => {
    const range = rangeOf(c.req.query('range'));
    const [o, processes] = await Promise.all([overview(herald, range), herald.presence.list()]);
    const sent = o.totals.deliveries.sent ?? 0;
    const failed = o.totals.deliveries.failed ?? 0;
    const body = html` <nav class="tabs" aria-label="Range">
        ${(Object.keys(RANGES) as Range[]).map(
          (r) =>
            html`<a
              href="/admin${query({ range: r })}"
              ${r === range ? html` aria-current="true"` : ''}
              >${RANGES[r].label}</a
            >`,
        )}
      </nav>
      <section class="cards" aria-label="Totals, ${RANGES[range].label}">
        <div class="card"><span class="figure">${o.totals.notifications}</span> notifications</div>
        <div class="card"><span class="figure">${sent}</span> deliveries sent</div>
        <div class="card"><span class="figure">${failed}</span> failed</div>
        <div class="card">
          <span class="figure">${pct(o.totals.failureRate)}</span> failure rate
        </div>
        <div class="card">
          <span class="figure">${duration(o.oldestDueLagMs)}</span> oldest due job waiting
        </div>
        <div class="card">
          <a href="/admin/jobs#dead"><span class="figure">${o.deadJobs}</span> dead jobs</a>
        </div>
      </section>
      <section
        class="charts"
        data-overview="/admin/overview.json${query({ range })}"
        data-every-ms="${String(REFRESH_MS[range])}"
      >
        <figure>
          <figcaption>Notifications per ${duration(o.bucketMs)}</figcaption>
          <div class="chart" data-chart="notifications"></div>
        </figure>
        <figure>
          <figcaption>Deliveries by channel</figcaption>
          <div class="chart" data-chart="byChannel"></div>
        </figure>
        <figure>
          <figcaption>Deliveries by status</figcaption>
          <div class="chart" data-chart="byStatus"></div>
        </figure>
        <figure>
          <figcaption>Failure rate</figcaption>
          <div class="chart" data-chart="failureRate"></div>
        </figure>
      </section>
      <h2>Providers</h2>
      <table>
        <thead>
          <tr>
            <th>provider</th>
            <th>sent</th>
            <th>failed</th>
            <th>due → sent p50</th>
            <th>p95</th>
          </tr>
        </thead>
        <tbody>
          ${
            o.providers.length === 0
              ? html`<tr>
                  <td colspan="5" class="muted">Nothing sent in this range.</td>
                </tr>`
              : ''
          }${o.providers.map(
            (p) =>
              html`<tr>
                <td>${p.provider}</td>
                <td>${p.sent}</td>
                <td>${p.failed}</td>
                <td>${duration(p.p50Ms)}</td>
                <td>${duration(p.p95Ms)}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      <h2>Processes</h2>
      <table>
        <thead>
          <tr>
            <th>host</th>
            <th>pid</th>
            <th>roles</th>
            <th>queues</th>
            <th>started</th>
            <th>last heard</th>
          </tr>
        </thead>
        <tbody>
          ${
            processes.length === 0
              ? html`<tr>
                  <td colspan="6" class="muted">No process has reported in the last day.</td>
                </tr>`
              : ''
          }
          ${processes.map(
            (p) =>
              html`<tr>
                <td>${p.host}</td>
                <td>${p.pid ?? '–'}</td>
                <td>
                  ${p.roles.join(', ')}${p.live ? '' : html` <span class="badge s-failed">gone</span>`}
                </td>
                <td>${p.queues.map((q) => `${q.queue} (${q.kinds} kinds)`).join(', ') || '–'}</td>
                <td>${when(p.startedAt)}</td>
                <td>${duration(p.lastSeenMsAgo)} ago</td>
              </tr>`,
          )}
        </tbody>
      </table>
      <h2>Queue</h2>
      <table>
        <thead>
          <tr>
            <th>kind</th>
            <th>queued</th>
            <th>processing</th>
            <th>dead</th>
            <th>oldest due waiting</th>
          </tr>
        </thead>
        <tbody>
          ${
            o.queue.length === 0
              ? html`<tr>
                  <td colspan="5" class="muted">The queue is empty.</td>
                </tr>`
              : ''
          }${o.queue.map(
            (k) =>
              html`<tr>
                <td>
                  <a href="/admin/jobs${query({ kind: k.kind })}"
                    >${k.queue === 'default' ? '' : `${k.queue}/`}${k.kind}</a
                  >
                </td>
                <td>${k.queued}</td>
                <td>${k.processing}</td>
                <td>${k.dead}</td>
                <td>${duration(k.lagMs)}</td>
              </tr>`,
          )}
        </tbody>
      </table>`;
    return c.html(
      page(
        {
          title: 'Overview',
          path: '/admin',
          session: c.get('session'),
          notice: c.req.query('notice'),
        },
        body,
      ),
    );
  });
}
