-- Signed checkpoints of the journal (issue 11; docs/journal.md, "Checkpoints"): the
-- Ed25519 keys that sign them (private halves sealed with the master key), the interior
-- nodes of the Merkle tree over the entries (perfect aligned subtrees, level >= 1, hashes
-- in base64), and the checkpoints themselves. Nodes and checkpoints are never changed.
CREATE TABLE journal_keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    public_key TEXT NOT NULL,
    pkcs8_enc TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP
);
CREATE TABLE journal_tree (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE journal_checkpoints (
    size BIGINT PRIMARY KEY NOT NULL,
    root TEXT NOT NULL,
    key_id TEXT NOT NULL REFERENCES journal_keys (key_id),
    note TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE FUNCTION journal_evidence_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never changed: % refused', TG_TABLE_NAME, TG_OP;
END;
$$;
CREATE TRIGGER journal_checkpoints_fixed BEFORE UPDATE OR DELETE ON journal_checkpoints
    FOR EACH ROW EXECUTE FUNCTION journal_evidence_fixed();
CREATE TRIGGER journal_checkpoints_no_truncate BEFORE TRUNCATE ON journal_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION journal_evidence_fixed();
CREATE TRIGGER journal_tree_fixed BEFORE UPDATE OR DELETE ON journal_tree
    FOR EACH ROW EXECUTE FUNCTION journal_evidence_fixed();
CREATE TRIGGER journal_tree_no_truncate BEFORE TRUNCATE ON journal_tree
    FOR EACH STATEMENT EXECUTE FUNCTION journal_evidence_fixed();
