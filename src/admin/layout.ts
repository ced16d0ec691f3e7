/**
 * The console's page shell: the navigation, the signed-in key's kind, sign-out, and a notice
 * after an action. No inline script or style anywhere (the CSP forbids both): behaviour is in
 * /admin/assets/admin.js, looks in admin.css.
 */
import { html, raw, type Html } from './html.js';
import type { Session } from './session.js';

const NAV = [
  ['/admin', 'Overview'],
  ['/admin/notifications', 'Notifications'],
  ['/admin/jobs', 'Jobs'],
  ['/admin/schedules', 'Schedules'],
  ['/admin/recipients', 'Recipients'],
  ['/admin/types', 'Types'],
] as const;

/** What an action's redirect may say (`?notice=code` or `code:count`): never free text. */
const NOTICES: Record<string, string> = {
  retried: 'The delivery is queued again.',
  cancelled: 'Cancelled what was not sent yet.',
  replayed: 'Dead jobs queued again: {n}.',
  discarded: 'Dead jobs discarded: {n}.',
  paused: 'Paused: workers take no new jobs of this kind.',
  resumed: 'Resumed.',
  run: 'The schedule runs now: a worker takes the run.',
  disabled: 'The schedule is paused.',
  enabled: 'The schedule is running again.',
  erased: 'The recipient is erased.',
};

export function noticeText(code: string | undefined): string | undefined {
  const m = /^([a-z]+)(?::(\d{1,9}))?$/.exec(code ?? '');
  const text = m ? NOTICES[m[1] as string] : undefined;
  return text?.replace('{n}', m?.[2] ?? '0');
}

/** The hidden field every changing form carries. */
export const csrfField = (session: Session): Html =>
  html`<input type="hidden" name="csrf" value="${session.csrf}" />`;

/** A one-button form that posts an action (disabled for a read-only session). */
export function actionButton(
  session: Session,
  action: string,
  label: string,
  fields: Record<string, string> = {},
  options: { danger?: boolean; confirm?: string } = {},
): Html {
  return html`<form
    method="post"
    action="${action}"
    class="inline"
    ${options.confirm ? html` data-confirm="${options.confirm}"` : ''}
  >
    ${csrfField(session)}${Object.entries(fields).map(
      ([k, v]) => html`<input type="hidden" name="${k}" value="${v}" />`,
    )}<button
      type="submit"
      class="${options.danger ? 'danger' : ''}"
      ${raw(session.readOnly ? ' disabled title="read-only key"' : '')}
    >
      ${label}
    </button>
  </form>`;
}

export function page(
  options: { title: string; path: string; session: Session; notice?: string | undefined },
  body: Html,
  extra: { refreshMs?: number } = {},
): string {
  const notice = noticeText(options.notice);
  const current = (href: string) =>
    href === '/admin' ? options.path === '/admin' : options.path.startsWith(href);
  return `<!doctype html>${
    html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${options.title} · Herald</title>
<link rel="stylesheet" href="/admin/assets/admin.css">
<link rel="stylesheet" href="/admin/assets/uPlot.min.css">
<script src="/admin/assets/uPlot.iife.min.js" defer></script>
<script src="/admin/assets/admin.js" defer></script>
</head>
<body${raw(extra.refreshMs ? ` data-refresh-ms="${extra.refreshMs}"` : '')}>
<a class="skip" href="#main">Skip to content</a>
<header>
<span class="brand">Herald</span>
<nav aria-label="Console">${NAV.map(
      ([href, label]) =>
        html`<a href="${href}" ${raw(current(href) ? ' aria-current="page"' : '')}>${label}</a>`,
    )}</nav>
<span class="who">${options.session.readOnly ? html`<span class="badge s-readonly">read-only</span>` : ''}
<form method="post" action="/admin/sign-out" class="inline">${csrfField(options.session)}<button type="submit">Sign out</button></form></span>
</header>
<main id="main">
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<h1>${options.title}</h1>
${body}
</main>
</body>
</html>`.text
  }`;
}

/** The sign-in page (no session yet). */
export function signInPage(error?: string, next?: string): string {
  return `<!doctype html>${
    html`<html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <link rel="icon" href="data:," />
        <title>Sign in · Herald</title>
        <link rel="stylesheet" href="/admin/assets/admin.css" />
      </head>
      <body class="sign-in">
        <main id="main">
          <h1>Herald console</h1>
          <form method="post" action="/admin/sign-in" class="card">
            <label for="key">Admin key</label>
            <input
              id="key"
              name="key"
              type="password"
              autocomplete="current-password"
              required
              autofocus
            />
            ${next ? html`<input type="hidden" name="next" value="${next}" />` : ''}
            ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
            <button type="submit">Sign in</button>
            <p class="muted">
              Make one with <code>herald keys create --admin</code> (or <code>--read-only</code>).
            </p>
          </form>
        </main>
      </body>
    </html>`.text
  }`;
}
