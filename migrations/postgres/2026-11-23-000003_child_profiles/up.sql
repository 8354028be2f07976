-- The same child across sightings: a pseudonymous profile with the stable facts.
CREATE TABLE child_profiles (
    id TEXT PRIMARY KEY NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    subject_type TEXT NOT NULL,
    status TEXT NOT NULL,
    given_name TEXT,
    family_name TEXT,
    sex TEXT NOT NULL,
    birth_year INTEGER,
    birth_year_estimated BOOLEAN NOT NULL,
    nationality TEXT,
    languages TEXT NOT NULL,
    residence_origin TEXT,
    family_contacts TEXT,
    -- Where the child was first seen: decides which agencies may see the profile.
    municipality_id TEXT REFERENCES areas (id),
    admin_unit_id TEXT REFERENCES areas (id),
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    created_by TEXT NOT NULL REFERENCES users (id),
    merged_into TEXT REFERENCES child_profiles (id),
    sightings_count INTEGER NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX child_profiles_municipality_idx ON child_profiles (municipality_id);
CREATE INDEX child_profiles_admin_unit_idx ON child_profiles (admin_unit_id);
CREATE INDEX child_profiles_agency_idx ON child_profiles (agency_id);
CREATE INDEX child_profiles_last_seen_idx ON child_profiles (last_seen_at, id);

-- Every name a child is known by, folded (ë→e, ç→c, case) for search.
CREATE TABLE child_profile_names (
    profile_id TEXT NOT NULL REFERENCES child_profiles (id),
    folded TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (profile_id, folded)
);

-- One sound key per word of a name, so that Xhoni, Joni and Gjoni find each other; with when the
-- child was last seen, so that a name search reads the recently seen children first.
CREATE TABLE child_profile_name_keys (
    sound_key TEXT NOT NULL,
    profile_id TEXT NOT NULL REFERENCES child_profiles (id),
    last_seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (sound_key, profile_id)
);
CREATE INDEX child_profile_name_keys_profile_idx ON child_profile_name_keys (profile_id);
CREATE INDEX child_profile_name_keys_recent_idx ON child_profile_name_keys (sound_key, last_seen_at);

-- Per-prefix counters for references such as TR-2026-000123.
CREATE TABLE profile_reference_counters (
    prefix TEXT PRIMARY KEY NOT NULL,
    last_value INTEGER NOT NULL
);

-- Which profile a sighting belongs to. Where, when and with whom it was seen are copied here so
-- that the candidate search reads only linked sightings near the new one, from one index.
CREATE TABLE identification_links (
    identification_id TEXT PRIMARY KEY NOT NULL REFERENCES identifications (id),
    profile_id TEXT NOT NULL REFERENCES child_profiles (id),
    cell_key TEXT,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    accompanied_by TEXT,
    observed_at TIMESTAMP NOT NULL,
    linked_by TEXT NOT NULL REFERENCES users (id),
    linked_at TIMESTAMP NOT NULL
);
CREATE INDEX identification_links_profile_idx ON identification_links (profile_id, observed_at);
CREATE INDEX identification_links_nearby_idx
    ON identification_links (cell_key, observed_at, profile_id, lat, lon, accompanied_by);

-- A merge of one profile into another, with what moved, so that it can be undone.
CREATE TABLE child_profile_merges (
    id TEXT PRIMARY KEY NOT NULL,
    survivor_id TEXT NOT NULL REFERENCES child_profiles (id),
    merged_id TEXT NOT NULL REFERENCES child_profiles (id),
    moved_identifications TEXT NOT NULL,
    moved_names TEXT NOT NULL,
    reason TEXT NOT NULL,
    merged_by TEXT NOT NULL REFERENCES users (id),
    merged_at TIMESTAMP NOT NULL,
    unmerged_by TEXT REFERENCES users (id),
    unmerged_at TIMESTAMP,
    unmerge_reason TEXT
);
CREATE INDEX child_profile_merges_survivor_idx ON child_profile_merges (survivor_id);
CREATE INDEX child_profile_merges_merged_idx ON child_profile_merges (merged_id);

-- The name the child gave in the field, and when retention coarsened the location.
ALTER TABLE identifications ADD COLUMN name_as_told TEXT;
ALTER TABLE identifications ADD COLUMN location_coarsened_at TIMESTAMP;
CREATE INDEX identifications_retention_idx ON identifications (location_coarsened_at, observed_at);
