-- The most recent mandates of a structure first (the usager chooser and home page
-- without a search, the manager's list): an index walk, whatever the structure's size.
CREATE INDEX mandates_structure_created ON mandates (structure_id, created_at);
