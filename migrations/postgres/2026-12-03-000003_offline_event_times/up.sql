-- A round's check-in, check-out and stop visits keep when they happened by the phone's clock
-- (a write queued offline arrives hours later) and, alongside, when the server got them.
ALTER TABLE rounds ADD COLUMN checked_in_received_at TIMESTAMP;
ALTER TABLE rounds ADD COLUMN checked_out_received_at TIMESTAMP;
ALTER TABLE round_stops ADD COLUMN arrived_received_at TIMESTAMP;
ALTER TABLE round_stops ADD COLUMN left_received_at TIMESTAMP;
