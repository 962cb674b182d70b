-- The conversions lists find an advertiser's order id (adv_sub) within a network without reading
-- all its conversions.
CREATE INDEX conversions_tenant_adv_sub ON conversions (tenant_id, adv_sub);
