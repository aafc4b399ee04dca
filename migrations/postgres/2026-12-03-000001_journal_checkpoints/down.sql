DROP TABLE journal_checkpoints;
DROP TABLE journal_tree;
DROP TABLE journal_keys;
DROP FUNCTION journal_evidence_fixed();
DROP FUNCTION journal_checkpoints_in_order();
DROP FUNCTION journal_tree_within_journal();
DROP FUNCTION journal_keys_only_retire();
