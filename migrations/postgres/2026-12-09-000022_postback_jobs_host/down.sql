ALTER TABLE postback_jobs DROP COLUMN host;
