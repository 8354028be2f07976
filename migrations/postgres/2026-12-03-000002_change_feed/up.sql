-- The change feed: which records changed, in the order their changes became visible.
--
-- Triggers on every table a phone's working set is made of note the record each row belongs to
-- in change_pending, in the transaction of the change, so no write can forget it. The sealer
-- (the one that seals the audit chain) moves committed notes into change_log with the next
-- sequence number: a note sealed later always has a higher seq than every note sealed before it,
-- even when its change committed after a later change's, so a reader following seq misses none.

CREATE TABLE change_pending (
    id TEXT PRIMARY KEY NOT NULL,
    record_kind TEXT NOT NULL,
    record_id TEXT NOT NULL
);

CREATE TABLE change_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    record_kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    sealed_at TIMESTAMP NOT NULL
);

CREATE INDEX change_log_by_sealed_at ON change_log (sealed_at);

-- note_change(kind, column): notes the record named by that column of the new row, and of the
-- old row when an update moved it or on delete.
CREATE FUNCTION note_change() RETURNS trigger AS $$
DECLARE
    new_id TEXT;
    old_id TEXT;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        new_id := to_jsonb(NEW) ->> TG_ARGV[1];
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_id := to_jsonb(OLD) ->> TG_ARGV[1];
    END IF;
    IF new_id IS NOT NULL THEN
        INSERT INTO change_pending (id, record_kind, record_id) VALUES (gen_random_uuid()::text, TG_ARGV[0], new_id);
    END IF;
    IF old_id IS NOT NULL AND old_id IS DISTINCT FROM new_id THEN
        INSERT INTO change_pending (id, record_kind, record_id) VALUES (gen_random_uuid()::text, TG_ARGV[0], old_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER identifications_noted_identification AFTER INSERT OR UPDATE OR DELETE ON identifications
    FOR EACH ROW EXECUTE FUNCTION note_change('identification', 'id');
CREATE TRIGGER identification_links_noted_identification AFTER INSERT OR UPDATE OR DELETE ON identification_links
    FOR EACH ROW EXECUTE FUNCTION note_change('identification', 'identification_id');
CREATE TRIGGER identification_links_noted_profile AFTER INSERT OR UPDATE OR DELETE ON identification_links
    FOR EACH ROW EXECUTE FUNCTION note_change('profile', 'profile_id');
CREATE TRIGGER child_profiles_noted_profile AFTER INSERT OR UPDATE OR DELETE ON child_profiles
    FOR EACH ROW EXECUTE FUNCTION note_change('profile', 'id');
CREATE TRIGGER child_profile_names_noted_profile AFTER INSERT OR UPDATE OR DELETE ON child_profile_names
    FOR EACH ROW EXECUTE FUNCTION note_change('profile', 'profile_id');
CREATE TRIGGER referrals_noted_referral AFTER INSERT OR UPDATE OR DELETE ON referrals
    FOR EACH ROW EXECUTE FUNCTION note_change('referral', 'id');
CREATE TRIGGER referral_deadlines_noted_referral AFTER INSERT OR UPDATE OR DELETE ON referral_deadlines
    FOR EACH ROW EXECUTE FUNCTION note_change('referral', 'referral_id');
CREATE TRIGGER referral_events_noted_referral AFTER INSERT OR UPDATE OR DELETE ON referral_events
    FOR EACH ROW EXECUTE FUNCTION note_change('referral', 'referral_id');
CREATE TRIGGER alerts_noted_alert AFTER INSERT OR UPDATE OR DELETE ON alerts
    FOR EACH ROW EXECUTE FUNCTION note_change('alert', 'id');
CREATE TRIGGER alert_events_noted_alert AFTER INSERT OR UPDATE OR DELETE ON alert_events
    FOR EACH ROW EXECUTE FUNCTION note_change('alert', 'alert_id');
CREATE TRIGGER notification_attempts_noted_alert AFTER INSERT OR UPDATE OR DELETE ON notification_attempts
    FOR EACH ROW EXECUTE FUNCTION note_change('alert', 'alert_id');
CREATE TRIGGER rounds_noted_round AFTER INSERT OR UPDATE OR DELETE ON rounds
    FOR EACH ROW EXECUTE FUNCTION note_change('round', 'id');
CREATE TRIGGER round_stops_noted_round AFTER INSERT OR UPDATE OR DELETE ON round_stops
    FOR EACH ROW EXECUTE FUNCTION note_change('round', 'round_id');
CREATE TRIGGER hotspots_noted_hotspot AFTER INSERT OR UPDATE OR DELETE ON hotspots
    FOR EACH ROW EXECUTE FUNCTION note_change('hotspot', 'id');
CREATE TRIGGER schedules_noted_schedule AFTER INSERT OR UPDATE OR DELETE ON schedules
    FOR EACH ROW EXECUTE FUNCTION note_change('schedule', 'id');
CREATE TRIGGER schedule_revisions_noted_schedule AFTER INSERT OR UPDATE OR DELETE ON schedule_revisions
    FOR EACH ROW EXECUTE FUNCTION note_change('schedule', 'schedule_id');
CREATE TRIGGER schedule_overrides_noted_schedule AFTER INSERT OR UPDATE OR DELETE ON schedule_overrides
    FOR EACH ROW EXECUTE FUNCTION note_change('schedule', 'schedule_id');
CREATE TRIGGER swap_requests_noted_schedule AFTER INSERT OR UPDATE OR DELETE ON swap_requests
    FOR EACH ROW EXECUTE FUNCTION note_change('schedule', 'schedule_id');
CREATE TRIGGER users_noted_user AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION note_change('user', 'id');
CREATE TRIGGER user_roles_noted_user AFTER INSERT OR UPDATE OR DELETE ON user_roles
    FOR EACH ROW EXECUTE FUNCTION note_change('user', 'user_id');
CREATE TRIGGER team_members_noted_user AFTER INSERT OR UPDATE OR DELETE ON team_members
    FOR EACH ROW EXECUTE FUNCTION note_change('user', 'user_id');
CREATE TRIGGER team_members_noted_team AFTER INSERT OR UPDATE OR DELETE ON team_members
    FOR EACH ROW EXECUTE FUNCTION note_change('team', 'team_id');
CREATE TRIGGER teams_noted_team AFTER INSERT OR UPDATE OR DELETE ON teams
    FOR EACH ROW EXECUTE FUNCTION note_change('team', 'id');
CREATE TRIGGER agencies_noted_agency AFTER INSERT OR UPDATE OR DELETE ON agencies
    FOR EACH ROW EXECUTE FUNCTION note_change('agency', 'id');
CREATE TRIGGER agency_areas_noted_agency AFTER INSERT OR UPDATE OR DELETE ON agency_areas
    FOR EACH ROW EXECUTE FUNCTION note_change('agency', 'agency_id');
CREATE TRIGGER areas_noted_area AFTER INSERT OR UPDATE OR DELETE ON areas
    FOR EACH ROW EXECUTE FUNCTION note_change('area', 'id');
CREATE TRIGGER vocabulary_entries_noted_vocabulary AFTER INSERT OR UPDATE OR DELETE ON vocabulary_entries
    FOR EACH ROW EXECUTE FUNCTION note_change('vocabulary', 'vocabulary');
