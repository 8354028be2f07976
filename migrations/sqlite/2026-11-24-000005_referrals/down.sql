ALTER TABLE agencies DROP COLUMN occupancy_updated_at;
ALTER TABLE agencies DROP COLUMN occupied;
DROP INDEX alerts_referral_idx;
ALTER TABLE alerts DROP COLUMN referral_id;
DROP TABLE referral_events;
DROP TABLE referral_deadlines;
DROP TABLE referrals;
DROP TABLE referral_deadline_policies;
DROP TABLE referral_routes;
