-- Self-serve signup: per-network settings, verified addresses, and single-use account tokens.
ALTER TABLE tenants ADD COLUMN signup_auto_approve BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tenants ADD COLUMN advertiser_signup BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
-- Sessions issued before this moment are no longer accepted (set by a password reset).
ALTER TABLE users ADD COLUMN password_changed_at BIGINT;

-- Email verification and password reset links. Only the SHA-256 of a token is stored.
CREATE TABLE account_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    purpose TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX account_tokens_tenant_user ON account_tokens (tenant_id, user_id, purpose);
