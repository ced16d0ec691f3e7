/**
 * An inbox item's `actionUrl` is a link an app puts behind the item: only web addresses
 * (http, https) and paths relative to the app may be one. A `javascript:`, `data:` or
 * `vbscript:` URL in an `href` would run in the app's page when the recipient clicks it.
 *
 * Checked on the rendered URL (render.ts: at trigger time, in previews and at delivery) and on
 * the template's literal start when a type is saved (`actionUrlTemplateIssue`).
 */
import Handlebars from 'handlebars';

const ALLOWED = new Set(['http', 'https']);

/**
 * What browsers ignore when they read a URL's scheme: leading C0 controls and spaces, and tabs
 * and line breaks anywhere. Removed before the scheme is read, so `java\tscript:` is caught.
 */
// The control characters are the point: browsers skip them in a scheme, so must we.
// eslint-disable-next-line no-control-regex
const IGNORED = /[\u0000-\u0020]/g;
const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/** Why `url` may not be an action URL, or undefined when it may. */
export function unsafeActionUrl(url: string): string | undefined {
  const scheme = SCHEME.exec(url.replace(IGNORED, ''))?.[1]?.toLowerCase();
  if (scheme === undefined || ALLOWED.has(scheme)) return undefined;
  return `is a ${scheme}: URL: an action URL must be an http(s) address or a path such as /orders/42`;
}

/**
 * The issue with an actionUrl template whose own text, before its first `{{`, already starts
 * an unsafe URL (`javascript:{{code}}`); undefined otherwise (its data is checked when it
 * renders). The template must parse.
 */
export function actionUrlTemplateIssue(template: string): string | undefined {
  const first = Handlebars.parse(template).body[0];
  if (first?.type !== 'ContentStatement') return undefined;
  return unsafeActionUrl((first as hbs.AST.ContentStatement).value);
}
