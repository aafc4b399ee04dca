-- A mandate creation started as the renewal of this mandate (its person must be the one
-- FranceConnect proves).
ALTER TABLE consent_requests ADD COLUMN renewal_of TEXT;
