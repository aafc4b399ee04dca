-- Anonymous authorization requests are bounded per client address (issue 10): each
-- interaction notes the address it came from.
ALTER TABLE oidc_interactions ADD COLUMN client_addr TEXT;
CREATE INDEX oidc_interactions_addr ON oidc_interactions (client_addr, expires_at);
