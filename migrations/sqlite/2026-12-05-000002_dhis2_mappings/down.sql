DROP TABLE dhis2_org_units;
DROP TABLE dhis2_cell_mappings;
DROP TABLE dhis2_mapping;
