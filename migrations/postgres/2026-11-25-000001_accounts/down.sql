DROP TABLE login_failures;
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE tenants;
DROP TABLE app_settings;
