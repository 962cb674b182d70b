-- Nothing to change on PostgreSQL: its postback attempts log has had no foreign keys since
-- migration 12; SQLite's migration of the same name drops its own.
SELECT 1;
