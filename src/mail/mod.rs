//! E-mail through a transactional outbox (docs/mail.md).
//!
//! A message is written by [`enqueue`] in the transaction of the action that causes it,
//! with a `mail.queued` journal entry naming its id and kind (never its content). The
//! service's worker ([`worker`]) sends what is due over SMTP, outside any transaction,
//! and journals `mail.sent` or `mail.failed` by message id. A message being sent is
//! leased: a worker killed mid-send leaves it due again when the lease ends, and the
//! retry carries the same `Message-ID`, so that a receiving system can recognise it.

pub mod worker;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::journal::{self, JournalError, NewEntry};
use crate::store::schema::mail_outbox;
use crate::store::DbConn;

/// The sender when none is configured (only the demo mailbox sees it).
pub const DEFAULT_SENDER: &str = "Procura <ne-pas-repondre@procura.invalid>";

crate::text_enum! {
    /// Where a message stands, stored as text.
    pub enum MailStatus {
        /// Waiting to be sent (first try or a retry), due at `next_attempt_at`.
        Pending = "pending",
        /// Leased by a worker until `next_attempt_at`.
        Sending = "sending",
        /// Accepted by the SMTP server (or shown in the demo mailbox).
        Sent = "sent",
        /// Refused for good by the SMTP server (a permanent error).
        Failed = "failed",
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain SMTP (`smtp://`): for a relay on the same host or network.
    None,
    /// STARTTLS, required (`smtp://…?tls=starttls`).
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Wrapper,
}

/// `PROCURA_SMTP_URL`, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Transport security.
    pub tls: TlsMode,
    /// User name and password, when the URL has them.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(u, _)| (u, "<redacted>")),
            )
            .finish()
    }
}

impl SmtpSettings {
    /// Parses `smtp://host[:port]`, `smtp://host[:port]?tls=starttls` or
    /// `smtps://[user:password@]host[:port]`; the message says what is expected.
    pub fn parse(s: &str) -> Result<SmtpSettings, String> {
        const EXPECTED: &str =
            "expected smtp://host:port, smtp://host:port?tls=starttls or smtps://user:password@host:port";
        let url = url::Url::parse(s).map_err(|_| format!("{EXPECTED}, got a malformed URL"))?;
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']'),
            _ => return Err(format!("{EXPECTED}: the host is missing")),
        };
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(format!("{EXPECTED}: no path or fragment"));
        }
        let mut tls_param = None;
        for (k, v) in url.query_pairs() {
            match (k.as_ref(), tls_param) {
                ("tls", None) => tls_param = Some(v.into_owned()),
                _ => return Err(format!("{EXPECTED}: unknown or repeated parameter {k:?}")),
            }
        }
        let tls = match (url.scheme(), tls_param.as_deref()) {
            ("smtp", None | Some("none")) => TlsMode::None,
            ("smtp", Some("starttls" | "required")) => TlsMode::StartTls,
            ("smtps", None) => TlsMode::Wrapper,
            ("smtp" | "smtps", Some(t)) => {
                return Err(format!(
                    "{EXPECTED}: tls={t:?} is not understood (tls=starttls, or smtps://)"
                ))
            }
            (scheme, _) => return Err(format!("{EXPECTED}, got the scheme {scheme:?}")),
        };
        let port = url.port().unwrap_or(match tls {
            TlsMode::None => 25,
            TlsMode::StartTls => 587,
            TlsMode::Wrapper => 465,
        });
        let decode = |p: &str| {
            percent_decode(p)
                .ok_or_else(|| format!("{EXPECTED}: the user or password is not UTF-8"))
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (u, Some(p)) if !u.is_empty() => Some((decode(u)?, decode(p)?)),
            _ => return Err(format!("{EXPECTED}: give both a user and a password")),
        };
        Ok(SmtpSettings {
            host: host.to_string(),
            port,
            tls,
            credentials,
        })
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes: Vec<u8> =
        url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())?;
    String::from_utf8(bytes).ok()
}

/// Checks `PROCURA_MAIL_FROM` (`Name <address>` or `address`); the value kept.
pub fn check_sender(s: &str) -> Result<String, String> {
    s.parse::<lettre::message::Mailbox>()
        .map(|_| s.to_string())
        .map_err(|_| {
            format!(
                "expected an address such as \"Procura <ne-pas-repondre@example.org>\", got {s:?}"
            )
        })
}

/// True when `s` is an address lettre can send to (a single mailbox, no display name).
pub fn valid_address(s: &str) -> bool {
    s.len() <= 254
        && !s.contains(['<', '>', ',', '\r', '\n'])
        && s.parse::<lettre::Address>().is_ok()
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct Mail {
    /// What it is (`usager.mandate_created`, `aidant.enrolment`…): journaled.
    pub kind: &'static str,
    /// Recipient address.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Plain text body; the HTML part is made from it ([`html_of`]).
    pub text: String,
    /// The usager it concerns, for the journal entry.
    pub usager: Option<String>,
    /// The structure it concerns, for the journal entry.
    pub structure: Option<String>,
}

/// Queues `mail` in the caller's transaction and journals `mail.queued`; the message id.
/// An address that cannot receive mail queues nothing (None), journaled as
/// `mail.skipped`, so that the action itself never fails for it.
pub fn enqueue(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    mail: &Mail,
) -> Result<Option<String>, JournalError> {
    let entry = |action: &str, id: Option<&str>| {
        let mut e = NewEntry::new(action)
            .actor("system")
            .detail("kind", mail.kind);
        if let Some(id) = id {
            e = e.detail("message", id);
        }
        if let Some(u) = &mail.usager {
            e = e.usager(u);
        }
        if let Some(s) = &mail.structure {
            e = e.structure(s);
        }
        e
    };
    if !valid_address(&mail.to) {
        journal::append(
            conn,
            now,
            entry("mail.skipped", None).detail("reason", "invalid_address"),
        )?;
        return Ok(None);
    }
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::id.eq(&id),
            mail_outbox::kind.eq(mail.kind),
            mail_outbox::recipient.eq(&mail.to),
            mail_outbox::subject.eq(&mail.subject),
            mail_outbox::body_text.eq(&mail.text),
            mail_outbox::body_html.eq(html_of(&mail.subject, &mail.text)),
            mail_outbox::status.eq(MailStatus::Pending.as_str()),
            mail_outbox::attempts.eq(0),
            mail_outbox::next_attempt_at.eq(now.naive_utc()),
            mail_outbox::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    journal::append(conn, now, entry("mail.queued", Some(&id)))?;
    Ok(Some(id))
}

/// The HTML part of a message, made from its text (pure): each block separated by a
/// blank line is a paragraph, lines within it are kept, `https://` and `http://` words
/// become links. No image, no style sheet, no tracking.
pub fn html_of(subject: &str, text: &str) -> String {
    let mut out =
        String::from("<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>");
    out.push_str(&escape(subject));
    out.push_str("</title></head><body>\n");
    for block in text.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        out.push_str("<p>");
        let lines: Vec<String> = block.lines().map(linkify).collect();
        out.push_str(&lines.join("<br>\n"));
        out.push_str("</p>\n");
    }
    out.push_str("</body></html>\n");
    out
}

fn linkify(line: &str) -> String {
    line.split(' ')
        .map(|w| {
            if (w.starts_with("https://") || w.starts_with("http://")) && w.len() > 8 {
                let e = escape(w);
                format!("<a href=\"{e}\">{e}</a>")
            } else {
                escape(w)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A queued message, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mail_outbox)]
pub struct Queued {
    /// Message id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Recipient.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Text part.
    pub body_text: String,
    /// HTML part.
    pub body_html: String,
    /// Status.
    #[diesel(deserialize_as = String)]
    pub status: MailStatus,
    /// Tries so far.
    pub attempts: i32,
    /// Due at.
    pub next_attempt_at: NaiveDateTime,
    /// Queued at.
    pub created_at: NaiveDateTime,
    /// Accepted at.
    pub sent_at: Option<NaiveDateTime>,
    /// Last error (kept here for the operator, never journaled).
    pub last_error: Option<String>,
}

/// Delay before try `attempt + 1` after `attempt` failed tries (pure): 30 s, doubling,
/// at most an hour. The worker never gives up on a server that does not answer.
pub fn backoff(attempt: i32) -> Duration {
    let exp = attempt.clamp(1, 8) - 1;
    Duration::seconds((30i64 << exp).min(3600))
}

/// How long a worker holds a message it is sending.
pub const LEASE_SECONDS: i64 = 120;

/// The most recent messages (the demo mailbox), newest first.
pub fn recent(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<Queued>> {
    mail_outbox::table
        .order((mail_outbox::created_at.desc(), mail_outbox::id.desc()))
        .limit(limit)
        .select(Queued::as_select())
        .load(conn)
}

/// The demo mailbox's read: the newest `limit` messages, in one read transaction.
pub fn mailbox(conn: &mut DbConn, limit: i64) -> Result<Vec<Queued>, crate::error::Error> {
    crate::store::read_tx(conn, |c| Ok(recent(c, limit)?))
}

/// Messages waiting to be sent (for `/metrics` and tests).
pub fn pending_count(conn: &mut DbConn) -> QueryResult<i64> {
    mail_outbox::table
        .filter(
            mail_outbox::status
                .eq_any([MailStatus::Pending.as_str(), MailStatus::Sending.as_str()]),
        )
        .count()
        .get_result(conn)
}

/// Deletes messages sent (or refused for good) before `before` (housekeeping): their
/// content is personal data, and the journal keeps their ids.
pub fn purge_sent(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        mail_outbox::table
            .filter(
                mail_outbox::status
                    .eq_any([MailStatus::Sent.as_str(), MailStatus::Failed.as_str()]),
            )
            .filter(mail_outbox::created_at.lt(before)),
    )
    .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let s = SmtpSettings::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("127.0.0.1", 2525, TlsMode::None)
        );
        assert!(s.credentials.is_none());
        let s = SmtpSettings::parse("smtp://mail.example.org?tls=starttls").unwrap();
        assert_eq!((s.port, s.tls), (587, TlsMode::StartTls));
        let s = SmtpSettings::parse("smtps://moi%40ex.org:p%40ss+w@mail.example.org").unwrap();
        assert_eq!((s.port, s.tls), (465, TlsMode::Wrapper));
        assert_eq!(
            s.credentials,
            Some(("moi@ex.org".to_string(), "p@ss+w".to_string()))
        );
        assert!(!format!("{s:?}").contains("p@ss"));
        for bad in [
            "",
            "mail.example.org",
            "http://mail.example.org",
            "smtp://",
            "smtp://h?tls=maybe",
            "smtp://h?tls=starttls&tls=none",
            "smtp://h?port=2",
            "smtps://h?tls=starttls",
            "smtp://user@h",
            "smtp://h/path",
            "smtp://h:99999",
        ] {
            assert!(SmtpSettings::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn senders_and_addresses() {
        assert!(check_sender("Procura <ne-pas-repondre@example.org>").is_ok());
        assert!(check_sender("procura@example.org").is_ok());
        assert!(check_sender("pas une adresse").is_err());
        assert!(valid_address("jeanne.dupont@example.org"));
        for bad in [
            "",
            "x",
            "a@b@c",
            "Jeanne <j@example.org>",
            "a@example.org, b@example.org",
            "a@example.org\r\nBcc: x@y.z",
        ] {
            assert!(!valid_address(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn html_is_escaped_and_linked() {
        let h = html_of(
            "Sujet <b>",
            "Bonjour <script>\nligne 2\n\nVoir https://example.org/moi?a=1&b=2 ici.",
        );
        assert!(h.contains("<title>Sujet &lt;b&gt;</title>"));
        assert!(h.contains("<p>Bonjour &lt;script&gt;<br>\nligne 2</p>"));
        assert!(h.contains("<a href=\"https://example.org/moi?a=1&amp;b=2\">https://example.org/moi?a=1&amp;b=2</a>"));
        assert!(!h.contains("<img") && !h.contains("<script>"));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(5), Duration::seconds(480));
        assert_eq!(backoff(8), Duration::seconds(3600));
        assert_eq!(backoff(1000), Duration::seconds(3600));
    }
}
