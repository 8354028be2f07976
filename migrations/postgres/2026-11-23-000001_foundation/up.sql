-- Areas: counties, municipalities and administrative units of Albania.
CREATE TABLE area_boundaries (
    id TEXT PRIMARY KEY NOT NULL,
    level TEXT NOT NULL,
    source_name TEXT NOT NULL,
    source_feature_id TEXT,
    geometry TEXT NOT NULL,
    min_lat DOUBLE PRECISION NOT NULL,
    min_lon DOUBLE PRECISION NOT NULL,
    max_lat DOUBLE PRECISION NOT NULL,
    max_lon DOUBLE PRECISION NOT NULL,
    vertex_count INTEGER NOT NULL,
    imported_at TIMESTAMP NOT NULL
);

CREATE TABLE areas (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    level TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    name_folded TEXT NOT NULL,
    parent_id TEXT REFERENCES areas (id),
    centroid_lat DOUBLE PRECISION NOT NULL,
    centroid_lon DOUBLE PRECISION NOT NULL,
    centroid_approximate BOOLEAN NOT NULL,
    boundary_id TEXT REFERENCES area_boundaries (id),
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX areas_parent_idx ON areas (parent_id);
CREATE INDEX areas_level_idx ON areas (level);

CREATE TABLE area_aliases (
    area_id TEXT NOT NULL REFERENCES areas (id) ON DELETE CASCADE,
    alias TEXT NOT NULL,
    alias_folded TEXT NOT NULL,
    is_code BOOLEAN NOT NULL,
    PRIMARY KEY (area_id, alias)
);
CREATE INDEX area_aliases_folded_idx ON area_aliases (alias_folded);

-- Agencies: the bodies that act on a child's situation.
CREATE TABLE agencies (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    name_en TEXT,
    agency_type TEXT NOT NULL,
    municipality_id TEXT REFERENCES areas (id),
    parent_id TEXT REFERENCES agencies (id),
    address TEXT,
    phone TEXT,
    email TEXT,
    hours TEXT,
    is_24_7 BOOLEAN NOT NULL,
    capacity INTEGER,
    time_zone TEXT NOT NULL,
    notes TEXT,
    active BOOLEAN NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX agencies_type_idx ON agencies (agency_type);
CREATE INDEX agencies_municipality_idx ON agencies (municipality_id);

CREATE TABLE agency_areas (
    agency_id TEXT NOT NULL REFERENCES agencies (id) ON DELETE CASCADE,
    area_id TEXT NOT NULL REFERENCES areas (id),
    PRIMARY KEY (agency_id, area_id)
);
CREATE INDEX agency_areas_area_idx ON agency_areas (area_id);

-- Vocabularies: coded lists with Albanian and English labels.
CREATE TABLE vocabulary_entries (
    vocabulary TEXT NOT NULL,
    code TEXT NOT NULL,
    label_sq TEXT NOT NULL,
    label_en TEXT NOT NULL,
    sort_order INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (vocabulary, code)
);

-- Accounts.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    phone TEXT,
    email TEXT,
    password_hash TEXT NOT NULL,
    must_change_password BOOLEAN NOT NULL,
    disabled_at TIMESTAMP,
    password_changed_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX users_agency_idx ON users (agency_id);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- A session is one login on one device: the family of its refresh tokens.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    device_id TEXT NOT NULL,
    user_agent TEXT,
    ip TEXT,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_reason TEXT
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- Append-only, hash-chained audit log.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL UNIQUE,
    occurred_at TIMESTAMP NOT NULL,
    actor_user_id TEXT,
    actor_device_id TEXT,
    actor_ip TEXT,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
