ALTER TABLE clicks
    ADD CONSTRAINT clicks_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id),
    ADD CONSTRAINT clicks_offer_id_fkey FOREIGN KEY (offer_id) REFERENCES offers(id),
    ADD CONSTRAINT clicks_affiliate_id_fkey FOREIGN KEY (affiliate_id) REFERENCES affiliates(id),
    ADD CONSTRAINT clicks_advertiser_id_fkey FOREIGN KEY (advertiser_id) REFERENCES advertisers(id);
