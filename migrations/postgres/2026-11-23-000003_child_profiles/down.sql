DROP INDEX identifications_retention_idx;
ALTER TABLE identifications DROP COLUMN location_coarsened_at;
ALTER TABLE identifications DROP COLUMN name_as_told;
DROP TABLE child_profile_merges;
DROP TABLE identification_links;
DROP TABLE profile_reference_counters;
DROP TABLE child_profile_name_keys;
DROP TABLE child_profile_names;
DROP TABLE child_profiles;
