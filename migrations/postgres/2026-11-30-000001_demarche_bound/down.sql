ALTER TABLE access_tokens DROP COLUMN claims;
ALTER TABLE access_tokens DROP COLUMN demarche;
ALTER TABLE access_tokens DROP COLUMN authorisation_id;
ALTER TABLE access_tokens DROP COLUMN mandate_id;
ALTER TABLE access_tokens DROP COLUMN structure_id;
ALTER TABLE access_tokens DROP COLUMN aidant_id;
DROP TABLE authorization_codes;
CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES oidc_clients (id),
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce TEXT NOT NULL,
    scope TEXT NOT NULL,
    aidant_id TEXT NOT NULL REFERENCES users (id),
    structure_id TEXT NOT NULL REFERENCES structures (id),
    usager_id TEXT NOT NULL REFERENCES usagers (id),
    mandate_id TEXT NOT NULL REFERENCES mandates (id),
    authorisation_id TEXT NOT NULL REFERENCES authorisations (id),
    demarche TEXT NOT NULL,
    auth_time TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
ALTER TABLE oidc_interactions DROP COLUMN claims;
ALTER TABLE structures DROP COLUMN demarches;
ALTER TABLE oidc_clients DROP COLUMN userinfo_alg;
ALTER TABLE oidc_clients DROP COLUMN pkce;
ALTER TABLE oidc_clients DROP COLUMN demarches;
