-- The host (`host:port`, as the worker limits requests per host) each postback job is sent to,
-- so that a worker claims no job of a host it already has `AFFNET_POSTBACK_PER_HOST` requests
-- in flight to: a tracker that hangs does not fill the node's slots and hold up every other
-- host's postbacks. Jobs queued before have '' (never left out of a claim).
ALTER TABLE postback_jobs ADD COLUMN host TEXT NOT NULL DEFAULT '';
