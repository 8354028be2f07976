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

CREATE TRIGGER identifications_noted_insert AFTER INSERT ON identifications
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'identification', NEW.id WHERE NEW.id IS NOT NULL;
END;

CREATE TRIGGER identifications_noted_update AFTER UPDATE ON identifications
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'identification', NEW.id WHERE NEW.id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'identification', OLD.id WHERE OLD.id IS NOT NULL AND OLD.id IS NOT NEW.id;
END;

CREATE TRIGGER identifications_noted_delete AFTER DELETE ON identifications
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'identification', OLD.id WHERE OLD.id IS NOT NULL;
END;

CREATE TRIGGER identification_links_noted_insert AFTER INSERT ON identification_links
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'identification', NEW.identification_id WHERE NEW.identification_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'profile', NEW.profile_id WHERE NEW.profile_id IS NOT NULL;
END;

CREATE TRIGGER identification_links_noted_update AFTER UPDATE ON identification_links
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'identification', NEW.identification_id WHERE NEW.identification_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'identification', OLD.identification_id WHERE OLD.identification_id IS NOT NULL AND OLD.identification_id IS NOT NEW.identification_id;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'profile', NEW.profile_id WHERE NEW.profile_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'profile', OLD.profile_id WHERE OLD.profile_id IS NOT NULL AND OLD.profile_id IS NOT NEW.profile_id;
END;

CREATE TRIGGER identification_links_noted_delete AFTER DELETE ON identification_links
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'identification', OLD.identification_id WHERE OLD.identification_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'profile', OLD.profile_id WHERE OLD.profile_id IS NOT NULL;
END;

CREATE TRIGGER child_profiles_noted_insert AFTER INSERT ON child_profiles
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'profile', NEW.id WHERE NEW.id IS NOT NULL;
END;

CREATE TRIGGER child_profiles_noted_update AFTER UPDATE ON child_profiles
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'profile', NEW.id WHERE NEW.id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'profile', OLD.id WHERE OLD.id IS NOT NULL AND OLD.id IS NOT NEW.id;
END;

CREATE TRIGGER child_profiles_noted_delete AFTER DELETE ON child_profiles
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'profile', OLD.id WHERE OLD.id IS NOT NULL;
END;

CREATE TRIGGER child_profile_names_noted_insert AFTER INSERT ON child_profile_names
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'profile', NEW.profile_id WHERE NEW.profile_id IS NOT NULL;
END;

CREATE TRIGGER child_profile_names_noted_update AFTER UPDATE ON child_profile_names
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'profile', NEW.profile_id WHERE NEW.profile_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'profile', OLD.profile_id WHERE OLD.profile_id IS NOT NULL AND OLD.profile_id IS NOT NEW.profile_id;
END;

CREATE TRIGGER child_profile_names_noted_delete AFTER DELETE ON child_profile_names
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'profile', OLD.profile_id WHERE OLD.profile_id IS NOT NULL;
END;

CREATE TRIGGER referrals_noted_insert AFTER INSERT ON referrals
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'referral', NEW.id WHERE NEW.id IS NOT NULL;
END;

CREATE TRIGGER referrals_noted_update AFTER UPDATE ON referrals
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'referral', NEW.id WHERE NEW.id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'referral', OLD.id WHERE OLD.id IS NOT NULL AND OLD.id IS NOT NEW.id;
END;

CREATE TRIGGER referrals_noted_delete AFTER DELETE ON referrals
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'referral', OLD.id WHERE OLD.id IS NOT NULL;
END;

CREATE TRIGGER referral_deadlines_noted_insert AFTER INSERT ON referral_deadlines
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'referral', NEW.referral_id WHERE NEW.referral_id IS NOT NULL;
END;

CREATE TRIGGER referral_deadlines_noted_update AFTER UPDATE ON referral_deadlines
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'referral', NEW.referral_id WHERE NEW.referral_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'referral', OLD.referral_id WHERE OLD.referral_id IS NOT NULL AND OLD.referral_id IS NOT NEW.referral_id;
END;

CREATE TRIGGER referral_deadlines_noted_delete AFTER DELETE ON referral_deadlines
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'referral', OLD.referral_id WHERE OLD.referral_id IS NOT NULL;
END;

CREATE TRIGGER referral_events_noted_insert AFTER INSERT ON referral_events
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'referral', NEW.referral_id WHERE NEW.referral_id IS NOT NULL;
END;

CREATE TRIGGER referral_events_noted_update AFTER UPDATE ON referral_events
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'referral', NEW.referral_id WHERE NEW.referral_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'referral', OLD.referral_id WHERE OLD.referral_id IS NOT NULL AND OLD.referral_id IS NOT NEW.referral_id;
END;

CREATE TRIGGER referral_events_noted_delete AFTER DELETE ON referral_events
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'referral', OLD.referral_id WHERE OLD.referral_id IS NOT NULL;
END;

CREATE TRIGGER alerts_noted_insert AFTER INSERT ON alerts
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'alert', NEW.id WHERE NEW.id IS NOT NULL;
END;

CREATE TRIGGER alerts_noted_update AFTER UPDATE ON alerts
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'alert', NEW.id WHERE NEW.id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'alert', OLD.id WHERE OLD.id IS NOT NULL AND OLD.id IS NOT NEW.id;
END;

CREATE TRIGGER alerts_noted_delete AFTER DELETE ON alerts
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'alert', OLD.id WHERE OLD.id IS NOT NULL;
END;

CREATE TRIGGER alert_events_noted_insert AFTER INSERT ON alert_events
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'alert', NEW.alert_id WHERE NEW.alert_id IS NOT NULL;
END;

CREATE TRIGGER alert_events_noted_update AFTER UPDATE ON alert_events
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'alert', NEW.alert_id WHERE NEW.alert_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'alert', OLD.alert_id WHERE OLD.alert_id IS NOT NULL AND OLD.alert_id IS NOT NEW.alert_id;
END;

CREATE TRIGGER alert_events_noted_delete AFTER DELETE ON alert_events
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'alert', OLD.alert_id WHERE OLD.alert_id IS NOT NULL;
END;

CREATE TRIGGER notification_attempts_noted_insert AFTER INSERT ON notification_attempts
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'alert', NEW.alert_id WHERE NEW.alert_id IS NOT NULL;
END;

CREATE TRIGGER notification_attempts_noted_update AFTER UPDATE ON notification_attempts
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'alert', NEW.alert_id WHERE NEW.alert_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'alert', OLD.alert_id WHERE OLD.alert_id IS NOT NULL AND OLD.alert_id IS NOT NEW.alert_id;
END;

CREATE TRIGGER notification_attempts_noted_delete AFTER DELETE ON notification_attempts
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'alert', OLD.alert_id WHERE OLD.alert_id IS NOT NULL;
END;

CREATE TRIGGER rounds_noted_insert AFTER INSERT ON rounds
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'round', NEW.id WHERE NEW.id IS NOT NULL;
END;

CREATE TRIGGER rounds_noted_update AFTER UPDATE ON rounds
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'round', NEW.id WHERE NEW.id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'round', OLD.id WHERE OLD.id IS NOT NULL AND OLD.id IS NOT NEW.id;
END;

CREATE TRIGGER rounds_noted_delete AFTER DELETE ON rounds
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'round', OLD.id WHERE OLD.id IS NOT NULL;
END;

CREATE TRIGGER round_stops_noted_insert AFTER INSERT ON round_stops
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'round', NEW.round_id WHERE NEW.round_id IS NOT NULL;
END;

CREATE TRIGGER round_stops_noted_update AFTER UPDATE ON round_stops
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'round', NEW.round_id WHERE NEW.round_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'round', OLD.round_id WHERE OLD.round_id IS NOT NULL AND OLD.round_id IS NOT NEW.round_id;
END;

CREATE TRIGGER round_stops_noted_delete AFTER DELETE ON round_stops
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'round', OLD.round_id WHERE OLD.round_id IS NOT NULL;
END;

CREATE TRIGGER hotspots_noted_insert AFTER INSERT ON hotspots
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'hotspot', NEW.id WHERE NEW.id IS NOT NULL;
END;

CREATE TRIGGER hotspots_noted_update AFTER UPDATE ON hotspots
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'hotspot', NEW.id WHERE NEW.id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'hotspot', OLD.id WHERE OLD.id IS NOT NULL AND OLD.id IS NOT NEW.id;
END;

CREATE TRIGGER hotspots_noted_delete AFTER DELETE ON hotspots
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'hotspot', OLD.id WHERE OLD.id IS NOT NULL;
END;

CREATE TRIGGER schedules_noted_insert AFTER INSERT ON schedules
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', NEW.id WHERE NEW.id IS NOT NULL;
END;

CREATE TRIGGER schedules_noted_update AFTER UPDATE ON schedules
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', NEW.id WHERE NEW.id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', OLD.id WHERE OLD.id IS NOT NULL AND OLD.id IS NOT NEW.id;
END;

CREATE TRIGGER schedules_noted_delete AFTER DELETE ON schedules
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', OLD.id WHERE OLD.id IS NOT NULL;
END;

CREATE TRIGGER schedule_revisions_noted_insert AFTER INSERT ON schedule_revisions
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', NEW.schedule_id WHERE NEW.schedule_id IS NOT NULL;
END;

CREATE TRIGGER schedule_revisions_noted_update AFTER UPDATE ON schedule_revisions
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', NEW.schedule_id WHERE NEW.schedule_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', OLD.schedule_id WHERE OLD.schedule_id IS NOT NULL AND OLD.schedule_id IS NOT NEW.schedule_id;
END;

CREATE TRIGGER schedule_revisions_noted_delete AFTER DELETE ON schedule_revisions
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', OLD.schedule_id WHERE OLD.schedule_id IS NOT NULL;
END;

CREATE TRIGGER schedule_overrides_noted_insert AFTER INSERT ON schedule_overrides
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', NEW.schedule_id WHERE NEW.schedule_id IS NOT NULL;
END;

CREATE TRIGGER schedule_overrides_noted_update AFTER UPDATE ON schedule_overrides
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', NEW.schedule_id WHERE NEW.schedule_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', OLD.schedule_id WHERE OLD.schedule_id IS NOT NULL AND OLD.schedule_id IS NOT NEW.schedule_id;
END;

CREATE TRIGGER schedule_overrides_noted_delete AFTER DELETE ON schedule_overrides
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', OLD.schedule_id WHERE OLD.schedule_id IS NOT NULL;
END;

CREATE TRIGGER swap_requests_noted_insert AFTER INSERT ON swap_requests
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', NEW.schedule_id WHERE NEW.schedule_id IS NOT NULL;
END;

CREATE TRIGGER swap_requests_noted_update AFTER UPDATE ON swap_requests
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', NEW.schedule_id WHERE NEW.schedule_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', OLD.schedule_id WHERE OLD.schedule_id IS NOT NULL AND OLD.schedule_id IS NOT NEW.schedule_id;
END;

CREATE TRIGGER swap_requests_noted_delete AFTER DELETE ON swap_requests
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'schedule', OLD.schedule_id WHERE OLD.schedule_id IS NOT NULL;
END;

CREATE TRIGGER users_noted_insert AFTER INSERT ON users
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'user', NEW.id WHERE NEW.id IS NOT NULL;
END;

CREATE TRIGGER users_noted_update AFTER UPDATE ON users
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'user', NEW.id WHERE NEW.id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'user', OLD.id WHERE OLD.id IS NOT NULL AND OLD.id IS NOT NEW.id;
END;

CREATE TRIGGER users_noted_delete AFTER DELETE ON users
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'user', OLD.id WHERE OLD.id IS NOT NULL;
END;

CREATE TRIGGER user_roles_noted_insert AFTER INSERT ON user_roles
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'user', NEW.user_id WHERE NEW.user_id IS NOT NULL;
END;

CREATE TRIGGER user_roles_noted_update AFTER UPDATE ON user_roles
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'user', NEW.user_id WHERE NEW.user_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'user', OLD.user_id WHERE OLD.user_id IS NOT NULL AND OLD.user_id IS NOT NEW.user_id;
END;

CREATE TRIGGER user_roles_noted_delete AFTER DELETE ON user_roles
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'user', OLD.user_id WHERE OLD.user_id IS NOT NULL;
END;

CREATE TRIGGER team_members_noted_insert AFTER INSERT ON team_members
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'user', NEW.user_id WHERE NEW.user_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'team', NEW.team_id WHERE NEW.team_id IS NOT NULL;
END;

CREATE TRIGGER team_members_noted_update AFTER UPDATE ON team_members
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'user', NEW.user_id WHERE NEW.user_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'user', OLD.user_id WHERE OLD.user_id IS NOT NULL AND OLD.user_id IS NOT NEW.user_id;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'team', NEW.team_id WHERE NEW.team_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'team', OLD.team_id WHERE OLD.team_id IS NOT NULL AND OLD.team_id IS NOT NEW.team_id;
END;

CREATE TRIGGER team_members_noted_delete AFTER DELETE ON team_members
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'user', OLD.user_id WHERE OLD.user_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'team', OLD.team_id WHERE OLD.team_id IS NOT NULL;
END;

CREATE TRIGGER teams_noted_insert AFTER INSERT ON teams
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'team', NEW.id WHERE NEW.id IS NOT NULL;
END;

CREATE TRIGGER teams_noted_update AFTER UPDATE ON teams
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'team', NEW.id WHERE NEW.id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'team', OLD.id WHERE OLD.id IS NOT NULL AND OLD.id IS NOT NEW.id;
END;

CREATE TRIGGER teams_noted_delete AFTER DELETE ON teams
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'team', OLD.id WHERE OLD.id IS NOT NULL;
END;

CREATE TRIGGER agencies_noted_insert AFTER INSERT ON agencies
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'agency', NEW.id WHERE NEW.id IS NOT NULL;
END;

CREATE TRIGGER agencies_noted_update AFTER UPDATE ON agencies
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'agency', NEW.id WHERE NEW.id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'agency', OLD.id WHERE OLD.id IS NOT NULL AND OLD.id IS NOT NEW.id;
END;

CREATE TRIGGER agencies_noted_delete AFTER DELETE ON agencies
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'agency', OLD.id WHERE OLD.id IS NOT NULL;
END;

CREATE TRIGGER agency_areas_noted_insert AFTER INSERT ON agency_areas
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'agency', NEW.agency_id WHERE NEW.agency_id IS NOT NULL;
END;

CREATE TRIGGER agency_areas_noted_update AFTER UPDATE ON agency_areas
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'agency', NEW.agency_id WHERE NEW.agency_id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'agency', OLD.agency_id WHERE OLD.agency_id IS NOT NULL AND OLD.agency_id IS NOT NEW.agency_id;
END;

CREATE TRIGGER agency_areas_noted_delete AFTER DELETE ON agency_areas
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'agency', OLD.agency_id WHERE OLD.agency_id IS NOT NULL;
END;

CREATE TRIGGER areas_noted_insert AFTER INSERT ON areas
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'area', NEW.id WHERE NEW.id IS NOT NULL;
END;

CREATE TRIGGER areas_noted_update AFTER UPDATE ON areas
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'area', NEW.id WHERE NEW.id IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'area', OLD.id WHERE OLD.id IS NOT NULL AND OLD.id IS NOT NEW.id;
END;

CREATE TRIGGER areas_noted_delete AFTER DELETE ON areas
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'area', OLD.id WHERE OLD.id IS NOT NULL;
END;

CREATE TRIGGER vocabulary_entries_noted_insert AFTER INSERT ON vocabulary_entries
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'vocabulary', NEW.vocabulary WHERE NEW.vocabulary IS NOT NULL;
END;

CREATE TRIGGER vocabulary_entries_noted_update AFTER UPDATE ON vocabulary_entries
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'vocabulary', NEW.vocabulary WHERE NEW.vocabulary IS NOT NULL;
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'vocabulary', OLD.vocabulary WHERE OLD.vocabulary IS NOT NULL AND OLD.vocabulary IS NOT NEW.vocabulary;
END;

CREATE TRIGGER vocabulary_entries_noted_delete AFTER DELETE ON vocabulary_entries
BEGIN
    INSERT INTO change_pending (id, record_kind, record_id) SELECT lower(hex(randomblob(16))), 'vocabulary', OLD.vocabulary WHERE OLD.vocabulary IS NOT NULL;
END;
