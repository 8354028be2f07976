-- A municipality's routing table (municipality_id NULL: the national default). route_key is
-- "{municipality_id or *}|{subject_type}|{service or *}", one rule per key.
CREATE TABLE referral_routes (
    id TEXT PRIMARY KEY NOT NULL,
    route_key TEXT NOT NULL UNIQUE,
    municipality_id TEXT REFERENCES areas (id),
    subject_type TEXT NOT NULL,
    service TEXT,
    agency_types TEXT NOT NULL,
    agency_id TEXT REFERENCES agencies (id),
    notes TEXT,
    version INTEGER NOT NULL,
    updated_by TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Deadline policy per municipality; scope_key is the municipality's id or '*' for the default.
CREATE TABLE referral_deadline_policies (
    scope_key TEXT PRIMARY KEY NOT NULL,
    municipality_id TEXT REFERENCES areas (id),
    policy TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_by TEXT REFERENCES users (id),
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE referrals (
    id TEXT PRIMARY KEY NOT NULL,
    chain_id TEXT NOT NULL,
    origin_agency_id TEXT NOT NULL REFERENCES agencies (id),
    origin_user_id TEXT NOT NULL REFERENCES users (id),
    forwarded_from TEXT REFERENCES referrals (id),
    forwarded_to TEXT REFERENCES referrals (id),
    identification_id TEXT REFERENCES identifications (id),
    profile_id TEXT REFERENCES child_profiles (id),
    subject_type TEXT NOT NULL,
    age_band TEXT NOT NULL,
    sex TEXT NOT NULL,
    municipality_id TEXT REFERENCES areas (id),
    admin_unit_id TEXT REFERENCES areas (id),
    street_situations TEXT NOT NULL,
    risk_level TEXT,
    from_agency_id TEXT NOT NULL REFERENCES agencies (id),
    to_agency_id TEXT NOT NULL REFERENCES agencies (id),
    routing_method TEXT NOT NULL,
    route_id TEXT REFERENCES referral_routes (id),
    priority TEXT NOT NULL,
    reasons TEXT NOT NULL,
    services TEXT NOT NULL,
    notes TEXT,
    share TEXT NOT NULL,
    consent_given_by TEXT,
    consent_override_reason TEXT,
    status TEXT NOT NULL,
    outcome TEXT,
    decline_reason TEXT,
    suggested_agency_id TEXT REFERENCES agencies (id),
    created_by TEXT NOT NULL REFERENCES users (id),
    device_id TEXT NOT NULL,
    made_at TIMESTAMP,
    sent_at TIMESTAMP NOT NULL,
    acknowledged_by TEXT REFERENCES users (id),
    acknowledged_at TIMESTAMP,
    responded_by TEXT REFERENCES users (id),
    responded_at TIMESTAMP,
    contacted_at TIMESTAMP,
    ended_by TEXT REFERENCES users (id),
    ended_at TIMESTAMP,
    next_due_at TIMESTAMP,
    content_hash TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX referrals_to_idx ON referrals (to_agency_id, sent_at, id);
CREATE INDEX referrals_to_open_idx ON referrals (to_agency_id, status, sent_at);
CREATE INDEX referrals_from_idx ON referrals (from_agency_id, sent_at, id);
CREATE INDEX referrals_origin_idx ON referrals (origin_agency_id, sent_at);
CREATE INDEX referrals_origin_user_idx ON referrals (origin_user_id, sent_at);
CREATE INDEX referrals_chain_idx ON referrals (chain_id);
CREATE INDEX referrals_identification_idx ON referrals (identification_id);
CREATE INDEX referrals_profile_idx ON referrals (profile_id);

CREATE TABLE referral_deadlines (
    referral_id TEXT NOT NULL REFERENCES referrals (id),
    kind TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    met_at TIMESTAMP,
    breached_at TIMESTAMP,
    void_at TIMESTAMP,
    PRIMARY KEY (referral_id, kind)
);

CREATE TABLE referral_events (
    id TEXT PRIMARY KEY NOT NULL,
    referral_id TEXT NOT NULL REFERENCES referrals (id),
    occurred_at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    actor_user_id TEXT REFERENCES users (id),
    note TEXT,
    details TEXT NOT NULL
);
CREATE INDEX referral_events_referral_idx ON referral_events (referral_id, occurred_at);

ALTER TABLE alerts ADD COLUMN referral_id TEXT REFERENCES referrals (id);
CREATE INDEX alerts_referral_idx ON alerts (referral_id);

-- Shelter places in use, as the shelter last reported them (plus placements accepted since).
ALTER TABLE agencies ADD COLUMN occupied INTEGER;
ALTER TABLE agencies ADD COLUMN occupancy_updated_at TIMESTAMP;
