DROP TABLE journal_head;
DROP TRIGGER journal_entries_no_delete;
DROP TRIGGER journal_entries_no_update;
DROP TABLE journal_entries;
DROP TABLE structures;
