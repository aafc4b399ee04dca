DROP INDEX oidc_interactions_addr;
ALTER TABLE oidc_interactions DROP COLUMN client_addr;
