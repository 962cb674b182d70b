ALTER TABLE conversions DROP COLUMN click_seq;
ALTER TABLE clicks DROP COLUMN seq;
