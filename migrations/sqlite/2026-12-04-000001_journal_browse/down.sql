DROP INDEX journal_entries_at;
DROP INDEX journal_entries_mandate;
DROP INDEX journal_entries_usager;
DROP INDEX journal_entries_actor;
DROP INDEX journal_entries_action;
