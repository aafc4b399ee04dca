-- A right that ends stays ended for the codes and tokens issued before (issue 9, review):
-- a use is valid only if issued after its aidant's rights in the structure last began
-- (membership created, account reactivated or deactivated), and after any removal of its
-- démarche from the structure or the client.
ALTER TABLE memberships ADD COLUMN rights_since TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
-- JSON object: démarche code → when it was last removed (NULL: never).
ALTER TABLE structures ADD COLUMN demarches_removed TEXT;
ALTER TABLE oidc_clients ADD COLUMN demarches_removed TEXT;
ALTER TABLE access_tokens ADD COLUMN issued_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
