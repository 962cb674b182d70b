DROP INDEX postback_jobs_lease;
DROP INDEX postback_jobs_due_at;
CREATE INDEX postback_jobs_due ON postback_jobs (state, next_attempt_at);
