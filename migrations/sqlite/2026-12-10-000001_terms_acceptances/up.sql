-- Terms of use (src/accounts/terms.rs): each account's acceptance of a version of the
-- terms, with the SHA-256 of the text it was shown, so that what was accepted is provable.
CREATE TABLE terms_acceptances (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    accepted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, version)
);
