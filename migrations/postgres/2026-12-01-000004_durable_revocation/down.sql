ALTER TABLE access_tokens DROP COLUMN issued_at;
ALTER TABLE oidc_clients DROP COLUMN demarches_removed;
ALTER TABLE structures DROP COLUMN demarches_removed;
ALTER TABLE memberships DROP COLUMN rights_since;
