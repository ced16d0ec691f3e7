-- 0003: notification types. The definition (category, channels, priority, templates per
-- channel and locale, digest rule) is kept whole as validated JSON: it is read and written as
-- one document, and its shape grows with the channels.

CREATE TABLE {{schema}}.notification_types (
  name text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,99}$'),
  definition jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
