/**
 * The email options of a trigger (`email` in the body of POST /v1/notifications): a Reply-To,
 * extra headers and attachments; the header rules a type's email template shares (its `replyTo`
 * and `headers`); and how both become the Reply-To, headers and attachments of each message.
 *
 * Rules (docs/notifications.md#email-options):
 * - Header names are RFC 5322 field names (printable ASCII but the colon, at most 76), each at
 *   most once (compared case-insensitively). Headers Herald or the providers write themselves
 *   are refused: From, To, Cc, Bcc, Sender, Reply-To (use `replyTo`), Subject, Date,
 *   Message-ID, MIME-Version, Content-*, List-Unsubscribe*, Return-Path, Received,
 *   DKIM-Signature, and SendGrid's X-SG-ID / X-SG-EID.
 * - Header values: at most 2,000 characters, no control character but the tab (a CR or LF
 *   would start a header of its own: header injection). Non-ASCII text is encoded on the way.
 * - Attachments: at most 10, at most 5 MiB decoded together; `content` is standard base64
 *   (RFC 4648 §4, padded, no line breaks) and not empty; `filename` at most 255 bytes of UTF-8
 *   without path separators or control characters; `contentType` a `type/subtype` (not
 *   multipart/* or message/*, which cannot travel base64-encoded); `contentId` (inline images,
 *   `<img src="cid:...">`) letters, digits and the characters of an addr-spec (`logo@acme`),
 *   unique in the email.
 * - Attachments are stored once per notification (never in the job payload): a trigger may
 *   store at most 100 MiB of them in all (decoded size × recipients).
 */
import { z } from 'zod';
import { ValidationError, type FieldIssue } from '../errors.js';

export const MAX_EMAIL_HEADERS = 50;
export const MAX_HEADER_VALUE_LENGTH = 2_000;
export const MAX_ATTACHMENTS = 10;
/** The decoded size of a trigger's attachments together. */
export const MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024;
/** The decoded size of the attachments a trigger stores, over all its notifications. */
export const MAX_STORED_ATTACHMENT_BYTES = 100 * 1024 * 1024;

/** Headers Herald writes itself (or a provider refuses to take): never from a trigger or type. */
const OWNED_HEADER =
  /^(?:from|to|cc|bcc|sender|reply-to|subject|date|message-id|mime-version|content-.*|list-unsubscribe.*|return-path|received|dkim-signature|x-sg-id|x-sg-eid)$/i;

export const headerNameSchema = z
  .string()
  .regex(
    /^[!-9;-~]{1,76}$/,
    'is not a header name: 1 to 76 printable ASCII characters, no colon or space (RFC 5322)',
  )
  .refine((name) => !/^reply-to$/i.test(name), 'is set with `replyTo`, not as a header')
  .refine(
    (name) => /^reply-to$/i.test(name) || !OWNED_HEADER.test(name),
    'is a header Herald writes itself (From, To, Subject, Message-ID, Date, MIME-Version, Content-*, List-Unsubscribe*...)',
  );

// Any control character (C0, DEL, C1); the tab is allowed in header values.
const CONTROL = /\p{Cc}/u;
const hasControl = (s: string) => CONTROL.test(s.replace(/\t/g, ''));

const headerValueSchema = z
  .string()
  .max(MAX_HEADER_VALUE_LENGTH)
  .refine(
    (v) => !hasControl(v),
    'must not contain CR, LF or other control characters (they would start a header of their own)',
  );

/** Where a header name is given twice (case-insensitively), as issues on the later names. */
function duplicateHeaderIssues(headers: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const names = Object.keys(headers);
  if (names.length > MAX_EMAIL_HEADERS)
    ctx.addIssue({ code: 'custom', message: `at most ${MAX_EMAIL_HEADERS} headers` });
  const seen = new Set<string>();
  for (const name of names) {
    const key = name.toLowerCase();
    if (seen.has(key))
      ctx.addIssue({ code: 'custom', path: [name], message: 'is given twice (names ignore case)' });
    seen.add(key);
  }
}

/** Extra headers: `{name: value}`. `value` is the schema of one value (text, or a template). */
export const headersSchema = (value: z.ZodString = headerValueSchema) =>
  z.record(headerNameSchema, value).superRefine(duplicateHeaderIssues);

const MAILBOX = /^\s*(?:(.*?)\s*<([^<>]+)>|([^<>]+))\s*$/;
const addressSchema = z.email();

/** `addr@example.com` or `Name <addr@example.com>`, the display name without control characters. */
export function isMailbox(value: string): boolean {
  const m = MAILBOX.exec(value);
  if (!m) return false;
  const name = m[1] ?? '';
  const address = (m[2] ?? m[3] ?? '').trim();
  return !hasControl(name) && !CONTROL.test(address) && addressSchema.safeParse(address).success;
}

const NOT_A_MAILBOX = 'is not an email address (`addr@example.com` or `Name <addr@example.com>`)';
export const mailboxSchema = z.string().max(400).refine(isMailbox, NOT_A_MAILBOX);

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Bytes of standard, padded base64 (checked first). */
export const base64Size = (b64: string): number =>
  (b64.length / 4) * 3 - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);

const RESTRICTED_NAME = '[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}';
const CONTENT_TYPE = new RegExp(`^${RESTRICTED_NAME}/${RESTRICTED_NAME}$`);

export const attachmentSchema = z.strictObject({
  filename: z
    .string()
    .min(1)
    .refine((f) => Buffer.byteLength(f) <= 255, 'must be at most 255 bytes of UTF-8')
    .refine(
      (f) => !/[/\\]/.test(f) && !CONTROL.test(f) && f !== '.' && f !== '..',
      'must be a file name: no path separators (/ \\) or control characters',
    ),
  contentType: z
    .string()
    .regex(CONTENT_TYPE, 'must be a media type `type/subtype`, like `application/pdf`')
    .refine(
      (t) => !/^(?:multipart|message)\//i.test(t),
      'multipart/* and message/* cannot be attached base64-encoded: use application/octet-stream',
    ),
  content: z
    .string()
    .min(1, 'must not be empty')
    .refine(
      (c) => c.length % 4 === 0 && BASE64.test(c),
      'is not base64 (standard alphabet, padded with =, no line breaks)',
    ),
  contentId: z
    .string()
    .regex(
      /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.@]{1,127}$/,
      "must be 1 to 127 letters, digits, . @ or !#$%&'*+-/=?^_`{|}~ (like logo@acme.example)",
    )
    .optional(),
});

export type EmailAttachment = z.infer<typeof attachmentSchema>;

/** `email` in a trigger. */
export const emailOptionsSchema = z.strictObject({
  /** Replies go here; wins over the type's `replyTo`. */
  replyTo: mailboxSchema.optional(),
  /** Extra headers; win over the type's of the same name. */
  headers: headersSchema().optional(),
  attachments: z
    .array(attachmentSchema)
    .max(MAX_ATTACHMENTS, `at most ${MAX_ATTACHMENTS} attachments`)
    .superRefine((list, ctx) => {
      let total = 0;
      const ids = new Set<string>();
      for (const [i, a] of list.entries()) {
        if (BASE64.test(a.content) && a.content.length % 4 === 0) total += base64Size(a.content);
        if (a.contentId === undefined) continue;
        if (ids.has(a.contentId))
          ctx.addIssue({ code: 'custom', path: [i, 'contentId'], message: 'is given twice' });
        ids.add(a.contentId);
      }
      if (total > MAX_ATTACHMENT_BYTES)
        ctx.addIssue({
          code: 'custom',
          message: `are ${total} bytes decoded: at most ${MAX_ATTACHMENT_BYTES} (5 MiB) together`,
        });
    })
    .optional(),
});

export type EmailOptions = z.infer<typeof emailOptionsSchema>;

/**
 * What a trigger stores of its email options (null: none), after the checks that need the
 * trigger's channels and recipients: options for a trigger that sends no email are refused,
 * and so are attachments whose copies (one per recipient) would pass the storage bound.
 */
export function storedEmailOptions(
  options: EmailOptions | undefined,
  sendsEmail: boolean,
  recipients: number,
): EmailOptions | null {
  if (options === undefined) return null;
  if (!sendsEmail)
    throw new ValidationError([
      { field: 'email', message: 'this trigger sends no email (no email channel)' },
    ]);
  const bytes = (options.attachments ?? []).reduce((n, a) => n + base64Size(a.content), 0);
  if (bytes * recipients > MAX_STORED_ATTACHMENT_BYTES)
    throw new ValidationError([
      {
        field: 'email.attachments',
        message:
          `are stored once per recipient: ${recipients} × ${bytes} bytes is over ` +
          `${MAX_STORED_ATTACHMENT_BYTES} (100 MiB); send to fewer recipients per trigger, or link to the file`,
      },
    ]);
  const stored: EmailOptions = {
    ...(options.replyTo !== undefined ? { replyTo: options.replyTo } : {}),
    ...(options.headers && Object.keys(options.headers).length > 0
      ? { headers: options.headers }
      : {}),
    ...(options.attachments && options.attachments.length > 0
      ? { attachments: options.attachments }
      : {}),
  };
  return Object.keys(stored).length > 0 ? stored : null;
}

type EmailTemplate = { replyTo?: string; headers?: Record<string, string> };

/** What `withoutOverridden` needs of a type (types.ts's TypeDefinition has it). */
interface EmailTemplated {
  templates: { email?: EmailTemplate | undefined };
  locales: Record<string, { email?: EmailTemplate | undefined }>;
}

/**
 * `type` without the email template fields the trigger's options replace (its `replyTo`, the
 * headers it names), in the type's templates and every locale: they are not rendered, so a
 * template the trigger overrides (one using a variable only some recipients have) cannot fail
 * the send.
 */
export function withoutOverridden<T extends EmailTemplated>(
  type: T,
  options: EmailOptions | null,
): T {
  const names = new Set(Object.keys(options?.headers ?? {}).map((h) => h.toLowerCase()));
  if (options?.replyTo === undefined && names.size === 0) return type;
  type EmailFields = { replyTo?: string; headers?: Record<string, string> } | undefined;
  const strip = <E extends EmailFields>(email: E): E => {
    if (!email) return email;
    const { replyTo, headers, ...rest } = email;
    const kept = Object.entries(headers ?? {}).filter(([h]) => !names.has(h.toLowerCase()));
    return {
      ...rest,
      ...(replyTo !== undefined && options?.replyTo === undefined ? { replyTo } : {}),
      ...(kept.length > 0 ? { headers: Object.fromEntries(kept) } : {}),
    } as E;
  };
  return {
    ...type,
    templates: { ...type.templates, email: strip(type.templates.email) },
    locales: Object.fromEntries(
      Object.entries(type.locales).map(([l, t]) => [
        l,
        t.email ? { ...t, email: strip(t.email) } : t,
      ]),
    ),
  };
}

/** The Reply-To, headers and attachments of one email. */
export interface EmailExtras {
  replyTo?: string;
  headers: Record<string, string>;
  attachments?: EmailAttachment[];
}

const HEADER_FIELD = 'headers.';

/**
 * The extras of an email from its rendered template fields (`replyTo`, `headers.<Name>`, see
 * render.ts) and the trigger's stored options, which win; `own` (List-Unsubscribe...) is added
 * last. A rendered header value has its line breaks unfolded into spaces and its other control
 * characters dropped; an empty one is left out, as is an empty rendered `replyTo`. A rendered
 * `replyTo` that is not an address throws a ValidationError naming the template.
 */
export function emailExtras(
  rendered: Record<string, string>,
  trigger: EmailOptions | null,
  own: Record<string, string> = {},
): EmailExtras {
  const byName = new Map<string, [string, string]>();
  const put = (name: string, value: string) => byName.set(name.toLowerCase(), [name, value]);
  for (const [field, text] of Object.entries(rendered)) {
    if (!field.startsWith(HEADER_FIELD)) continue;
    const value = text
      .replace(/\s*[\r\n]+\s*/g, ' ')
      .replace(/\p{Cc}/gu, (c) => (c === '\t' ? c : ''))
      .trim();
    if (value !== '') put(field.slice(HEADER_FIELD.length), value);
  }
  for (const [name, value] of Object.entries(trigger?.headers ?? {})) put(name, value);
  for (const [name, value] of Object.entries(own)) put(name, value);

  let replyTo = trigger?.replyTo;
  const template = rendered.replyTo?.trim();
  if (replyTo === undefined && template) {
    if (!isMailbox(template)) {
      const issue: FieldIssue = {
        field: 'templates.email.replyTo',
        message: `rendered ${JSON.stringify(template.slice(0, 100))}, which ${NOT_A_MAILBOX}`,
      };
      throw new ValidationError([issue]);
    }
    replyTo = template;
  }
  return {
    ...(replyTo !== undefined ? { replyTo } : {}),
    headers: Object.fromEntries(byName.values()),
    ...(trigger?.attachments?.length ? { attachments: trigger.attachments } : {}),
  };
}
