-- 0011: per-provider send-rate limits shared by every worker on every machine. One row per
-- limited provider holds the next free send slot (GCRA's "theoretical arrival time"); taking a
-- slot moves it on by the spacing, in one statement (channels/rate-limit.ts).
CREATE TABLE {{schema}}.rate_limits (
  name text PRIMARY KEY,
  next_at timestamptz NOT NULL
);
