CREATE TABLE notification_attempts_rebuilt (
    id TEXT PRIMARY KEY NOT NULL,
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    job_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    round INTEGER NOT NULL,
    recipient_user_id TEXT REFERENCES users (id),
    recipient_label TEXT NOT NULL,
    channel TEXT NOT NULL,
    address_hint TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    tries INTEGER NOT NULL,
    http_status INTEGER,
    provider_reference TEXT,
    provider_response TEXT,
    error TEXT,
    outcome TEXT,
    UNIQUE (job_id, channel, address_hint)
);
INSERT INTO notification_attempts_rebuilt (id, alert_id, job_id, step, round, recipient_user_id, recipient_label, channel, address_hint, started_at, finished_at, tries, http_status, provider_reference, provider_response, error, outcome) SELECT id, alert_id, job_id, step, round, recipient_user_id, recipient_label, channel, address_hint, started_at, finished_at, tries, http_status, provider_reference, provider_response, error, outcome FROM notification_attempts;
DROP TABLE notification_attempts;
ALTER TABLE notification_attempts_rebuilt RENAME TO notification_attempts;
CREATE INDEX notification_attempts_alert_idx ON notification_attempts (alert_id, started_at);
ALTER TABLE alerts DROP COLUMN unreachable_at;
ALTER TABLE outbox_jobs DROP COLUMN locked_by;
