-- Duty rotas: a schedule's layers are kept as numbered revisions, so past shifts never change.
CREATE TABLE schedules (
    id TEXT PRIMARY KEY NOT NULL,
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    archived_at TIMESTAMP
);
CREATE INDEX schedules_agency_idx ON schedules (agency_id);

CREATE TABLE schedule_revisions (
    id TEXT PRIMARY KEY NOT NULL,
    schedule_id TEXT NOT NULL REFERENCES schedules (id),
    revision INTEGER NOT NULL,
    effective_from TIMESTAMP NOT NULL,
    layers TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (schedule_id, revision)
);

-- One person covering a span, whatever the layers say (also the result of an approved swap).
CREATE TABLE schedule_overrides (
    id TEXT PRIMARY KEY NOT NULL,
    schedule_id TEXT NOT NULL REFERENCES schedules (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    reason TEXT,
    swap_request_id TEXT,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    cancelled_at TIMESTAMP,
    cancelled_by TEXT REFERENCES users (id)
);
CREATE INDEX schedule_overrides_span_idx ON schedule_overrides (schedule_id, ends_at);

-- A member offers a span of their duty; another member takes it; a coordinator may approve.
CREATE TABLE swap_requests (
    id TEXT PRIMARY KEY NOT NULL,
    schedule_id TEXT NOT NULL REFERENCES schedules (id),
    offered_by TEXT NOT NULL REFERENCES users (id),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    note TEXT,
    state TEXT NOT NULL,
    needs_approval BOOLEAN NOT NULL,
    taken_by TEXT REFERENCES users (id),
    taken_at TIMESTAMP,
    decided_by TEXT REFERENCES users (id),
    decided_at TIMESTAMP,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX swap_requests_schedule_idx ON swap_requests (schedule_id, state);

-- Calendar subscriptions behind an unguessable token; only the token's hash is kept.
CREATE TABLE calendar_feeds (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    schedule_id TEXT REFERENCES schedules (id),
    user_id TEXT REFERENCES users (id),
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP,
    revoked_by TEXT REFERENCES users (id)
);

-- Reaching people: push tokens per device, and how each person wants to be reached.
CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    device_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    push_token TEXT NOT NULL,
    app_version TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    disabled_at TIMESTAMP,
    disabled_reason TEXT,
    UNIQUE (user_id, device_id)
);
CREATE INDEX devices_user_idx ON devices (user_id);

CREATE TABLE notification_rules (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id),
    push BOOLEAN NOT NULL,
    sms_after_minutes INTEGER,
    callback_phone TEXT,
    updated_at TIMESTAMP NOT NULL
);

-- Partner systems (police, court, State Agency) that receive signed alerts.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- How an agency's alerts escalate: ordered steps, repeats and a fallback.
CREATE TABLE escalation_policies (
    agency_id TEXT PRIMARY KEY NOT NULL REFERENCES agencies (id),
    policy TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_by TEXT NOT NULL REFERENCES users (id),
    updated_at TIMESTAMP NOT NULL
);

-- Alerts. `open_key` holds the dedup key while the alert is open, so that only one open alert
-- per key can exist on either database.
CREATE TABLE alerts (
    id TEXT PRIMARY KEY NOT NULL,
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    area_id TEXT REFERENCES areas (id),
    severity TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    title TEXT NOT NULL,
    details TEXT,
    dedup_key TEXT,
    open_key TEXT UNIQUE,
    identification_id TEXT REFERENCES identifications (id),
    profile_id TEXT REFERENCES child_profiles (id),
    policy TEXT NOT NULL,
    escalation_step INTEGER NOT NULL,
    escalation_round INTEGER NOT NULL,
    created_by TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    acknowledged_by TEXT REFERENCES users (id),
    acknowledged_at TIMESTAMP,
    closed_by TEXT REFERENCES users (id),
    closed_at TIMESTAMP,
    version INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX alerts_agency_idx ON alerts (agency_id, state, created_at);

-- Everything that happened to an alert, in order: state changes and escalation steps.
CREATE TABLE alert_events (
    id TEXT PRIMARY KEY NOT NULL,
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    occurred_at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    actor_user_id TEXT REFERENCES users (id),
    note TEXT,
    details TEXT NOT NULL
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, occurred_at);

-- Every message sent for an alert, one row per recipient address and step; `outcome` is null
-- while it is being sent. The unique key makes a step notify each address at most once.
CREATE TABLE notification_attempts (
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
CREATE INDEX notification_attempts_alert_idx ON notification_attempts (alert_id, started_at);
