-- Municipal plans and frozen reports.
--
-- A municipality's plan names the period its indicators are measured against (the baseline) and
-- the change it aims for, in whole per cent (Kamëz: -40). It is set by the administrators of the
-- municipality's social services or child-protection unit.
--
-- A frozen report is a report as it was counted at its cut-off, stored whole: `exact` as those
-- who read individual records see it, `hidden` with small numbers hidden as readers of aggregates
-- only see it. `content_hash` is the SHA-256 of `exact`'s tables; a report made again after late
-- records is a new version (1, 2, …) of the same area and period when its tables differ.

CREATE TABLE municipal_plans (
    municipality_id TEXT PRIMARY KEY NOT NULL REFERENCES areas (id),
    baseline_period TEXT NOT NULL,
    target_change_percent INTEGER NOT NULL,
    version INTEGER NOT NULL,
    updated_by TEXT NOT NULL REFERENCES users (id),
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE report_versions (
    id TEXT PRIMARY KEY NOT NULL,
    area_code TEXT NOT NULL,
    period TEXT NOT NULL,
    version INTEGER NOT NULL,
    exact TEXT NOT NULL,
    hidden TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    cut_off TIMESTAMP NOT NULL,
    generated_by TEXT REFERENCES users (id),
    generated_at TIMESTAMP NOT NULL
);

CREATE UNIQUE INDEX report_versions_by_period ON report_versions (area_code, period, version);

-- Reports count referrals by where and when they were made.
CREATE INDEX referrals_by_municipality ON referrals (municipality_id, sent_at);
