DROP INDEX identifications_round_idx;
ALTER TABLE identifications DROP COLUMN round_id;
DROP TABLE planning_policies;
DROP TABLE round_stops;
DROP TABLE rounds;
DROP TABLE round_series;
DROP TABLE team_members;
DROP TABLE teams;
DROP TABLE hotspots;
