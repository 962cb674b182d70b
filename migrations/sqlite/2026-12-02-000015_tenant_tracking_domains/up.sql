-- A network's own tracking domain (a host name such as track.acme.com, lower case, no port):
-- requests to the tracking endpoints on it are matched to that network only, and its links
-- use it. Unique across the installation (NULLs, the default, are distinct).
ALTER TABLE tenants ADD COLUMN tracking_domain TEXT;
CREATE UNIQUE INDEX tenants_tracking_domain ON tenants (tracking_domain);
