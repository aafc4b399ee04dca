ALTER TABLE consent_requests DROP COLUMN renewal_of;
