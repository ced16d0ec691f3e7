-- 0007: layouts and partials, the shared pieces of templates. A partial is a Handlebars
-- snippet used as {{> name}}; a layout wraps the email html at {{{body}}} (source) and, when
-- text_source is set, the email text. Every process caches them all and, about once a second,
-- compares a digest of every row's (kind, name, updated_at) to see whether to read them again
-- (a digest, not max(updated_at): transactions may commit out of their timestamps' order).

CREATE TABLE {{schema}}.template_parts (
  kind text NOT NULL CHECK (kind IN ('layout', 'partial')),
  name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,99}$'),
  source text NOT NULL CHECK (length(source) BETWEEN 1 AND 100000),
  text_source text CHECK (text_source IS NULL OR (kind = 'layout' AND length(text_source) BETWEEN 1 AND 100000)),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, name)
);
