-- Named places where children are found. shape is the JSON of the contract's HotspotShape; the
-- centroid and bounding box prefilter containment queries.
CREATE TABLE hotspots (
    id TEXT PRIMARY KEY NOT NULL,
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    shape TEXT NOT NULL,
    centroid_lat DOUBLE PRECISION NOT NULL,
    centroid_lon DOUBLE PRECISION NOT NULL,
    min_lat DOUBLE PRECISION NOT NULL,
    min_lon DOUBLE PRECISION NOT NULL,
    max_lat DOUBLE PRECISION NOT NULL,
    max_lon DOUBLE PRECISION NOT NULL,
    municipality_id TEXT REFERENCES areas (id),
    admin_unit_id TEXT REFERENCES areas (id),
    notes TEXT,
    active BOOLEAN NOT NULL,
    version INTEGER NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX hotspots_municipality_idx ON hotspots (municipality_id);
CREATE INDEX hotspots_agency_idx ON hotspots (agency_id);

CREATE TABLE teams (
    id TEXT PRIMARY KEY NOT NULL,
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    home_area_id TEXT REFERENCES areas (id),
    notes TEXT,
    phone TEXT,
    active BOOLEAN NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX teams_agency_idx ON teams (agency_id);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

-- A weekly rule; rule is the JSON of weekdays, windows and days; planned_until the last local
-- day rounds were made for (YYYY-MM-DD).
CREATE TABLE round_series (
    id TEXT PRIMARY KEY NOT NULL,
    team_id TEXT NOT NULL REFERENCES teams (id),
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    rule TEXT NOT NULL,
    purpose TEXT NOT NULL,
    stops TEXT NOT NULL,
    notes TEXT,
    time_zone TEXT NOT NULL,
    planned_until TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- occurrence_key ("{series}|{local date}|{window}") makes planning a series twice harmless.
CREATE TABLE rounds (
    id TEXT PRIMARY KEY NOT NULL,
    team_id TEXT NOT NULL REFERENCES teams (id),
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    series_id TEXT REFERENCES round_series (id),
    occurrence_key TEXT UNIQUE,
    detached BOOLEAN NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    local_date TEXT NOT NULL,
    purpose TEXT NOT NULL,
    notes TEXT,
    status TEXT NOT NULL,
    checked_in_by TEXT REFERENCES users (id),
    checked_in_at TIMESTAMP,
    check_in_lat DOUBLE PRECISION,
    check_in_lon DOUBLE PRECISION,
    check_in_distance_m DOUBLE PRECISION,
    check_in_reason TEXT,
    checked_out_by TEXT REFERENCES users (id),
    checked_out_at TIMESTAMP,
    report TEXT,
    created_by TEXT NOT NULL REFERENCES users (id),
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX rounds_team_idx ON rounds (team_id, starts_at);
CREATE INDEX rounds_agency_idx ON rounds (agency_id, starts_at);
CREATE INDEX rounds_series_idx ON rounds (series_id, starts_at);

CREATE TABLE round_stops (
    round_id TEXT NOT NULL REFERENCES rounds (id),
    position INTEGER NOT NULL,
    hotspot_id TEXT REFERENCES hotspots (id),
    area_id TEXT REFERENCES areas (id),
    arrived_at TIMESTAMP,
    arrived_lat DOUBLE PRECISION,
    arrived_lon DOUBLE PRECISION,
    left_at TIMESTAMP,
    PRIMARY KEY (round_id, position)
);
CREATE INDEX round_stops_hotspot_idx ON round_stops (hotspot_id);

CREATE TABLE planning_policies (
    agency_id TEXT PRIMARY KEY NOT NULL REFERENCES agencies (id),
    policy TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_by TEXT REFERENCES users (id),
    updated_at TIMESTAMP NOT NULL
);

ALTER TABLE identifications ADD COLUMN round_id TEXT REFERENCES rounds (id);
CREATE INDEX identifications_round_idx ON identifications (round_id);
