-- An offer's traffic found without reading the network's whole history: an offer that has
-- clicks keeps its advertiser, and one that has conversions keeps its currency (the rollups and
-- conversions record money in its minor units). A row is added here only for the first click
-- of a day per offer and affiliate; the click path's other upserts leave this index alone.
CREATE INDEX stats_daily_tenant_offer ON stats_daily (tenant_id, offer_id);
