-- Protection cases: what the national reports count about a child in case management, and no
-- more (the national case register keeps the case itself).
--
-- A case is opened by a child-protection unit for a profile (at most one open at a time), with
-- who identified the child and the age band at opening; the case worker sets the assessed risk,
-- the primary problem and, where recorded, the community; it is closed with a coded reason.
-- Protection measures taken in a case are rows of their own so reports can count them per
-- period. municipality_id is the managing unit's municipality: the area a case is reported for.

CREATE TABLE protection_cases (
    id TEXT PRIMARY KEY NOT NULL,
    profile_id TEXT NOT NULL REFERENCES child_profiles (id),
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    municipality_id TEXT REFERENCES areas (id),
    referral_id TEXT REFERENCES referrals (id),
    opened_at TIMESTAMP NOT NULL,
    identified_by TEXT NOT NULL,
    age_band TEXT NOT NULL,
    ethnicity TEXT,
    risk_level TEXT,
    primary_problem TEXT,
    closed_at TIMESTAMP,
    closure_reason TEXT,
    content_hash TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE UNIQUE INDEX protection_cases_one_open ON protection_cases (profile_id) WHERE closed_at IS NULL;
CREATE INDEX protection_cases_by_profile ON protection_cases (profile_id, opened_at);
CREATE INDEX protection_cases_by_municipality ON protection_cases (municipality_id, opened_at);
CREATE INDEX protection_cases_by_closing ON protection_cases (municipality_id, closed_at);

CREATE TABLE protection_measures (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES protection_cases (id),
    measure TEXT NOT NULL,
    taken_at TIMESTAMP NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL
);

CREATE INDEX protection_measures_by_case ON protection_measures (case_id, taken_at);
