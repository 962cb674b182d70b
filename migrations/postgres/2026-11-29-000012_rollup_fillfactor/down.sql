ALTER TABLE stats_sub_conversion_changes RESET (fillfactor);
ALTER TABLE stats_sub_conversions_hourly RESET (fillfactor);
ALTER TABLE stats_daily RESET (fillfactor);
ALTER TABLE stats_hourly RESET (fillfactor);
