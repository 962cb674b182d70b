ALTER TABLE postback_jobs DROP COLUMN locked_by;
