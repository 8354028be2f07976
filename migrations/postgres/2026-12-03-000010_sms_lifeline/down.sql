DROP TABLE sms_inbound;
DROP TABLE lifeline_counters;
ALTER TABLE identifications DROP COLUMN provisional;
