DROP INDEX notification_attempts_job_idx;
ALTER TABLE notification_attempts ADD CONSTRAINT notification_attempts_job_id_channel_address_hint_key UNIQUE (job_id, channel, address_hint);
ALTER TABLE alerts DROP COLUMN unreachable_at;
ALTER TABLE outbox_jobs DROP COLUMN locked_by;
