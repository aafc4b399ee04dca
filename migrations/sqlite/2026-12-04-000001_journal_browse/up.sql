-- The auditor's and the manager's journal view (/audit, /gestion/journal): newest first,
-- filtered by one column, keyset on seq. Each filter reads its index backwards from the
-- page's start (structure_id already has one). Dates read the index on `at` twice to
-- find where in seq order a day range lies (`at` is close to, not exactly, monotonic).
CREATE INDEX journal_entries_action ON journal_entries (action, seq);
CREATE INDEX journal_entries_actor ON journal_entries (actor, seq);
CREATE INDEX journal_entries_usager ON journal_entries (usager_id, seq);
CREATE INDEX journal_entries_mandate ON journal_entries (mandate_id, seq);
CREATE INDEX journal_entries_at ON journal_entries (at, seq);
