-- Structures (the organisations whose aidants act on behalf of usagers).
CREATE TABLE structures (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    siret TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL
);

-- The append-only, hash-chained journal (format: docs/journal.md).
-- No foreign keys: entries must outlive the rows they reference (retention purges).
CREATE TABLE journal_entries (
    seq BIGINT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    action TEXT NOT NULL,
    actor TEXT,
    structure_id TEXT,
    usager_id TEXT,
    mandate_id TEXT,
    authorisation_id TEXT,
    client_id TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX journal_entries_structure ON journal_entries (structure_id, seq);

CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries
BEGIN
    SELECT RAISE(ABORT, 'journal entries are append-only: UPDATE refused');
END;
CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries
BEGIN
    SELECT RAISE(ABORT, 'journal entries are append-only: DELETE refused');
END;

-- The chain head: one row, updated in the appending transaction, so appends are
-- serialised and the sequence has no gap.
CREATE TABLE journal_head (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO journal_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
