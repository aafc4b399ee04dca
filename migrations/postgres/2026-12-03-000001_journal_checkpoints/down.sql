DROP TABLE journal_checkpoints;
DROP TABLE journal_tree;
DROP TABLE journal_keys;
DROP FUNCTION journal_evidence_fixed();
