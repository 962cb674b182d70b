DROP TABLE account_tokens;
ALTER TABLE users DROP COLUMN password_changed_at;
ALTER TABLE users DROP COLUMN email_verified_at;
ALTER TABLE tenants DROP COLUMN advertiser_signup;
ALTER TABLE tenants DROP COLUMN signup_auto_approve;
