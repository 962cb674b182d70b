DROP INDEX tenants_tracking_domain;
ALTER TABLE tenants DROP COLUMN tracking_domain;
