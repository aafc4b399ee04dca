-- Usagers: the identité pivot exactly as FranceConnect returned it.
CREATE TABLE usagers (
    id TEXT PRIMARY KEY NOT NULL,
    fc_sub TEXT NOT NULL UNIQUE,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    preferred_username TEXT,
    birthdate TEXT NOT NULL,
    gender TEXT NOT NULL,
    birthplace TEXT NOT NULL,
    birthcountry TEXT NOT NULL,
    email TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE mandates (
    id TEXT PRIMARY KEY NOT NULL,
    structure_id TEXT NOT NULL REFERENCES structures (id),
    usager_id TEXT NOT NULL REFERENCES usagers (id),
    aidant_id TEXT NOT NULL REFERENCES users (id),
    duration TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    attestation_version TEXT NOT NULL,
    attestation_digest TEXT NOT NULL,
    journal_seq BIGINT
);
CREATE INDEX mandates_structure ON mandates (structure_id, expires_at);
CREATE INDEX mandates_usager ON mandates (usager_id);

CREATE TABLE authorisations (
    id TEXT PRIMARY KEY NOT NULL,
    mandate_id TEXT NOT NULL REFERENCES mandates (id),
    demarche TEXT NOT NULL,
    revoked_at TIMESTAMP,
    revoked_reason TEXT,
    revoked_by TEXT
);
CREATE INDEX authorisations_mandate ON authorisations (mandate_id);

-- Mandate creations in progress (FranceConnect round trip, then the consent page).
CREATE TABLE consent_requests (
    id TEXT PRIMARY KEY NOT NULL,
    state_hash TEXT NOT NULL UNIQUE,
    session_hash TEXT NOT NULL,
    secrets_enc TEXT NOT NULL,
    structure_id TEXT NOT NULL REFERENCES structures (id),
    aidant_id TEXT NOT NULL REFERENCES users (id),
    demarches TEXT NOT NULL,
    duration TEXT NOT NULL,
    status TEXT NOT NULL,
    identity_enc TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
