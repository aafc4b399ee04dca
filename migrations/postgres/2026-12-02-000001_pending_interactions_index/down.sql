DROP INDEX oidc_interactions_addr_pending;
CREATE INDEX oidc_interactions_addr ON oidc_interactions (client_addr, expires_at);
