ALTER TABLE affiliates DROP COLUMN postback_secret;
DROP TABLE postback_attempts;
