-- When a manager reset the account's password (cleared once a new one is chosen): a link
-- that sets the password of such an account goes to its owner by e-mail only, even if it
-- never logged in (src/accounts/manage.rs, shown_or_mailed).
ALTER TABLE users ADD COLUMN password_reset_at TIMESTAMP;
