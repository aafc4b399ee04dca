DROP TABLE trainings;
ALTER TABLE users DROP COLUMN accredited_until;
