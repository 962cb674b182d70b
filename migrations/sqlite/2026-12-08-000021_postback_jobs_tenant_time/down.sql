DROP INDEX postback_jobs_tenant_time;
