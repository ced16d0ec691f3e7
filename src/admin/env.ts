/**
 * What the console's routes and pages share: the request's session, where an action returns
 * to, and which `next` paths are allowed (only the console's own).
 */
import type { Context } from 'hono';
import type { Session } from './session.js';

export type AdminEnv = { Variables: { session: Session } };

/** A `next` path inside the console, or undefined (never another site: no `//`, no scheme). */
export function safeNext(next: string | undefined): string | undefined {
  return next && /^\/admin(?:[/?][^\\\s]*)?$/.test(next) && !next.includes('//') ? next : undefined;
}

/** Where an action returns: a console path from the form, or `fallback`, with a notice. */
export function back(c: Context, form: Record<string, unknown>, fallback: string, notice: string) {
  const to = safeNext(typeof form.back === 'string' ? form.back : undefined) ?? fallback;
  return c.redirect(
    `${to}${to.includes('?') ? '&' : '?'}notice=${encodeURIComponent(notice)}`,
    303,
  );
}
