DROP TABLE payout_overrides;
DROP TABLE offer_access;
DROP TABLE goals;
DROP TABLE offers;
ALTER TABLE users DROP COLUMN affiliate_id;
ALTER TABLE users DROP COLUMN advertiser_id;
DROP TABLE affiliates;
DROP TABLE advertisers;
