DROP TABLE login_attempts;
DROP TABLE sessions;
DROP TABLE totp_cards;
DROP TABLE enrolment_tokens;
DROP TABLE memberships;
DROP TABLE users;
