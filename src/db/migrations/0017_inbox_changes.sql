-- 0017: the real-time inbox's change sequence (src/realtime/changes.ts, docs/realtime.md).
--
-- Every change to a recipient's inbox (an item created, read, unread, deleted) is a row of
-- inbox_changes with the recipient's next `seq`. The seq comes from the recipient's row here,
-- updated in the same statement as the change: the row lock is held until commit, so the next
-- change of that recipient waits for this one to commit before it takes seq + 1, and seq
-- order is commit order (a reader never sees 12 and later finds 11). The same row keeps the
-- unread count, so each change carries the exact count as of that change.
CREATE TABLE {{schema}}.inbox_streams (
  recipient_id text PRIMARY KEY REFERENCES {{schema}}.recipients (id) ON DELETE CASCADE,
  seq bigint NOT NULL DEFAULT 0,
  unread integer NOT NULL DEFAULT 0,
  -- Names this sequence: a recipient erased and made again starts a new one.
  epoch text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', ''),
  -- Changes up to this seq may have been removed (retention): a resume from below it is answered
  -- with `reset`.
  floor_seq bigint NOT NULL DEFAULT 0
);

CREATE TABLE {{schema}}.inbox_changes (
  recipient_id text NOT NULL REFERENCES {{schema}}.inbox_streams (recipient_id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  notification_id uuid NOT NULL,
  kind text NOT NULL CHECK (kind IN ('created', 'updated')),
  -- The item's state after the change, and the recipient's unread count then.
  read boolean NOT NULL,
  deleted boolean NOT NULL,
  unread integer NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (recipient_id, seq)
);

-- The streams of recipients who have inbox items already, with their unread counts.
INSERT INTO {{schema}}.inbox_streams (recipient_id, unread)
SELECT recipient_id, count(*) FILTER (WHERE read_at IS NULL)
FROM {{schema}}.notifications
WHERE recipient_id IS NOT NULL AND inbox_at IS NOT NULL AND archived_at IS NULL
GROUP BY recipient_id;
