DROP TABLE identifications;
DROP TABLE outbox_jobs;
DROP TABLE idempotency_keys;
