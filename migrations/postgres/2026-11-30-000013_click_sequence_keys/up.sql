-- The click's sequence key (the first 64 bits of its transaction id), as on SQLite, where it is
-- the clicks table's integer primary key (see SQLite's migration of the same name). Here the
-- id stays the primary key: several nodes may give out the same key (each counts its own), and
-- PostgreSQL finds a click by its id. Clicks and conversions recorded before get -1.
ALTER TABLE clicks ADD COLUMN seq BIGINT NOT NULL DEFAULT -1;
ALTER TABLE conversions ADD COLUMN click_seq BIGINT NOT NULL DEFAULT -1;
