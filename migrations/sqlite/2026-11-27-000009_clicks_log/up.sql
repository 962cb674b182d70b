-- Nothing to change on SQLite: PostgreSQL's migration of the same name drops the foreign keys of
-- the clicks log, whose per-row trigger checks dominated its click path. SQLite checks a
-- foreign key with one index lookup in the same B-tree pass (measured: 0.4 µs per click), and
-- removing them would mean rebuilding the table, so they stay.
SELECT 1;
