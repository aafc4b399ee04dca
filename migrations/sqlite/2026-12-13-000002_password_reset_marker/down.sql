ALTER TABLE users DROP COLUMN password_reset_at;
