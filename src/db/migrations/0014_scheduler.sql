-- 0014: the scheduler. Cron schedules fire each tick once however many schedulers run: the
-- tick is claimed by moving next_tick on in the same transaction that records the run and
-- enqueues its job (scheduler/cron-schedules.ts), and job_runs is unique per (schedule, tick).
CREATE TABLE {{schema}}.schedules (
  name text PRIMARY KEY,
  cron text NOT NULL,
  timezone text NOT NULL DEFAULT 'UTC',
  -- The task run at each tick (a built-in such as notify, or one the app registers).
  task text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- After downtime: fire the latest missed tick once, every missed tick, or none.
  catch_up text NOT NULL DEFAULT 'latest' CHECK (catch_up IN ('latest', 'all', 'none')),
  max_attempts int NOT NULL DEFAULT 1 CHECK (max_attempts BETWEEN 1 AND 100),
  enabled boolean NOT NULL DEFAULT true,
  -- Declared in the config file (replaced at each start) or through the admin API.
  source text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'config')),
  -- The next tick to fire; NULL when the expression never fires again.
  next_tick timestamptz,
  last_tick timestamptz,
  -- Failed runs in a row; the third raises an alert to the ops recipient.
  failure_streak int NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- A scheduler tick reads only what is due.
CREATE INDEX schedules_due_idx ON {{schema}}.schedules (next_tick) WHERE enabled AND next_tick IS NOT NULL;

-- Every run of a schedule: one per tick (manual runs are their own ticks).
CREATE TABLE {{schema}}.job_runs (
  id bigserial PRIMARY KEY,
  schedule text NOT NULL,
  tick timestamptz NOT NULL,
  manual boolean NOT NULL DEFAULT false,
  status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  attempts int NOT NULL DEFAULT 0,
  started_at timestamptz,
  finished_at timestamptz,
  error text,
  -- What the task reported (counts sent, skipped...).
  result jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX job_runs_tick_idx ON {{schema}}.job_runs (schedule, tick) WHERE NOT manual;
CREATE INDEX job_runs_schedule_idx ON {{schema}}.job_runs (schedule, id DESC);

-- Per-recipient local-time schedules (preferences.schedules): each recipient's next fire time,
-- indexed, so a tick costs work in proportion to what is due, not to the number of recipients.
CREATE TABLE {{schema}}.recipient_schedules (
  recipient_id text NOT NULL REFERENCES {{schema}}.recipients (id) ON DELETE CASCADE,
  name text NOT NULL,
  -- The preference as a cron expression in the recipient's zone ("0 8 * * 1-5").
  cron text NOT NULL,
  timezone text NOT NULL,
  next_run_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (recipient_id, name)
);
CREATE INDEX recipient_schedules_due_idx ON {{schema}}.recipient_schedules (next_run_at)
  WHERE next_run_at IS NOT NULL;
