DROP TABLE postback_jobs;
DROP TABLE postbacks;
DROP TABLE stats_hourly;
DROP TABLE conversion_status_changes;
DROP TABLE conversion_attempts;
DROP TABLE conversions;
DROP TABLE click_rejections;
DROP TABLE clicks;
