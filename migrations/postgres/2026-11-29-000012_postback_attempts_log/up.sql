-- Postback attempts are an append-only log written by the delivery worker, whose tenant, job
-- and postback ids were just read from the job it claimed (and a deleted postback's attempts
-- are unlinked first: `Postback::delete`). PostgreSQL checks each foreign key with a trigger
-- running one locking query per row and key: measured, the three checks were ~25 µs of the
-- ~120 µs PostgreSQL spent per delivered job (BENCHMARKS.md). As the clicks log (migration 9),
-- the log keeps its ids without them; the jobs keep theirs.
ALTER TABLE postback_attempts
    DROP CONSTRAINT IF EXISTS postback_attempts_tenant_id_fkey,
    DROP CONSTRAINT IF EXISTS postback_attempts_job_id_fkey,
    DROP CONSTRAINT IF EXISTS postback_attempts_postback_id_fkey;
