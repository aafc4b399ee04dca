-- Memberships (src/accounts/memberships.rs). Whether an account manages a structure is
-- now a property of its membership: the account-wide role `manager` says it manages at
-- least one structure, this flag says which. Existing managers keep managing every
-- structure they belong to, as before.
ALTER TABLE memberships ADD COLUMN manager BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE memberships SET manager = TRUE
    WHERE user_id IN (SELECT id FROM users WHERE ',' || roles || ',' LIKE '%,manager,%');

-- A manager's invitation of an existing account to join the structure; created only when
-- the address belongs to an account (the manager is not told either way).
CREATE TABLE membership_invitations (
    id TEXT PRIMARY KEY NOT NULL,
    structure_id TEXT NOT NULL REFERENCES structures (id),
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invited_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    -- pending, accepted, declined or cancelled
    status TEXT NOT NULL DEFAULT 'pending',
    decided_at TIMESTAMP
);
CREATE INDEX membership_invitations_user ON membership_invitations (user_id, status);
CREATE INDEX membership_invitations_structure ON membership_invitations (structure_id, status);
