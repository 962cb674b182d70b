-- A network's signup terms: the text a new affiliate or advertiser accepts on the signup form
-- (empty: the network has none, and the form asks for no acceptance).
ALTER TABLE tenants ADD COLUMN signup_terms TEXT NOT NULL DEFAULT '';
