ALTER TABLE tenants DROP COLUMN signup_terms;
