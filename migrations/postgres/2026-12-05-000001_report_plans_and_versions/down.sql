DROP INDEX referrals_by_municipality;
DROP TABLE report_versions;
DROP TABLE municipal_plans;
