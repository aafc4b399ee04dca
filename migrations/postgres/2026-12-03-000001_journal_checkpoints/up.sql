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
CREATE FUNCTION journal_checkpoints_in_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.size > (SELECT seq FROM journal_head WHERE id = 1)
       OR NEW.size <= (SELECT COALESCE(MAX(size), 0) FROM journal_checkpoints) THEN
        RAISE EXCEPTION 'a checkpoint extends the last one and covers existing entries only: INSERT refused';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER journal_checkpoints_in_order BEFORE INSERT ON journal_checkpoints
    FOR EACH ROW EXECUTE FUNCTION journal_checkpoints_in_order();
CREATE FUNCTION journal_tree_within_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.level < 1 OR NEW.level > 62 OR NEW.idx < 0
       OR NEW.idx + 1 > ((SELECT seq FROM journal_head WHERE id = 1) >> NEW.level) THEN
        RAISE EXCEPTION 'a tree node covers existing entries only: INSERT refused';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER journal_tree_within_journal BEFORE INSERT ON journal_tree
    FOR EACH ROW EXECUTE FUNCTION journal_tree_within_journal();
CREATE FUNCTION journal_keys_only_retire() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.retired_at IS NOT NULL OR NEW.retired_at IS NULL
       OR NEW.key_id IS DISTINCT FROM OLD.key_id OR NEW.name IS DISTINCT FROM OLD.name
       OR NEW.public_key IS DISTINCT FROM OLD.public_key
       OR NEW.pkcs8_enc IS DISTINCT FROM OLD.pkcs8_enc
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'a journal key only gets retired: % refused', TG_OP;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER journal_keys_only_retire BEFORE UPDATE OR DELETE ON journal_keys
    FOR EACH ROW EXECUTE FUNCTION journal_keys_only_retire();
CREATE TRIGGER journal_keys_no_truncate BEFORE TRUNCATE ON journal_keys
    FOR EACH STATEMENT EXECUTE FUNCTION journal_evidence_fixed();
