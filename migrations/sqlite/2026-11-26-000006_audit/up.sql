-- Audit log: who changed which offer, payout, postback, conversion status or user, and when.
-- Rows are only ever inserted; the actor's label is kept so that an entry still reads well
-- after the user is renamed or disabled.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    actor_user_id BIGINT,
    actor_label TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL,
    summary TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant_created ON audit_log (tenant_id, created_at, id);
