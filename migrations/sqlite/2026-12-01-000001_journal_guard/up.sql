-- The database keeps the chain itself (issue 10): an entry is accepted only at the head's
-- next number and linked to the head's hash, the head follows each insert, and the head
-- moves only with the entry it names. `journal::append` reads the head and inserts.
CREATE TRIGGER journal_entries_in_chain BEFORE INSERT ON journal_entries
BEGIN
    SELECT RAISE(ABORT, 'journal entries are append-only: INSERT refused, not at the chain head')
    WHERE NOT EXISTS (
        SELECT 1 FROM journal_head WHERE id = 1 AND seq + 1 = NEW.seq AND hash = NEW.prev_hash
    );
END;
CREATE TRIGGER journal_entries_move_head AFTER INSERT ON journal_entries
BEGIN
    UPDATE journal_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1;
END;
CREATE TRIGGER journal_head_follows_entries BEFORE UPDATE ON journal_head
BEGIN
    SELECT RAISE(ABORT, 'the journal head moves only with a new entry: UPDATE refused')
    WHERE NEW.id IS NOT OLD.id OR NEW.seq IS NOT OLD.seq + 1 OR NOT EXISTS (
        SELECT 1 FROM journal_entries WHERE seq = NEW.seq AND hash = NEW.hash
    );
END;
CREATE TRIGGER journal_head_no_delete BEFORE DELETE ON journal_head
BEGIN
    SELECT RAISE(ABORT, 'the journal head is never deleted: DELETE refused');
END;
