DROP TABLE audit_pending;
DROP FUNCTION audit_pending_no_update();
