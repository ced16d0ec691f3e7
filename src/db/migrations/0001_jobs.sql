-- 0001: the job queue. Every delivery attempt, scheduled run, reminder and digest flush is a
-- row here. {{schema}} is replaced by the (validated, quoted) schema name and {{jobs_channel}}
-- by the NOTIFY channel of this schema.

CREATE TABLE {{schema}}.jobs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue text NOT NULL DEFAULT 'default',
  kind text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Higher runs first.
  priority integer NOT NULL DEFAULT 0,
  run_at timestamptz NOT NULL DEFAULT now(),
  -- Completed jobs are deleted (their effects live in the tables of what they did); the
  -- statuses kept are the live ones and the ends someone may want to look at.
  status text NOT NULL DEFAULT 'queued',
  -- Incremented by every claim: the fence that stops a stale attempt from recording a result.
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 25,
  key text,
  locked_by text,
  locked_until timestamptz,
  last_error text,
  -- One entry per failed attempt: {attempt, at, error, worker}.
  errors jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT jobs_status_check CHECK (status IN ('queued', 'processing', 'dead', 'cancelled')),
  CONSTRAINT jobs_attempts_check CHECK (max_attempts >= 1 AND attempts >= 0),
  CONSTRAINT jobs_kind_check CHECK (length(kind) BETWEEN 1 AND 200),
  CONSTRAINT jobs_queue_check CHECK (length(queue) BETWEEN 1 AND 200),
  CONSTRAINT jobs_key_check CHECK (key IS NULL OR length(key) BETWEEN 1 AND 512),
  -- The backstop behind the code's payload limit (256 KiB of JSON by default). jsonb's text
  -- form adds a space after each ':' and ',', so the same payload measures up to twice as
  -- long here: 512 KiB keeps the two limits consistent for every payload the code accepts.
  CONSTRAINT jobs_payload_size_check CHECK (octet_length(payload::text) <= 524288)
);

-- The claim path: due jobs of one queue in priority, then time order (see claim in queue/sql.ts).
CREATE INDEX jobs_due_idx ON {{schema}}.jobs (queue, priority DESC, run_at, id)
  WHERE status = 'queued';

-- Expired leases, found by the reclaim sweep.
CREATE INDEX jobs_lease_idx ON {{schema}}.jobs (locked_until) WHERE status = 'processing';

-- At most one live job per key: concurrent keyed enqueues race on this index, not in code.
CREATE UNIQUE INDEX jobs_live_key_idx ON {{schema}}.jobs (key)
  WHERE key IS NOT NULL AND status IN ('queued', 'processing');

CREATE INDEX jobs_dead_idx ON {{schema}}.jobs (updated_at) WHERE status = 'dead';

-- Wake sleeping workers when jobs arrive: once per INSERT statement (so a bulk insert sends
-- one notification), carrying the earliest run_at in epoch milliseconds so a worker can set a
-- timer for a job due later. Sent at commit, so a rolled-back enqueue wakes nobody.
CREATE FUNCTION {{schema}}.jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  earliest timestamptz;
BEGIN
  SELECT min(run_at) INTO earliest FROM new_jobs;
  IF earliest IS NOT NULL THEN
    PERFORM pg_notify(TG_ARGV[0], floor(extract(epoch FROM earliest) * 1000)::bigint::text);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify AFTER INSERT ON {{schema}}.jobs
  REFERENCING NEW TABLE AS new_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.jobs_notify('{{jobs_channel}}');

-- Live workers, so `herald jobs status` can tell a backlog that is being worked from one no
-- running worker handles. Each worker upserts its row on every heartbeat and deletes it at stop.
CREATE TABLE {{schema}}.workers (
  id text PRIMARY KEY,
  queue text NOT NULL,
  kinds text[] NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now()
);
