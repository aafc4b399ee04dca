-- Notices to the person and to helpers (docs/mail.md, "Notices"). The messages
-- themselves go through mail_outbox; these tables only remember what was sent when.

-- Use notices, one row per usager: the current window (the first use in it was notified
-- at once; `pending` later uses are gathered into one message when it ends), and the
-- person's choice to stop them. `first_seq` is the last `mandate.used` entry of the
-- usager already told (the window's first use, then the last one a summary covered): a
-- summary tells the later ones before the window's end.
CREATE TABLE use_notices (
    usager_id TEXT PRIMARY KEY NOT NULL REFERENCES usagers (id) ON DELETE CASCADE,
    window_started_at TIMESTAMP,
    window_ends_at TIMESTAMP,
    first_seq BIGINT,
    pending INTEGER NOT NULL DEFAULT 0,
    stopped_at TIMESTAMP
);
CREATE INDEX use_notices_due ON use_notices (window_ends_at);

-- Mandates whose holder was reminded of their end (once each).
CREATE TABLE expiry_reminders (
    mandate_id TEXT PRIMARY KEY NOT NULL REFERENCES mandates (id) ON DELETE CASCADE,
    sent_at TIMESTAMP NOT NULL
);

-- The last weekly digest of each kind sent to an account (aidants: mandates ending
-- soon; managers: accounts without a second factor).
CREATE TABLE helper_digests (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, kind)
);
