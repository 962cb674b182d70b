-- Postback failure alerts: when the affiliate and their manager were last emailed (at most once a day).
ALTER TABLE postbacks ADD COLUMN last_alert_at BIGINT;
