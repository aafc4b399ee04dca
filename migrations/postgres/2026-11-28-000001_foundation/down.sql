DROP TABLE journal_head;
DROP TABLE journal_entries;
DROP FUNCTION journal_entries_append_only();
DROP TABLE structures;
