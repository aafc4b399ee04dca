-- Accreditation (src/accounts/accreditation.rs): an aidant creates and uses mandates only
-- while a recorded training makes them accredited. `trainings` keeps every record (a
-- cancelled one is marked, never deleted); `users.accredited_until` is the latest expiry
-- of the account's records not cancelled, kept in the same transaction as they change,
-- so that each use reads it with the account's row.
ALTER TABLE users ADD COLUMN accredited_until TIMESTAMP;
CREATE TABLE trainings (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    completed_on DATE NOT NULL,
    reference TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    cancelled_at TIMESTAMP,
    cancelled_by TEXT
);
CREATE INDEX trainings_user ON trainings (user_id);
CREATE INDEX trainings_recorded ON trainings (recorded_at);
-- Accounts holding the aidant role before this version stay accredited for a year (the
-- carry-over, docs/accreditation.md): their real training is to be recorded meanwhile.
INSERT INTO trainings (id, user_id, completed_on, reference, recorded_by, recorded_at, expires_at)
SELECT 'reprise-' || id, id, date(created_at), 'reprise à la mise à jour', 'migration',
       datetime('now'), datetime('now', '+12 months')
FROM users WHERE ',' || roles || ',' LIKE '%,aidant,%';
UPDATE users SET accredited_until = (
    SELECT expires_at FROM trainings WHERE trainings.user_id = users.id
) WHERE ',' || roles || ',' LIKE '%,aidant,%';
