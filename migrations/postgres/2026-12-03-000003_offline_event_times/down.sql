ALTER TABLE round_stops DROP COLUMN left_received_at;
ALTER TABLE round_stops DROP COLUMN arrived_received_at;
ALTER TABLE rounds DROP COLUMN checked_out_received_at;
ALTER TABLE rounds DROP COLUMN checked_in_received_at;
