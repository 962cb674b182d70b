ALTER TABLE postback_attempts
    ADD CONSTRAINT postback_attempts_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id),
    ADD CONSTRAINT postback_attempts_job_id_fkey FOREIGN KEY (job_id) REFERENCES postback_jobs(id),
    ADD CONSTRAINT postback_attempts_postback_id_fkey FOREIGN KEY (postback_id) REFERENCES postbacks(id);
