-- The delivery worker claims due jobs in `next_attempt_at` order, and jobs whose lease ran out.
-- One index over (state, next_attempt_at) could serve neither in order (two states, then a
-- sort of every queued job: 11 ms per claim of 64 with 20,000 jobs queued on PostgreSQL, a
-- ceiling of ~5,800 deliveries/s); a partial index per claim holds only the jobs it looks at,
-- in the order it takes them (0.5 ms for the same claim).
DROP INDEX postback_jobs_due;
CREATE INDEX postback_jobs_due_at ON postback_jobs (next_attempt_at) WHERE state IN ('queued', 'retry');
CREATE INDEX postback_jobs_lease ON postback_jobs (locked_until) WHERE state = 'sending';
