-- The node that claimed a job being sent (its liveness key): on PostgreSQL a node holds an
-- advisory lock on its key while it lives, so the jobs of a node that died are claimed again
-- at once, not only when their lease runs out. 0: claimed without a node key (SQLite, or a node
-- that had lost its lock).
ALTER TABLE postback_jobs ADD COLUMN locked_by BIGINT;
