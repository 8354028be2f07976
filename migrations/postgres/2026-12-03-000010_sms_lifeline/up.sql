-- The SMS lifeline: emergencies sent by SMS from phones without data.
--
-- A sighting recorded from an SMS is provisional until its recorder's phone uploads the full
-- sighting under the same id, which completes it. lifeline_counters keeps, per session, the
-- highest counter of an accepted SMS, so a copied SMS is refused. sms_inbound logs every inbound
-- message with its outcome: its gateway id (only once the gateway's signature verified), the
-- session and counter it named, the sighting it recorded, and why it was refused. The text
-- itself, which holds a child's location, is not kept.

ALTER TABLE identifications ADD COLUMN provisional BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE lifeline_counters (
    session_id TEXT PRIMARY KEY NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    last_counter BIGINT NOT NULL,
    accepted_at TIMESTAMP NOT NULL
);

CREATE TABLE sms_inbound (
    id TEXT PRIMARY KEY NOT NULL,
    message_sid TEXT,
    received_at TIMESTAMP NOT NULL,
    session_id TEXT,
    counter BIGINT,
    identification_id TEXT,
    outcome TEXT NOT NULL,
    reason TEXT,
    reply TEXT
);

CREATE UNIQUE INDEX sms_inbound_by_message_sid ON sms_inbound (message_sid);
CREATE INDEX sms_inbound_by_received_at ON sms_inbound (received_at);
