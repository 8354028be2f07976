-- Audit records are written here in the transaction of the change they describe, without a place
-- in the chain; the sealer moves them into audit_log in commit order, numbered and hashed. Rows
-- are only ever inserted (by a change) and deleted (by the sealer, in the transaction that seals
-- them).
CREATE TABLE audit_pending (
    id TEXT PRIMARY KEY NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor_user_id TEXT,
    actor_device_id TEXT,
    actor_ip TEXT,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    details TEXT NOT NULL
);

CREATE FUNCTION audit_pending_no_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_pending rows are never changed';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_pending_no_update BEFORE UPDATE ON audit_pending
    FOR EACH ROW EXECUTE FUNCTION audit_pending_no_update();
