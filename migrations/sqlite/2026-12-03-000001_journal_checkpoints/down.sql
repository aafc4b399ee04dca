DROP TRIGGER journal_tree_no_delete;
DROP TRIGGER journal_tree_no_update;
DROP TRIGGER journal_checkpoints_no_delete;
DROP TRIGGER journal_checkpoints_no_update;
DROP TABLE journal_checkpoints;
DROP TABLE journal_tree;
DROP TABLE journal_keys;
