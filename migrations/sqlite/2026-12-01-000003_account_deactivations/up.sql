-- Which structure's manager deactivated an account: only that structure's managers may
-- reactivate it (no row: active, or deactivated by the operator).
CREATE TABLE account_deactivations (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    structure_id TEXT NOT NULL REFERENCES structures (id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL
);
