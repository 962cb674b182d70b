-- Nothing to change on SQLite: PostgreSQL's migration of the same name leaves room on the pages
-- of the rollup tables for in-place (heap-only) updates; SQLite updates a row in its B-tree page
-- and has no such setting.
SELECT 1;
