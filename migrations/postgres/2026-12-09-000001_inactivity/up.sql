-- Inactive aidants (src/accounts/inactivity.rs): when each account was last warned that
-- it would be deactivated without a login.
CREATE TABLE inactivity_warnings (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    warned_at TIMESTAMP NOT NULL
);
