-- Signing out ends the user's sessions on the server too: a session lives in its cookie (the
-- nodes keep none), so a cookie copied before the sign-out would otherwise stay valid until it
-- expired. A session carries the epoch its user had when it signed in; signing out moves the
-- user's epoch on, and a session of another epoch is refused.
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
