DROP TRIGGER journal_head_no_truncate ON journal_head;
DROP TRIGGER journal_head_no_delete ON journal_head;
DROP FUNCTION journal_head_fixed();
DROP TRIGGER journal_head_follows_entries ON journal_head;
DROP FUNCTION journal_head_follows_entries();
DROP TRIGGER journal_entries_in_chain ON journal_entries;
DROP FUNCTION journal_entries_in_chain();
