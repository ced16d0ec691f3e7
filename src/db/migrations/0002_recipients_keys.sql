-- 0002: API keys (stored as SHA-256 of the secret) and recipients.

CREATE TABLE {{schema}}.api_keys (
  -- The public part of the key (hk_<id>_<secret>), shown in lists and logs.
  id text PRIMARY KEY,
  -- SHA-256 of the whole key, hex. Keys are 192 random bits, so a fast hash is enough: there
  -- is nothing to guess, only a leak of this table to make useless.
  hash text NOT NULL UNIQUE,
  admin boolean NOT NULL DEFAULT false,
  name text,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

-- A recipient is a user of the app, under the app's own id.
CREATE TABLE {{schema}}.recipients (
  id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 256),
  email text,
  phone text,
  locale text,
  timezone text,
  data jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
