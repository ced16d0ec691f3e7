/**
 * A bound on the work one render may do, so a template cannot hold the event loop.
 *
 * Handlebars has no loops of its own: work multiplies only where a block body runs again
 * (`#each` over items, `#with`, `#if`, a section `{{#items}}`) or a partial is invoked (also
 * inline partials, `{{#*inline}}`, which can call each other). Herald's isolated Handlebars
 * environment wraps those entry points with `step()`: a counter and a length check, a few
 * nanoseconds each, paid per block body and per partial, never per variable. Past
 * `MAX_RENDER_STEPS` or `MAX_RENDER_CHARS` the render throws `RenderBudgetExceeded`, which
 * render.ts turns into a `template_too_expensive` error naming the field.
 *
 * The counter is module state: rendering is synchronous, so one render runs at a time in a
 * process, and `startBudget()` resets it at the start of each.
 */

/** Block bodies run plus partials invoked, per render (one channel: its fields and layout). */
export const MAX_RENDER_STEPS = 50_000;
/** Characters a rendered field (or any block or partial inside it) may come to. */
export const MAX_RENDER_CHARS = 1_000_000;

export class RenderBudgetExceeded extends Error {
  override readonly name = 'RenderBudgetExceeded';
  constructor(readonly kind: 'steps' | 'chars') {
    super(
      kind === 'steps'
        ? `takes more than ${MAX_RENDER_STEPS.toLocaleString('en')} steps to render (block bodies such as {{#each}} items, and partials): loop over fewer items or nest fewer blocks`
        : `renders to more than ${MAX_RENDER_CHARS.toLocaleString('en')} characters: send less data or a shorter template`,
    );
  }
}

let steps = 0;

/** Starts a render's budget afresh. */
export function startBudget(): void {
  steps = 0;
}

/** Throws if `out` is longer than a rendered field may be. */
export function checkLength(out: unknown): void {
  if (typeof out === 'string' && out.length > MAX_RENDER_CHARS)
    throw new RenderBudgetExceeded('chars');
}

type Fn = (this: unknown, ...args: unknown[]) => unknown;

/** `fn`, counting one step per call and checking the length of what it returns. */
// Fixed arity, no rest arguments: this runs once per block body (Handlebars passes
// (context, options) to programs and partials).
// `any[]` is the only parameter type every Handlebars program and helper signature fits.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function counted<F extends (...args: any[]) => unknown>(fn: F): F {
  const wrapped = function (this: unknown, context: unknown, options: unknown): unknown {
    if (++steps > MAX_RENDER_STEPS) throw new RenderBudgetExceeded('steps');
    const out = fn.call(this, context, options);
    if (typeof out === 'string' && out.length > MAX_RENDER_CHARS)
      throw new RenderBudgetExceeded('chars');
    return out;
  };
  // Handlebars reads properties of compiled programs (blockParams, depth): keep them.
  return Object.assign(wrapped, fn);
}

interface HelperOptions {
  fn?: Fn;
  inverse?: Fn;
}

/** A Handlebars environment, as far as bounding it needs. */
interface Env {
  helpers: Record<string, unknown>;
  decorators: Record<string, unknown>;
}

/**
 * Wraps the block helpers and the inline-partial decorator of `hb` so that every block body
 * and inline partial they run is `counted`. Call once, on Herald's own environment.
 */
export function boundBlocks(hb: Env): void {
  for (const name of ['each', 'with', 'if', 'unless', 'blockHelperMissing']) {
    const helper = hb.helpers[name] as Fn | undefined;
    if (!helper) continue;
    hb.helpers[name] = function (this: unknown, ...args: unknown[]): unknown {
      const last = args.length - 1;
      const options = args[last] as HelperOptions | undefined;
      if (options && typeof options === 'object') {
        args[last] = {
          ...options,
          ...(options.fn ? { fn: counted(options.fn) } : {}),
          ...(options.inverse ? { inverse: counted(options.inverse) } : {}),
        };
      }
      const out = helper.apply(this, args);
      checkLength(out);
      return out;
    };
  }
  const inline = hb.decorators.inline as Fn | undefined;
  if (inline) {
    hb.decorators.inline = function (this: unknown, ...args: unknown[]): unknown {
      const options = args[3] as HelperOptions | undefined;
      if (options?.fn) args[3] = { ...options, fn: counted(options.fn) };
      return inline.apply(this, args);
    };
  }
}
