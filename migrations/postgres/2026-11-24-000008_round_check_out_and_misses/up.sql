-- Where the team checked out, and when a round was found missed (kept when the team checks in
-- late, so coverage still counts it).
ALTER TABLE rounds ADD COLUMN check_out_lat DOUBLE PRECISION;
ALTER TABLE rounds ADD COLUMN check_out_lon DOUBLE PRECISION;
ALTER TABLE rounds ADD COLUMN missed_at TIMESTAMP;
