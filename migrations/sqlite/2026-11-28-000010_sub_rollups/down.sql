DROP TABLE stats_sub_conversion_folds;
DROP TABLE stats_sub_conversion_changes;
DROP TABLE stats_sub_conversions_daily;
DROP TABLE stats_sub_conversions_hourly;
DROP TABLE stats_sub_days;
DROP TABLE stats_sub_progress;
DROP TABLE stats_sub_clicks_daily;
DROP TABLE stats_sub_clicks_hourly;
