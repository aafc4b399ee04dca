-- Consent reaches the site (issue 9): clients and structures serve démarches, clients
-- choose their protocol settings, and what was consented travels with codes and tokens
-- so that a revocation is seen at redemption and at userinfo.

-- NULL: every démarche; otherwise a JSON array of démarche codes.
ALTER TABLE oidc_clients ADD COLUMN demarches TEXT;
-- 'required' or 'optional' (a client with a secret only).
ALTER TABLE oidc_clients ADD COLUMN pkce TEXT NOT NULL DEFAULT 'required';
-- 'none' (JSON) or the JWS algorithm of signed userinfo responses.
ALTER TABLE oidc_clients ADD COLUMN userinfo_alg TEXT NOT NULL DEFAULT 'none';

-- NULL: every démarche; otherwise a JSON array of the codes the structure offers.
ALTER TABLE structures ADD COLUMN demarches TEXT;

-- The validated OIDC `claims` request parameter, normalised (JSON), or NULL.
ALTER TABLE oidc_interactions ADD COLUMN claims TEXT;

-- Codes live one minute: the table is made again, with the claims request and without
-- the mandate (an authorisation names its mandate).
DROP TABLE authorization_codes;
CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES oidc_clients (id),
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce TEXT NOT NULL,
    scope TEXT NOT NULL,
    claims TEXT,
    aidant_id TEXT NOT NULL REFERENCES users (id),
    structure_id TEXT NOT NULL REFERENCES structures (id),
    usager_id TEXT NOT NULL REFERENCES usagers (id),
    authorisation_id TEXT NOT NULL REFERENCES authorisations (id),
    demarche TEXT NOT NULL,
    auth_time TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

-- An access token names what it depends on. Tokens issued before this migration name
-- nothing and could not be checked: they are dropped (they live one hour at most).
DELETE FROM access_tokens;
ALTER TABLE access_tokens ADD COLUMN aidant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE access_tokens ADD COLUMN structure_id TEXT NOT NULL DEFAULT '';
ALTER TABLE access_tokens ADD COLUMN mandate_id TEXT NOT NULL DEFAULT '';
ALTER TABLE access_tokens ADD COLUMN authorisation_id TEXT NOT NULL DEFAULT '';
ALTER TABLE access_tokens ADD COLUMN demarche TEXT NOT NULL DEFAULT '';
ALTER TABLE access_tokens ADD COLUMN claims TEXT;
