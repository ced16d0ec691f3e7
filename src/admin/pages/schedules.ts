/**
 * Cron schedules: each with its cron and zone, next run, last run and its result, the failure
 * streak; run now (a manual run, recorded beside the ticks) and pause/resume (`enabled`). A
 * schedule from herald.config.json takes the file's `enabled` again at the next start.
 */
import type { Hono } from 'hono';
import type { Herald } from '../../herald.js';
import { badge, html, jsonBlock, when } from '../html.js';
import { actionButton, page } from '../layout.js';
import { back, type AdminEnv } from '../env.js';

export function scheduleRoutes(app: Hono<AdminEnv>, herald: Herald): void {
  app.get('/schedules', async (c) => {
    const session = c.get('session');
    const list = await herald.schedules.list();
    const body = html` <table>
      <thead>
        <tr>
          <th>schedule</th>
          <th>cron</th>
          <th>task</th>
          <th>next run</th>
          <th>last run</th>
          <th>result</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${
          list.length === 0
            ? html`<tr>
                <td colspan="7" class="muted">
                  No cron schedules. Define one with PUT /v1/admin/schedules/{name} or in
                  herald.config.json.
                </td>
              </tr>`
            : ''
        }${list.map(
          (sc) =>
            html`<tr data-schedule="${sc.name}">
              <td>
                ${sc.name}${sc.enabled ? '' : html` <span class="badge s-paused">paused</span>`}${sc.failureStreak > 0 ? html` <span class="badge s-failed">${sc.failureStreak} failed in a row</span>` : ''}
              </td>
              <td><code>${sc.cron}</code> <small>${sc.timezone}</small></td>
              <td>${sc.task}</td>
              <td>${sc.enabled ? when(sc.nextRunAt) : html`<span class="muted">paused</span>`}</td>
              <td>
                ${sc.lastRun ? html`${when(sc.lastRun.startedAt ?? sc.lastRun.tick)}${sc.lastRun.manual ? html` <small>(manual)</small>` : ''}` : html`<span class="muted">never</span>`}
              </td>
              <td class="last-run">
                ${
                  sc.lastRun
                    ? html`${badge(sc.lastRun.status)}${sc.lastRun.error ? html` <span class="error">${sc.lastRun.error}</span>` : ''}${
                        sc.lastRun.result !== null && sc.lastRun.result !== undefined
                          ? html`<details>
                              <summary>result</summary>
                              ${jsonBlock(sc.lastRun.result)}
                            </details>`
                          : ''
                      }`
                    : ''
                }
              </td>
              <td>
                ${actionButton(session, `/admin/schedules/${encodeURIComponent(sc.name)}/run`, `Run ${sc.name} now`)}
                ${actionButton(session, `/admin/schedules/${encodeURIComponent(sc.name)}/${sc.enabled ? 'pause' : 'resume'}`, sc.enabled ? 'Pause' : 'Resume')}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>`;
    const running = list.some(
      (sc) => sc.lastRun?.status === 'queued' || sc.lastRun?.status === 'running',
    );
    return c.html(
      page(
        { title: 'Schedules', path: '/admin/schedules', session, notice: c.req.query('notice') },
        body,
        running ? { refreshMs: 2_000 } : {},
      ),
    );
  });

  app.post('/schedules/:name/run', async (c) => {
    const form = await c.req.parseBody();
    await herald.schedules.runNow(c.req.param('name'));
    return back(c, form, '/admin/schedules', 'run');
  });

  for (const [action, enabled] of [
    ['pause', false],
    ['resume', true],
  ] as const) {
    app.post(`/schedules/:name/${action}`, async (c) => {
      const form = await c.req.parseBody();
      const sc = await herald.schedules.get(c.req.param('name'));
      if (!sc) return c.text('no such schedule', 404);
      await herald.schedules.put(sc.name, {
        cron: sc.cron,
        timezone: sc.timezone,
        task: sc.task,
        payload: sc.payload,
        catchUp: sc.catchUp,
        maxAttempts: sc.maxAttempts,
        enabled,
      });
      return back(c, form, '/admin/schedules', enabled ? 'enabled' : 'disabled');
    });
  }
}
