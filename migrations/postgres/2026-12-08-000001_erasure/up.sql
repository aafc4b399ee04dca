-- Erased identities (src/person/erase.rs, docs/retention.md): the usager row keeps its id
-- and shows "Identité effacée"; this table says when and why, and keeps the retention
-- schedule from picking the same person again.
CREATE TABLE usager_erasures (
    usager_id TEXT PRIMARY KEY NOT NULL REFERENCES usagers (id),
    at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('request', 'retention'))
);
