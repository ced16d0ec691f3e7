/**
 * Refusing a trigger whose data cannot render, at trigger time rather than as a `render_error`
 * on every delivery later (docs/notifications.md, "What is checked when").
 *
 * The trigger's data is rendered through the type's templates once per channel and locale that
 * a queued delivery will render, the way the worker will (render.ts: missing variables, the
 * work bound, unsafe inbox action URLs). The recipient's own fields are known only per
 * recipient, so the first pass stands `recipient` in with `ANY_RECIPIENT`, which has every
 * field; only when that pass fails is each affected recipient rendered with its own fields,
 * and the trigger is refused only if a real recipient's render fails. So a template such as
 * `{{#if recipient.data.vip}}{{vipCode}}{{/if}}` refuses a trigger without `vipCode` only when a
 * recipient is a VIP.
 *
 * Only a failure the trigger's data causes is refused; a missing partial or layout is the
 * type's problem and still fails at delivery, where it is reported.
 */
import { HeraldError, ValidationError, type FieldIssue } from '../errors.js';
import type { EmailOptions } from './email-options.js';
import { withoutOverridden } from './email-options.js';
import { render, RenderError, type RenderParts } from './render.js';
import type { Channel, TypeDefinition } from './types.js';

/**
 * A stand-in recipient with every field (strict mode finds any `recipient.x`); it renders as
 * an empty string, iterates as an empty list and is truthy in `{{#if}}`.
 */
export const ANY_RECIPIENT: unknown = (() => {
  const descriptor = (): PropertyDescriptor => ({
    value: proxy,
    configurable: true,
    enumerable: true,
    writable: true,
  });
  const proxy: object = new Proxy(
    {},
    {
      get: (_target, key) => {
        if (key === Symbol.toPrimitive) return () => '';
        if (typeof key === 'symbol' || key === 'toHTML' || key === 'then') return undefined;
        return proxy;
      },
      has: () => true,
      getOwnPropertyDescriptor: (_target, key) =>
        typeof key === 'symbol' ? undefined : descriptor(),
      ownKeys: () => [],
    },
  );
  return proxy;
})();

/** Stands in for the per-recipient unsubscribe link, which email data always has. */
const UNSUBSCRIBE_STAND_IN = 'https://herald.invalid/unsubscribe';

export interface TriggerRender {
  type: TypeDefinition;
  channel: Channel;
  locale: string | null;
  data: Record<string, unknown>;
  /** The trigger's `email` options (they replace the template's Reply-To and headers). */
  emailOptions: EmailOptions | null;
  parts: RenderParts;
}

/**
 * Why the trigger must be refused when rendered for `recipient` (default `ANY_RECIPIENT`), or
 * undefined. Pure: no database, no clock.
 */
export function triggerRenderRefusal(
  r: TriggerRender,
  recipient: unknown = ANY_RECIPIENT,
): HeraldError | undefined {
  const type = r.channel === 'email' ? withoutOverridden(r.type, r.emailOptions) : r.type;
  const data: Record<string, unknown> = { ...r.data, recipient };
  if (r.channel === 'email') data.unsubscribeUrl = UNSUBSCRIBE_STAND_IN;
  try {
    render(type, r.channel, data, r.locale, r.parts);
    return undefined;
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return refusalOf(err);
  }
}

/**
 * One refusal for several channels' or locales': the first that is not about missing data
 * (the work bound, an unsafe URL), else every missing variable together.
 */
export function mergeRefusals(refusals: HeraldError[]): HeraldError | undefined {
  const other = refusals.find((r) => r.code !== 'missing_template_data');
  if (other || refusals.length <= 1) return other ?? refusals[0];
  const issues: FieldIssue[] = [];
  const seen = new Set<string>();
  for (const issue of refusals.flatMap((r) => r.issues)) {
    const k = `${issue.field}\u0000${issue.message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    issues.push(issue);
  }
  return missingError(issues);
}

/** The trigger-time refusal a render error stands for, if the trigger's data caused it. */
function refusalOf(err: ValidationError): HeraldError | undefined {
  if (err.code === 'template_too_expensive' || err.code === 'unsafe_action_url') {
    return new HeraldError(
      err.code,
      `${err.message}: the trigger's data makes this template fail at delivery`,
      err.issues,
    );
  }
  const missing = err instanceof RenderError ? err.missing : [];
  if (missing.length === 0) return undefined;
  return missingError(
    missing.map((m) => ({
      field: `data.${m.variable}`,
      message: `${m.field} uses {{${m.variable}}}, which the data does not have`,
    })),
  );
}

/** `missing_template_data` for `issues` (`data.<variable>`: `<template> uses {{<variable>}}...`). */
function missingError(issues: FieldIssue[]): HeraldError {
  const unique = (xs: string[]) => [...new Set(xs)].join(', ');
  const named = unique(issues.map((i) => i.field.slice('data.'.length)));
  const templates = unique(issues.map((i) => i.message.split(' ')[0] as string));
  return new HeraldError(
    'missing_template_data',
    `the data lacks ${named}, which the templates use (${templates}): ` +
      'add it to `data`, or make the template optional with {{#if}}',
    issues,
  );
}
