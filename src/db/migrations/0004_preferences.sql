-- 0004: recipient preferences, one validated document per recipient (replaced whole by PUT),
-- erased with the recipient.

CREATE TABLE {{schema}}.preferences (
  recipient_id text PRIMARY KEY REFERENCES {{schema}}.recipients (id) ON DELETE CASCADE,
  document jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
