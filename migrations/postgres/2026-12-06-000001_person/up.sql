-- The person's own space (/moi): sessions separate from the aidants' ones. Only the
-- SHA-256 of the cookie token is stored; a session before login carries the pending
-- FranceConnect login (state hashed, nonce and PKCE verifier sealed).
CREATE TABLE usager_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    usager_id TEXT,
    logged_in BOOLEAN NOT NULL,
    csrf_token TEXT NOT NULL,
    login_state_hash TEXT UNIQUE,
    login_secrets_enc TEXT,
    remote_id TEXT,
    created_at TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL
);
CREATE INDEX usager_sessions_seen ON usager_sessions (last_seen);

-- Remote consent: the aidant asks, the person consents from a link sent by e-mail.
-- The expected identity (and e-mail) and the identity proven by FranceConnect are
-- sealed; the link's token is stored hashed.
CREATE TABLE remote_consents (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    structure_id TEXT NOT NULL REFERENCES structures (id),
    aidant_id TEXT NOT NULL REFERENCES users (id),
    demarches TEXT NOT NULL,
    duration TEXT NOT NULL,
    expected_enc TEXT NOT NULL,
    identity_enc TEXT,
    session_hash TEXT,
    status TEXT NOT NULL,
    mandate_id TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX remote_consents_structure ON remote_consents (structure_id, created_at);
CREATE INDEX remote_consents_status ON remote_consents (status, expires_at);
