-- The database keeps the chain itself (issue 10): an entry is accepted only at the head's
-- next number and linked to the head's hash, and the head moves with it, and only so.
-- `journal::append` reads the head (FOR UPDATE) and inserts.
CREATE FUNCTION journal_entries_in_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Checks and moves the head in one statement, under its row lock: this serialises
    -- even inserts that did not lock the head first. Moving it before the row is written
    -- (AFTER row triggers wait for the end of the statement) lets one INSERT of several
    -- chained rows pass, as on SQLite; a failed insert rolls the move back.
    UPDATE journal_head SET seq = NEW.seq, hash = NEW.hash
        WHERE id = 1 AND seq + 1 = NEW.seq AND hash = NEW.prev_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'journal entries are append-only: INSERT refused, not at the chain head';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER journal_entries_in_chain BEFORE INSERT ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_entries_in_chain();

CREATE FUNCTION journal_head_follows_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only journal_entries_in_chain (a trigger, so depth 2) moves the head.
    IF pg_trigger_depth() < 2 THEN
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
