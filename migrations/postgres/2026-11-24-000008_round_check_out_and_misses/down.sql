ALTER TABLE rounds DROP COLUMN missed_at;
ALTER TABLE rounds DROP COLUMN check_out_lon;
ALTER TABLE rounds DROP COLUMN check_out_lat;
