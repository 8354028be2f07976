-- Phone writes are idempotent: a request repeated with the same key gets the stored answer.
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL REFERENCES users (id),
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response_status INTEGER,
    response_body TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);

-- Side effects are rows written with the change that causes them; a worker runs them later.
CREATE TABLE outbox_jobs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    dedup_key TEXT UNIQUE,
    due_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    locked_until TIMESTAMP,
    done_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX outbox_jobs_due_idx ON outbox_jobs (done_at, due_at);

-- A sighting of a child or adult in a street situation, recorded from a phone.
CREATE TABLE identifications (
    id TEXT PRIMARY KEY NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    device_id TEXT NOT NULL,
    observed_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    lat DOUBLE,
    lon DOUBLE,
    accuracy_m DOUBLE,
    altitude_m DOUBLE,
    fix_time TIMESTAMP,
    location_source TEXT,
    mock_location BOOLEAN NOT NULL,
    location_not_collected_reason TEXT,
    place_description TEXT,
    county_id TEXT REFERENCES areas (id),
    municipality_id TEXT REFERENCES areas (id),
    admin_unit_id TEXT REFERENCES areas (id),
    locate_method TEXT NOT NULL,
    cell_key TEXT,
    subject_type TEXT NOT NULL,
    estimated_age INTEGER,
    birth_year INTEGER,
    age_band TEXT NOT NULL,
    sex TEXT NOT NULL,
    nationality TEXT,
    languages TEXT NOT NULL,
    ethnicity TEXT,
    residence_origin TEXT,
    street_situations TEXT NOT NULL,
    accompanied_by TEXT,
    risk_factors TEXT NOT NULL,
    exploitation_indicators TEXT NOT NULL,
    visible_conditions TEXT NOT NULL,
    immediate_needs TEXT NOT NULL,
    actions_taken TEXT NOT NULL,
    consent_given_by TEXT,
    risk_level TEXT NOT NULL,
    emergency BOOLEAN NOT NULL,
    notes TEXT,
    content_hash TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX identifications_municipality_idx ON identifications (municipality_id, observed_at);
CREATE INDEX identifications_admin_unit_idx ON identifications (admin_unit_id, observed_at);
CREATE INDEX identifications_agency_idx ON identifications (agency_id, observed_at);
CREATE INDEX identifications_latlon_idx ON identifications (lat, lon);
