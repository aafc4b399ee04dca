//! Housekeeping: deletes short-lived rows once they can no longer be used (sessions,
//! failed-login records, pending consents, OpenID interactions, codes and tokens).
//! Runs in the service every few minutes; each purge that removes something is journaled
//! with counts only.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::accounts::sessions::Policy;
use crate::crypto::SecretBox;
use crate::error::Error;
use crate::journal::{self, JournalError, NewEntry};
use crate::store::{write_tx, DbConn};

/// How long expired codes, tokens and requests are kept for investigation.
pub const KEEP: i64 = 24;

/// Days a sent e-mail stays in the outbox (the demo mailbox shows them; the journal
/// keeps their ids for good).
pub const MAIL_KEEP_DAYS: i64 = 7;

/// Rows removed, by kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Purged {
    /// Sessions past their idle or absolute timeout.
    pub sessions: usize,
    /// Failed-login records older than a day.
    pub login_attempts: usize,
    /// Consent requests expired for more than a day.
    pub consent_requests: usize,
    /// OpenID interactions expired for more than a day.
    pub interactions: usize,
    /// Authorization codes expired for more than a day.
    pub codes: usize,
    /// Access tokens expired for more than a day.
    pub tokens: usize,
    /// E-mails sent (or refused for good) more than a week ago.
    pub mail: usize,
}

impl Purged {
    fn total(&self) -> usize {
        self.sessions
            + self.login_attempts
            + self.consent_requests
            + self.interactions
            + self.codes
            + self.tokens
            + self.mail
    }
}

/// The demo's sample client: its id, public secret and URIs.
pub struct DemoClient<'a> {
    /// client_id.
    pub id: &'a str,
    /// Its (public) secret.
    pub secret: &'a str,
    /// Redirect URI.
    pub redirect: &'a str,
    /// Post-logout redirect URI.
    pub post_logout: &'a str,
}

/// At start-up, in one transaction: the first signing key and the first journal key
/// (named after `origin`, a new one when the public host changed) when a master key is
/// set, the demo client in demo mode, and `service.started`.
pub fn start_service(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: Option<&SecretBox>,
    origin: &str,
    demo: Option<DemoClient<'_>>,
    backend: &str,
) -> Result<(), Error> {
    use crate::federation::provider::{ensure_demo_client, ensure_signing_key};
    write_tx(conn, |c| {
        if let Some(s) = secrets {
            ensure_signing_key(c, now, s)?;
            journal::checkpoint::ensure_key(c, now, s, origin, "system")?;
        }
        if let Some(d) = &demo {
            ensure_demo_client(c, now, d.id, d.secret, d.redirect, d.post_logout)?;
        }
        journal::append(
            c,
            now,
            NewEntry::new("service.started")
                .actor("system")
                .detail("version", env!("CARGO_PKG_VERSION"))
                .detail("backend", backend)
                .detail("demo", demo.is_some()),
        )?;
        Ok(())
    })
}

/// At shutdown: `service.stopped`.
pub fn stop_service(conn: &mut DbConn, now: DateTime<Utc>) -> Result<(), Error> {
    write_tx(conn, |c| {
        journal::append(c, now, NewEntry::new("service.stopped").actor("system"))?;
        Ok(())
    })
}

/// The periodic housekeeping, in one transaction.
pub fn housekeeping(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Result<Purged, Error> {
    write_tx(conn, |c| {
        let purged = purge_expired(c, now, policy)?;
        crate::person::housekeeping_in(c, now)?;
        Ok(purged)
    })
}

/// Deletes what has expired, in the caller's transaction, and journals the counts.
pub fn purge_expired(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Result<Purged, JournalError> {
    let old = (now - Duration::hours(KEEP)).naive_utc();
    let p = Purged {
        sessions: crate::accounts::sessions::purge(conn, now, policy)?,
        login_attempts: crate::accounts::login::purge_attempts(conn, old)?,
        consent_requests: crate::mandates::purge_requests(conn, old)?,
        interactions: crate::federation::provider::interactions::purge_interactions(conn, old)?,
        tokens: crate::federation::provider::tokens::purge_tokens(conn, old)?,
        codes: crate::federation::provider::codes::purge_codes(conn, old)?,
        mail: crate::mail::purge_sent(conn, (now - Duration::days(MAIL_KEEP_DAYS)).naive_utc())?,
    };
    if p.total() > 0 {
        journal::append(
            conn,
            now,
            NewEntry::new("maintenance.purged").actor("system").detail(
                "counts",
                json!({
                    "sessions": p.sessions,
                    "login_attempts": p.login_attempts,
                    "consent_requests": p.consent_requests,
                    "interactions": p.interactions,
                    "codes": p.codes,
                    "tokens": p.tokens,
                    "mail": p.mail,
                }),
            ),
        )?;
    }
    Ok(p)
}
