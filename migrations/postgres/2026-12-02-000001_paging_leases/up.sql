-- Which worker holds a job's lease, so that only it renews, settles or releases it; and when an
-- alert was found to reach nobody at all.
ALTER TABLE outbox_jobs ADD COLUMN locked_by TEXT;
ALTER TABLE alerts ADD COLUMN unreachable_at TIMESTAMP;
-- One row per send: a page sent again (after a failure or a crash) is a new attempt.
ALTER TABLE notification_attempts DROP CONSTRAINT notification_attempts_job_id_channel_address_hint_key;
CREATE INDEX notification_attempts_job_idx ON notification_attempts (job_id);
