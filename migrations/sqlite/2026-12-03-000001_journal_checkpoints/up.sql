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
CREATE TRIGGER journal_checkpoints_no_update BEFORE UPDATE ON journal_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are never changed: UPDATE refused');
END;
CREATE TRIGGER journal_checkpoints_no_delete BEFORE DELETE ON journal_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are never changed: DELETE refused');
END;
CREATE TRIGGER journal_tree_no_update BEFORE UPDATE ON journal_tree
BEGIN
    SELECT RAISE(ABORT, 'tree nodes are never changed: UPDATE refused');
END;
CREATE TRIGGER journal_tree_no_delete BEFORE DELETE ON journal_tree
BEGIN
    SELECT RAISE(ABORT, 'tree nodes are never changed: DELETE refused');
END;
CREATE TRIGGER journal_checkpoints_in_order BEFORE INSERT ON journal_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'a checkpoint extends the last one and covers existing entries only: INSERT refused')
    WHERE NEW.size > (SELECT seq FROM journal_head WHERE id = 1)
       OR NEW.size <= (SELECT COALESCE(MAX(size), 0) FROM journal_checkpoints);
END;
CREATE TRIGGER journal_tree_within_journal BEFORE INSERT ON journal_tree
BEGIN
    SELECT RAISE(ABORT, 'a tree node covers existing entries only: INSERT refused')
    WHERE NEW.level < 1 OR NEW.level > 62 OR NEW.idx < 0
       OR NEW.idx + 1 > ((SELECT seq FROM journal_head WHERE id = 1) >> NEW.level);
END;
CREATE TRIGGER journal_keys_only_retire BEFORE UPDATE ON journal_keys
BEGIN
    SELECT RAISE(ABORT, 'a journal key only gets retired: UPDATE refused')
    WHERE OLD.retired_at IS NOT NULL OR NEW.retired_at IS NULL
       OR NEW.key_id IS NOT OLD.key_id OR NEW.name IS NOT OLD.name
       OR NEW.public_key IS NOT OLD.public_key OR NEW.pkcs8_enc IS NOT OLD.pkcs8_enc
       OR NEW.created_at IS NOT OLD.created_at;
END;
CREATE TRIGGER journal_keys_no_delete BEFORE DELETE ON journal_keys
BEGIN
    SELECT RAISE(ABORT, 'journal keys are never deleted: DELETE refused');
END;
