-- When a manager reset the account's password (cleared once a new one is chosen): a link
-- that sets the password of such an account goes to its owner by e-mail only, even if it
-- never logged in (src/accounts/manage.rs, shown_or_mailed).
ALTER TABLE users ADD COLUMN password_reset_at TIMESTAMP;
-- Accounts already without a password but with a second factor (an app or a card) had
-- their password reset before this version (or were created on the command line with a
-- second factor and no password): their password-setting links go by e-mail too.
UPDATE users SET password_reset_at = created_at
WHERE password_hash IS NULL
  AND (totp_secret_enc IS NOT NULL
       OR id IN (SELECT user_id FROM totp_cards WHERE user_id IS NOT NULL));
