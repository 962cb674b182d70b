ALTER TABLE postbacks DROP COLUMN last_alert_at;
