-- The mapping from Terren's report codes to DHIS2 ids, which reports are exported to DHIS2 with
-- (`GET /reports/export?format=dhis2`). System administrators replace it whole, at the version
-- they read: `dhis2_mapping` is its one row (the data set, the version), `dhis2_cell_mappings`
-- says which data element and category option combination a report table's row (or its `total`)
-- goes to, `dhis2_org_units` which organisation unit an area (or `AL`, the country) is.

CREATE TABLE dhis2_mapping (
    id TEXT PRIMARY KEY NOT NULL,
    data_set TEXT,
    version INTEGER NOT NULL,
    updated_by TEXT REFERENCES users (id),
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE dhis2_cell_mappings (
    table_id TEXT NOT NULL,
    row_code TEXT NOT NULL,
    data_element TEXT NOT NULL,
    category_option_combo TEXT NOT NULL,
    PRIMARY KEY (table_id, row_code)
);

CREATE TABLE dhis2_org_units (
    area_code TEXT PRIMARY KEY NOT NULL,
    org_unit TEXT NOT NULL
);
