//! The outbox's worker: claims what is due, sends it outside any transaction, records
//! the outcome (journaled by message id).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::{backoff, MailStatus, Queued, SmtpSettings, TlsMode, LEASE_SECONDS};
use crate::clock::SharedClock;
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::store::schema::mail_outbox;
use crate::store::{write_tx, DbConn, Store};

/// Why a message was not accepted.
#[derive(Debug, Clone)]
pub struct SendError {
    /// The server refused it for good (5xx): it is not tried again.
    pub permanent: bool,
    /// A short class for the journal (`connection`, `smtp_550`…), never content.
    pub reason: String,
    /// The full error, kept in the outbox row for the operator.
    pub detail: String,
}

/// Where messages go.
pub trait Transport: Send + Sync {
    /// Sends one message; `Ok` once the server accepted it.
    fn send(&self, from: &str, message_id: &str, m: &Queued) -> Result<(), SendError>;
    /// Name for the journal (`smtp`, `demo`).
    fn name(&self) -> &'static str;
}

/// SMTP through lettre (blocking; the worker has its own thread).
pub struct Smtp(lettre::SmtpTransport);

impl Smtp {
    /// A transport for the validated settings.
    pub fn new(s: &SmtpSettings) -> Result<Smtp, String> {
        use lettre::transport::smtp::client::{Tls, TlsParameters};
        let params = || TlsParameters::new(s.host.clone()).map_err(|e| e.to_string());
        let mut b = lettre::SmtpTransport::builder_dangerous(&s.host)
            .port(s.port)
            .timeout(Some(StdDuration::from_secs(20)));
        b = match s.tls {
            TlsMode::None => b.tls(Tls::None),
            TlsMode::StartTls => b.tls(Tls::Required(params()?)),
            TlsMode::Wrapper => b.tls(Tls::Wrapper(params()?)),
        };
        if let Some((u, p)) = &s.credentials {
            b = b.credentials(lettre::transport::smtp::authentication::Credentials::new(
                u.clone(),
                p.clone(),
            ));
        }
        Ok(Smtp(b.build()))
    }
}

/// The message as lettre builds it: multipart/alternative, text then HTML.
pub fn build(from: &str, message_id: &str, m: &Queued) -> Result<lettre::Message, SendError> {
    use lettre::message::{header::ContentType, MultiPart, SinglePart};
    let bad = |what: &str, e: String| SendError {
        permanent: true,
        reason: format!("invalid_{what}"),
        detail: e,
    };
    lettre::Message::builder()
        .from(
            from.parse()
                .map_err(|e: lettre::address::AddressError| bad("sender", e.to_string()))?,
        )
        .to(m
            .recipient
            .parse()
            .map_err(|e: lettre::address::AddressError| bad("recipient", e.to_string()))?)
        .subject(m.subject.clone())
        .message_id(Some(message_id.to_string()))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(m.body_text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(m.body_html.clone()),
                ),
        )
        .map_err(|e| bad("message", e.to_string()))
}

impl Transport for Smtp {
    fn send(&self, from: &str, message_id: &str, m: &Queued) -> Result<(), SendError> {
        use lettre::Transport as _;
        let msg = build(from, message_id, m)?;
        self.0.send(&msg).map(|_| ()).map_err(|e| {
            let code = e.status().map(|c| c.to_string());
            SendError {
                permanent: e.is_permanent(),
                reason: match code {
                    Some(c) => format!("smtp_{c}"),
                    None if e.is_transient() => "smtp_transient".into(),
                    None => "connection".into(),
                },
                detail: e.to_string(),
            }
        })
    }
    fn name(&self) -> &'static str {
        "smtp"
    }
}

/// The demo mailbox: a message is "delivered" by being shown at `/demo/courriels`.
pub struct DemoMailbox;

impl Transport for DemoMailbox {
    fn send(&self, _: &str, _: &str, _: &Queued) -> Result<(), SendError> {
        Ok(())
    }
    fn name(&self) -> &'static str {
        "demo"
    }
}

/// Claims up to `limit` due messages for [`LEASE_SECONDS`], in one transaction. The
/// update checks again that each message is still due, and only the rows it changed are
/// returned: of two workers racing on PostgreSQL, the second finds the lease already
/// taken and leaves the message alone.
pub fn claim_due(conn: &mut DbConn, now: DateTime<Utc>, limit: i64) -> Result<Vec<Queued>, Error> {
    let due_now = || {
        mail_outbox::status
            .eq_any([MailStatus::Pending.as_str(), MailStatus::Sending.as_str()])
            .and(mail_outbox::next_attempt_at.le(now.naive_utc()))
    };
    write_tx(conn, |c| {
        let due: Vec<Queued> = mail_outbox::table
            .filter(due_now())
            .order(mail_outbox::next_attempt_at.asc())
            .limit(limit)
            .select(Queued::as_select())
            .load(c)?;
        let mut claimed = Vec::with_capacity(due.len());
        for m in due {
            let n = diesel::update(
                mail_outbox::table
                    .filter(mail_outbox::id.eq(&m.id))
                    .filter(due_now()),
            )
            .set((
                mail_outbox::status.eq(MailStatus::Sending.as_str()),
                mail_outbox::next_attempt_at
                    .eq((now + Duration::seconds(LEASE_SECONDS)).naive_utc()),
            ))
            .execute(c)?;
            if n == 1 {
                claimed.push(m);
            }
        }
        Ok(claimed)
    })
}

/// Records an accepted message and journals `mail.sent`, in one transaction.
pub fn mark_sent(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    m: &Queued,
    transport: &str,
) -> Result<(), Error> {
    write_tx(conn, |c| {
        let attempt = m.attempts + 1;
        let n = diesel::update(
            mail_outbox::table
                .filter(mail_outbox::id.eq(&m.id))
                .filter(mail_outbox::status.eq(MailStatus::Sending.as_str())),
        )
        .set((
            mail_outbox::status.eq(MailStatus::Sent.as_str()),
            mail_outbox::attempts.eq(attempt),
            mail_outbox::sent_at.eq(Some(now.naive_utc())),
            mail_outbox::last_error.eq(None::<String>),
        ))
        .execute(c)?;
        if n == 1 {
            journal::append(
                c,
                now,
                NewEntry::new("mail.sent")
                    .actor("system")
                    .detail("message", m.id.as_str())
                    .detail("kind", m.kind.as_str())
                    .detail("attempt", attempt)
                    .detail("transport", transport),
            )?;
        }
        Ok(())
    })
}

/// Records a failed try and journals `mail.failed`, in one transaction: a permanent
/// refusal ends the message, anything else makes it due again after [`backoff`].
pub fn mark_failed(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    m: &Queued,
    e: &SendError,
) -> Result<DateTime<Utc>, Error> {
    write_tx(conn, |c| {
        let attempt = m.attempts + 1;
        let retry = now + backoff(attempt);
        let status = if e.permanent {
            MailStatus::Failed
        } else {
            MailStatus::Pending
        };
        // At most 500 bytes, cut on a character boundary (`truncate` panics inside one).
        let mut end = e.detail.len().min(500);
        while !e.detail.is_char_boundary(end) {
            end -= 1;
        }
        let detail = e.detail[..end].to_string();
        diesel::update(mail_outbox::table.filter(mail_outbox::id.eq(&m.id)))
            .set((
                mail_outbox::status.eq(status.as_str()),
                mail_outbox::attempts.eq(attempt),
                mail_outbox::next_attempt_at.eq(retry.naive_utc()),
                mail_outbox::last_error.eq(Some(detail)),
            ))
            .execute(c)?;
        let mut entry = NewEntry::new("mail.failed")
            .actor("system")
            .detail("message", m.id.as_str())
            .detail("kind", m.kind.as_str())
            .detail("attempt", attempt)
            .detail("reason", e.reason.as_str())
            .detail("permanent", e.permanent);
        if !e.permanent {
            entry = entry.detail("retry_at", journal::format_time(&retry.naive_utc()));
        }
        journal::append(c, now, entry)?;
        Ok(retry)
    })
}

/// Gives back claimed messages that were not tried (the server is down): due again at
/// `at`, their tries unchanged, nothing journaled.
pub fn release(conn: &mut DbConn, ids: &[&str], at: DateTime<Utc>) -> Result<(), Error> {
    if ids.is_empty() {
        return Ok(());
    }
    write_tx(conn, |c| {
        diesel::update(
            mail_outbox::table
                .filter(mail_outbox::id.eq_any(ids))
                .filter(mail_outbox::status.eq(MailStatus::Sending.as_str())),
        )
        .set((
            mail_outbox::status.eq(MailStatus::Pending.as_str()),
            mail_outbox::next_attempt_at.eq(at.naive_utc()),
        ))
        .execute(c)?;
        Ok(())
    })
}

/// The `Message-ID` of a message: its outbox id at the service's host.
pub fn message_id(id: &str, host: &str) -> String {
    format!("<{id}@{host}>")
}

/// One pass: claims what is due and sends it. A transient failure stops the pass (the
/// server is likely down): the other claimed messages wait as long as the failed one.
/// The number of messages accepted.
pub fn run_once(
    store: &Store,
    clock: &SharedClock,
    transport: &dyn Transport,
    from: &str,
    host: &str,
) -> Result<usize, Error> {
    let mut conn = store.conn()?;
    let due = claim_due(&mut conn, clock.now(), 20)?;
    let mut sent = 0;
    for (i, m) in due.iter().enumerate() {
        match transport.send(from, &message_id(&m.id, host), m) {
            Ok(()) => {
                mark_sent(&mut conn, clock.now(), m, transport.name())?;
                sent += 1;
            }
            Err(e) => {
                tracing::warn!(message = %m.id, reason = %e.reason, error = %e.detail, "e-mail not sent");
                let retry = mark_failed(&mut conn, clock.now(), m, &e)?;
                if !e.permanent {
                    let rest: Vec<&str> = due[i + 1..].iter().map(|m| m.id.as_str()).collect();
                    release(&mut conn, &rest, retry)?;
                    break;
                }
            }
        }
    }
    Ok(sent)
}

/// A running worker; stops at drop.
pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the worker thread: a pass every second.
pub fn spawn(
    store: Store,
    clock: SharedClock,
    transport: Box<dyn Transport>,
    from: String,
    host: String,
) -> std::io::Result<Worker> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("procura-mail".into())
        .spawn(move || {
            let mut last_error: Option<String> = None;
            while !flag.load(Ordering::Relaxed) {
                match run_once(&store, &clock, transport.as_ref(), &from, &host) {
                    Ok(_) => {
                        if last_error.take().is_some() {
                            tracing::info!("the mail worker works again");
                        }
                    }
                    Err(e) => {
                        let e = e.to_string();
                        if last_error.as_deref() != Some(e.as_str()) {
                            tracing::error!(error = %e, "mail worker pass failed");
                        }
                        last_error = Some(e);
                    }
                }
                for _ in 0..10 {
                    if flag.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(StdDuration::from_millis(100));
                }
            }
        })?;
    Ok(Worker {
        stop,
        thread: Some(thread),
    })
}
