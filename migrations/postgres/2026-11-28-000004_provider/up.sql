-- OpenID clients (relying parties of the federation). Secrets are stored as SHA-256.
CREATE TABLE oidc_clients (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT,
    auth_method TEXT NOT NULL,
    id_token_alg TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Signing keys, PKCS#8 sealed with the master key. A retired key stays published in the
-- JWKS for the grace period.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    pkcs8_enc TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP
);

-- Authorization requests in progress (login, then usager and démarche choice).
CREATE TABLE oidc_interactions (
    id TEXT PRIMARY KEY NOT NULL,
    session_hash TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES oidc_clients (id),
    redirect_uri TEXT NOT NULL,
    state TEXT,
    nonce TEXT NOT NULL,
    scope TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    prompt TEXT,
    max_age BIGINT,
    usager_id TEXT,
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- Authorization codes (SHA-256 of the code), single use, bound to client, redirect URI
-- and PKCE challenge.
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

-- Opaque access tokens (SHA-256), short-lived; revoked when their code is replayed.
CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    code_hash TEXT NOT NULL,
    client_id TEXT NOT NULL,
    usager_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX access_tokens_code ON access_tokens (code_hash);
