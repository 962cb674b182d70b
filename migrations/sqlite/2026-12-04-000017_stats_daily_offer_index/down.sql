DROP INDEX stats_daily_tenant_offer;
