-- 0019: what retention (scheduler/retention.ts) deletes by age, each found through an index so
-- a batch reads only the rows it removes.
CREATE INDEX inbox_changes_at_idx ON {{schema}}.inbox_changes (at);
CREATE INDEX job_runs_finished_idx ON {{schema}}.job_runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_cancelled_idx ON {{schema}}.jobs (updated_at) WHERE status = 'cancelled';
CREATE INDEX idempotency_keys_created_idx ON {{schema}}.idempotency_keys (created_at);
