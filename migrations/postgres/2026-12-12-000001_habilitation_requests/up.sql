-- Habilitation requests (src/accounts/habilitation.rs): a structure asks to join Procura
-- through the public form at /habilitation; an administrator accepts, refuses or asks for
-- changes. The resume link's secret is stored only as its SHA-256.
CREATE TABLE habilitation_requests (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    -- email_pending, draft, submitted, changes_requested, accepted or refused
    status TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    link_sent_at TIMESTAMP NOT NULL,
    siret TEXT,
    name TEXT,
    address TEXT,
    kind TEXT,
    manager_name TEXT,
    manager_email TEXT,
    manager_aidant BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    submitted_at TIMESTAMP,
    structure_id TEXT REFERENCES structures (id)
);
CREATE INDEX habilitation_requests_email ON habilitation_requests (email, status);
CREATE INDEX habilitation_requests_status ON habilitation_requests (status, updated_at);

-- The aidants a request names (the manager is on the request itself).
CREATE TABLE habilitation_aidants (
    id TEXT PRIMARY KEY NOT NULL,
    request_id TEXT NOT NULL REFERENCES habilitation_requests (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    -- aidant, or manager (aidant and co-manager)
    role TEXT NOT NULL
);
CREATE INDEX habilitation_aidants_request ON habilitation_aidants (request_id, position);

-- The thread between the applicant and the administrators.
CREATE TABLE habilitation_messages (
    id TEXT PRIMARY KEY NOT NULL,
    request_id TEXT NOT NULL REFERENCES habilitation_requests (id) ON DELETE CASCADE,
    -- 'applicant', or the administrator's account id
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX habilitation_messages_request ON habilitation_messages (request_id, created_at);

-- The structure's type, as the request gave it (NULL for structures created otherwise).
ALTER TABLE structures ADD COLUMN kind TEXT;
