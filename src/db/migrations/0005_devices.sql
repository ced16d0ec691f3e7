-- 0005: push addresses of recipients (APNs and FCM tokens, Web Push subscriptions), erased
-- with the recipient. `address` is the token, or the subscription's endpoint for Web Push: one
-- device per address, whoever registered it last owns it.

CREATE TABLE {{schema}}.devices (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  recipient_id text NOT NULL REFERENCES {{schema}}.recipients (id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('apns', 'fcm', 'webpush')),
  address text NOT NULL,
  subscription jsonb,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kind, address)
);

CREATE INDEX devices_recipient_idx ON {{schema}}.devices (recipient_id);
