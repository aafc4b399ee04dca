-- The database keeps the chain itself (issue 10): an entry is accepted only at the head's
-- next number and linked to the head's hash, the head follows each insert, and the head
-- moves only with the entry it names. `journal::append` reads the head (FOR UPDATE) and
-- inserts.
CREATE FUNCTION journal_entries_in_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The row lock serialises even inserts that did not lock the head first.
    PERFORM 1 FROM journal_head
        WHERE id = 1 AND seq + 1 = NEW.seq AND hash = NEW.prev_hash FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'journal entries are append-only: INSERT refused, not at the chain head';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER journal_entries_in_chain BEFORE INSERT ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_entries_in_chain();

CREATE FUNCTION journal_entries_move_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE journal_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER journal_entries_move_head AFTER INSERT ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_entries_move_head();

CREATE FUNCTION journal_head_follows_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.seq IS DISTINCT FROM OLD.seq + 1 OR NOT EXISTS (
        SELECT 1 FROM journal_entries WHERE seq = NEW.seq AND hash = NEW.hash
    ) THEN
        RAISE EXCEPTION 'the journal head moves only with a new entry: UPDATE refused';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER journal_head_follows_entries BEFORE UPDATE ON journal_head
    FOR EACH ROW EXECUTE FUNCTION journal_head_follows_entries();

CREATE FUNCTION journal_head_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal head is never deleted: % refused', TG_OP;
END;
$$;
CREATE TRIGGER journal_head_no_delete BEFORE DELETE ON journal_head
    FOR EACH ROW EXECUTE FUNCTION journal_head_fixed();
CREATE TRIGGER journal_head_no_truncate BEFORE TRUNCATE ON journal_head
    FOR EACH STATEMENT EXECUTE FUNCTION journal_head_fixed();
