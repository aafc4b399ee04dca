-- Accounts: aidants, managers, auditors, admins (roles combine, comma-separated).
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    roles TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    password_hash TEXT,
    totp_secret_enc TEXT,
    totp_last_step BIGINT,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    last_login TIMESTAMP,
    current_structure_id TEXT REFERENCES structures (id),
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE memberships (
    user_id TEXT NOT NULL REFERENCES users (id),
    structure_id TEXT NOT NULL REFERENCES structures (id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, structure_id)
);
CREATE INDEX memberships_structure ON memberships (structure_id);

-- One-time enrolment links: only the SHA-256 of the token is stored.
CREATE TABLE enrolment_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    totp_pending_enc TEXT
);
CREATE INDEX enrolment_tokens_user ON enrolment_tokens (user_id);

-- Physical TOTP cards handed out by structures (seed encrypted with the master key).
CREATE TABLE totp_cards (
    id TEXT PRIMARY KEY NOT NULL,
    serial TEXT NOT NULL UNIQUE,
    seed_enc TEXT NOT NULL,
    user_id TEXT UNIQUE REFERENCES users (id),
    last_step BIGINT,
    created_at TIMESTAMP NOT NULL
);

-- Server-side sessions; only the SHA-256 of the cookie value is stored.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT REFERENCES users (id),
    stage TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Failed login attempts per client address (rate limiting across instances).
CREATE TABLE login_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    client_addr TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX login_attempts_addr ON login_attempts (client_addr, at);
