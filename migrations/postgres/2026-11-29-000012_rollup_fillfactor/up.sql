-- The rollup rows the hot paths update in place (a click batch updates its hour's and day's row,
-- a conversion batch its sub id rows and its day's change count) keep half of each page free, so
-- that PostgreSQL can update them as heap-only tuples: the new version goes on the same page and
-- no index entry is added. With full pages (fillfactor 100) each update moved the row to another
-- page and added an entry to its primary key index, thousands of times a second for one row.
-- Measured (bench probe, 64 connections, four alternating pairs): PostgreSQL's CPU per tracked
-- click 10.4-15.4 -> 9.2-10.8 us, p99 4.2-33 -> 2.7-3.7 ms (BENCHMARKS.md). Applies to pages
-- written from now on (new hours and days); existing pages are not rewritten.
ALTER TABLE stats_hourly SET (fillfactor = 50);
ALTER TABLE stats_daily SET (fillfactor = 50);
ALTER TABLE stats_sub_conversions_hourly SET (fillfactor = 50);
ALTER TABLE stats_sub_conversion_changes SET (fillfactor = 50);
