//! Notices by e-mail (docs/notices.md): to the person when a mandate is created,
//! used, revoked or about to end; to helpers with their enrolment link and weekly
//! digests. Every message is queued with [`crate::mail::enqueue`] in the transaction of
//! the action that causes it (the hooks below are called from inside those use cases),
//! so a notice exists exactly when its action does, and nothing here does network I/O.
//!
//! Use notices are windowed: the first use in a window is queued at once; later uses in
//! the same window (`use_notice_minutes`) only count in `use_notices.pending`, one
//! cheap statement on the acting-on-behalf path, and [`jobs::use_digests`] gathers them
//! into one message when the window ends, reading them back from the journal.
//!
//! Lock order: a use counts in its window after its `mandate.used` entry, so it holds the
//! journal's chain head, then its `use_notices` row. Everything else that writes that
//! row takes the head first too (the summaries call `journal::lock_head`, the stop link
//! journals before it writes), so that on PostgreSQL no two transactions wait on each
//! other.

pub mod jobs;
pub mod texts;

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::crypto::{constant_time_eq, SecretBox};
use crate::domain::mandate::{self as rules, Demarche};
use crate::error::Error;
use crate::journal::{self, Entry, NewEntry};
use crate::mail::{self, Mail};
use crate::mandates::{Mandate, MandateView, Usager};
use crate::store::schema::{journal_entries, usagers, use_notices};
use crate::store::{write_tx, DbConn};

/// What the notices need from the settings: absolute links, the use window, the key of
/// the stop links.
#[derive(Debug, Clone)]
pub struct Context {
    /// `PROCURA_PUBLIC_URL` without its trailing slash.
    pub public_url: String,
    /// Length of a use window.
    pub use_window: Duration,
    /// The master key (stop links are derived from it).
    pub secrets: SecretBox,
}

impl Context {
    /// From validated settings.
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        Context {
            public_url: s.public_url.as_str().trim_end_matches('/').to_string(),
            use_window: Duration::minutes(i64::from(s.use_notice_minutes)),
            secrets: SecretBox::new(s.master_key),
        }
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// The links of a message to the person; `with_stop` adds the link stopping use
    /// notices (None when no master key is configured).
    pub fn person_links(&self, usager_id: &str, with_stop: bool) -> texts::PersonLinks {
        texts::PersonLinks {
            space: self.url("/moi"),
            stop: if with_stop {
                stop_token(&self.secrets, usager_id).map(|t| {
                    self.url(&format!(
                        "/notifications/arret?usager={usager_id}&jeton={t}"
                    ))
                })
            } else {
                None
            },
        }
    }
}

// The actions that cause notices are called from many places (web, command line, the
// demo seed, the person's space) with signatures that carry no settings: the service
// installs its context once at start, one service per process. Without one (a library
// user that never started the service), links point at the default public URL and
// carry no stop link.
static CONTEXT: RwLock<Option<Arc<Context>>> = RwLock::new(None);

/// Installs the notices' context (the service and the command line, at start).
pub fn install(settings: &crate::config::Settings) {
    let ctx = Arc::new(Context::from_settings(settings));
    *CONTEXT.write().unwrap_or_else(|p| p.into_inner()) = Some(ctx);
}

/// The installed context, or the defaults.
pub fn context() -> Arc<Context> {
    if let Some(c) = CONTEXT.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return c.clone();
    }
    Arc::new(Context {
        public_url: "http://127.0.0.1:8080".into(),
        use_window: Duration::minutes(60),
        secrets: SecretBox::new(None),
    })
}

/// The token of a usager's stop link: derived from the master key and the usager id, so
/// that it needs no storage and cannot be made without the key. None without a key.
pub fn stop_token(secrets: &SecretBox, usager_id: &str) -> Option<String> {
    use base64::Engine;
    secrets
        .derive(&format!("use-notices:{usager_id}"))
        .ok()
        .map(|b| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// True when `token` is the stop link token of `usager_id` (constant time).
pub fn check_stop_token(secrets: &SecretBox, usager_id: &str, token: &str) -> bool {
    match stop_token(secrets, usager_id) {
        Some(expected) => {
            !token.is_empty() && constant_time_eq(expected.as_bytes(), token.as_bytes())
        }
        None => false,
    }
}

fn labels_of(codes: &[&str]) -> Vec<&'static str> {
    codes
        .iter()
        .filter_map(|c| rules::demarche(c))
        .map(|d| d.label)
        .collect()
}

fn name_of(pairs: Vec<(String, String)>, id: &str) -> Option<String> {
    pairs.into_iter().find(|(i, _)| i == id).map(|(_, n)| n)
}

fn structure_name(conn: &mut DbConn, id: &str) -> QueryResult<String> {
    Ok(name_of(crate::accounts::structures::names(conn, &[id])?, id).unwrap_or_default())
}

/// Queues a message to the person, when they have an address.
fn to_person(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    usager: &Usager,
    structure: Option<&str>,
    kind: &'static str,
    (subject, text): texts::Message,
) -> Result<(), Error> {
    let Some(to) = usager.email.as_deref().filter(|e| !e.trim().is_empty()) else {
        return Ok(());
    };
    mail::enqueue(
        conn,
        now,
        &Mail {
            kind,
            to: to.trim().to_string(),
            subject,
            text,
            usager: Some(usager.id.clone()),
            structure: structure.map(str::to_string),
        },
    )?;
    Ok(())
}

/// Hook of `mandates::create_mandate`: tells the person what they consented to.
pub fn mandate_created(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    mandate: &Mandate,
    usager: &Usager,
    demarches: &[&'static Demarche],
    structure: &str,
) -> Result<(), Error> {
    if usager.email.is_none() {
        return Ok(());
    }
    let ctx = context();
    let facts = texts::Created {
        demarches: demarches.iter().map(|d| d.label).collect(),
        created_at: mandate.created_at,
        expires_at: mandate.expires_at,
        structure,
        digest: &mandate.attestation_digest,
        verify: ctx.url(&format!(
            "/verifier?seq={}&empreinte={}",
            mandate.journal_seq.unwrap_or_default(),
            mandate.attestation_digest
        )),
    };
    let message = texts::mandate_created(&facts, &ctx.person_links(&usager.id, false));
    to_person(
        conn,
        now,
        usager,
        Some(&mandate.structure_id),
        "usager.mandate_created",
        message,
    )
}

/// Who revoked, from the journal's actor (pure): `usager:…`, `user:<id>` (with the
/// helper's name when known), anything else the structure.
pub fn revoked_by(actor: &str, helper_name: Option<&str>) -> texts::RevokedBy {
    if actor.starts_with("usager:") {
        texts::RevokedBy::Person
    } else if let (Some(_), Some(name)) = (actor.strip_prefix("user:"), helper_name) {
        texts::RevokedBy::Helper(texts::short_name(name))
    } else {
        texts::RevokedBy::Structure
    }
}

/// Hook of `mandates::revoke_mandate` and `revoke_authorisation`: tells the person which
/// démarches ended, and who ended them. `ended` is (authorisation id, démarche code).
pub fn revoked(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    view: &MandateView,
    ended: &[(String, String)],
    whole: bool,
) -> Result<(), Error> {
    if view.usager.email.is_none() {
        return Ok(());
    }
    let structure = structure_name(conn, &view.mandate.structure_id)?;
    let helper = match actor.strip_prefix("user:") {
        Some(id) => name_of(crate::accounts::users::names(conn, &[id])?, id),
        None => None,
    };
    let codes: Vec<&str> = ended.iter().map(|(_, d)| d.as_str()).collect();
    let facts = texts::Revoked {
        demarches: labels_of(&codes),
        whole,
        at: now.naive_utc(),
        structure: &structure,
        by: revoked_by(actor, helper.as_deref()),
    };
    let message = texts::revoked(&facts, &context().person_links(&view.usager.id, false));
    to_person(
        conn,
        now,
        &view.usager,
        Some(&view.mandate.structure_id),
        "usager.mandate_revoked",
        message,
    )
}

/// A usager's use-notice row, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = use_notices)]
pub struct UseWindow {
    /// The usager.
    pub usager_id: String,
    /// Start of the current window (its first use).
    pub window_started_at: Option<NaiveDateTime>,
    /// End of the current window.
    pub window_ends_at: Option<NaiveDateTime>,
    /// The last `mandate.used` entry told: the window's first use, then the last one a
    /// summary covered.
    pub first_seq: Option<i64>,
    /// Later uses in the window, not yet notified.
    pub pending: i32,
    /// Since when the person stopped use notices.
    pub stopped_at: Option<NaiveDateTime>,
}

/// What to do with a use that found no open window to count in (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseStep {
    /// Nothing: no address, or the person stopped use notices.
    Skip,
    /// Count it in the window that is open (opened since the first look).
    Count,
    /// Notify it at once and open a window; first summarise the ended window's uses
    /// when there are some the periodic job has not sent yet.
    Open {
        /// The previous window ended with uses pending.
        flush_previous: bool,
    },
}

/// Decides a use's notice (pure): see [`UseStep`].
pub fn decide_use(row: Option<&UseWindow>, has_email: bool, now: NaiveDateTime) -> UseStep {
    if !has_email {
        return UseStep::Skip;
    }
    match row {
        None => UseStep::Open {
            flush_previous: false,
        },
        Some(r) if r.stopped_at.is_some() => UseStep::Skip,
        Some(r) if r.window_ends_at.is_some_and(|e| e > now) => UseStep::Count,
        Some(r) => UseStep::Open {
            flush_previous: r.pending > 0,
        },
    }
}

/// True when a window's later uses are due to be summarised (pure).
pub fn digest_due(row: &UseWindow, now: NaiveDateTime) -> bool {
    row.stopped_at.is_none() && row.pending > 0 && row.window_ends_at.is_some_and(|e| e <= now)
}

/// Counts a use in the usager's open window: one statement, the common case.
fn count_in_window(conn: &mut DbConn, usager_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        use_notices::table
            .filter(use_notices::usager_id.eq(usager_id))
            .filter(use_notices::window_ends_at.gt(now))
            .filter(use_notices::stopped_at.is_null()),
    )
    .set(use_notices::pending.eq(use_notices::pending + 1))
    .execute(conn)
}

/// Runs one statement written with `?` placeholders on either backend (PostgreSQL
/// numbers them): the upserts, whose `ON CONFLICT` diesel does not offer on a connection
/// serving both backends (the same SQL on both otherwise).
macro_rules! on_both {
    ($conn:expr, $sql:expr $(, ($t:ty, $v:expr))* $(,)?) => {{
        let sql: &str = $sql;
        match $conn {
            DbConn::Sqlite(c) => diesel::sql_query(sql)$(.bind::<$t, _>($v))*.execute(c),
            DbConn::Pg(c) => {
                diesel::sql_query(crate::notify::numbered(sql))$(.bind::<$t, _>($v))*.execute(c)
            }
        }
    }};
}
pub(crate) use on_both;

/// `?` placeholders numbered for PostgreSQL (`$1`, `$2`…); the SQL holds no literal `?`.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// Opens a window at `now` for the usager, unless one is open, stopped or has uses
/// pending (then another transaction did it first): true when opened.
fn open_window(
    conn: &mut DbConn,
    usager_id: &str,
    now: NaiveDateTime,
    ends: NaiveDateTime,
    first_seq: i64,
) -> QueryResult<bool> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    let n = on_both!(
        conn,
        "INSERT INTO use_notices (usager_id, window_started_at, window_ends_at, first_seq, pending) \
         VALUES (?, ?, ?, ?, 0) \
         ON CONFLICT (usager_id) DO UPDATE SET window_started_at = excluded.window_started_at, \
         window_ends_at = excluded.window_ends_at, first_seq = excluded.first_seq, pending = 0 \
         WHERE use_notices.stopped_at IS NULL AND use_notices.pending = 0 \
         AND (use_notices.window_ends_at IS NULL OR use_notices.window_ends_at <= excluded.window_started_at)",
        (Text, usager_id),
        (Timestamp, now),
        (Timestamp, ends),
        (BigInt, first_seq),
    )?;
    Ok(n == 1)
}

/// One use as the person reads it, from its journal entry (names looked up).
fn use_facts(conn: &mut DbConn, entries: &[Entry]) -> QueryResult<Vec<texts::Use>> {
    let aidants: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.actor.as_deref()?.strip_prefix("user:"))
        .collect();
    let structures: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.structure_id.as_deref())
        .collect();
    let clients: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.client_id.as_deref())
        .collect();
    let aidant_names = crate::accounts::users::names(conn, &aidants)?;
    let structure_names = crate::accounts::structures::names(conn, &structures)?;
    let client_names = crate::federation::provider::clients::names(conn, &clients)?;
    let find = |pairs: &[(String, String)], id: Option<&str>| {
        id.and_then(|id| pairs.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone()))
            .unwrap_or_default()
    };
    Ok(entries
        .iter()
        .map(|e| {
            let code = serde_json::from_str::<serde_json::Value>(&e.details)
                .ok()
                .and_then(|d| d.get("demarche")?.as_str().map(str::to_string))
                .unwrap_or_default();
            let aidant = e.actor.as_deref().and_then(|a| a.strip_prefix("user:"));
            texts::Use {
                at: e.at,
                demarche: rules::demarche(&code)
                    .map(|d| d.label.to_string())
                    .unwrap_or(code),
                site: find(&client_names, e.client_id.as_deref()),
                structure: find(&structure_names, e.structure_id.as_deref()),
                aidant: texts::short_name(&find(&aidant_names, aidant)),
            }
        })
        .collect())
}

fn usager_with_window(
    conn: &mut DbConn,
    usager_id: &str,
) -> QueryResult<Option<(Usager, Option<UseWindow>)>> {
    usagers::table
        .left_join(use_notices::table)
        .filter(usagers::id.eq(usager_id))
        .select((Usager::as_select(), Option::<UseWindow>::as_select()))
        .first(conn)
        .optional()
}

/// Hook of `issue_code`, after the `mandate.used` entry: counts the use in the usager's
/// open window (one statement), or notifies it at once and opens a window.
pub fn mandate_used(conn: &mut DbConn, now: DateTime<Utc>, used: &Entry) -> Result<(), Error> {
    let Some(usager_id) = used.usager_id.as_deref() else {
        return Ok(());
    };
    let n = now.naive_utc();
    if count_in_window(conn, usager_id, n)? == 1 {
        return Ok(());
    }
    let Some((usager, row)) = usager_with_window(conn, usager_id)? else {
        return Ok(());
    };
    let ctx = context();
    match decide_use(row.as_ref(), usager.email.is_some(), n) {
        UseStep::Skip => Ok(()),
        UseStep::Count => {
            count_in_window(conn, usager_id, n)?;
            Ok(())
        }
        UseStep::Open { flush_previous } => {
            if let (true, Some(r)) = (flush_previous, row.as_ref()) {
                send_digest(conn, now, &ctx, &usager, r)?;
            }
            let ends = n + ctx.use_window;
            if !open_window(conn, usager_id, n, ends, used.seq)? {
                // Another use opened it meanwhile: this one is counted there.
                count_in_window(conn, usager_id, n)?;
                return Ok(());
            }
            let facts = use_facts(conn, std::slice::from_ref(used))?;
            let Some(first) = facts.first() else {
                return Ok(());
            };
            let message = texts::first_use(first, ends, &ctx.person_links(usager_id, true));
            to_person(
                conn,
                now,
                &usager,
                used.structure_id.as_deref(),
                "usager.mandate_used",
                message,
            )
        }
    }
}

/// Uses listed in one summary at most (the rest are counted).
pub const DIGEST_LIST: i64 = 50;

/// Summarises a window's later uses in one message, once: the uses not told yet are
/// read back from the journal (the count comes from there, `pending` only says there are
/// some), then the row is claimed (pending set to zero and the last entry told recorded,
/// only if unchanged, so that a concurrent summary makes this one give way). True when
/// queued.
pub(crate) fn send_digest(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    ctx: &Context,
    usager: &Usager,
    row: &UseWindow,
) -> Result<bool, Error> {
    let (Some(ends), Some(first_seq)) = (row.window_ends_at, row.first_seq) else {
        return Ok(false);
    };
    // The uses not told yet: after the last entry told (the window's first use, or the
    // last one a summary covered), before the window's end. The caller holds the
    // journal's head, so no use of this usager is between its entry and its count.
    let untold = || {
        journal_entries::table
            .filter(journal_entries::usager_id.eq(&row.usager_id))
            .filter(journal_entries::seq.gt(first_seq))
            .filter(journal_entries::action.eq("mandate.used"))
            .filter(journal_entries::at.lt(ends))
    };
    let (count, last_seq): (i64, Option<i64>) = untold()
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::max(journal_entries::seq),
        ))
        .first(conn)?;
    let entries: Vec<Entry> = untold()
        .order(journal_entries::seq.asc())
        .limit(DIGEST_LIST)
        .select(Entry::as_select())
        .load(conn)?;
    let claimed = diesel::update(
        use_notices::table
            .filter(use_notices::usager_id.eq(&row.usager_id))
            .filter(use_notices::pending.eq(row.pending))
            .filter(use_notices::window_ends_at.eq(ends))
            .filter(use_notices::first_seq.eq(first_seq))
            .filter(use_notices::stopped_at.is_null()),
    )
    .set((
        use_notices::pending.eq(0),
        use_notices::first_seq.eq(last_seq.unwrap_or(first_seq)),
    ))
    .execute(conn)?;
    if claimed == 0 || count == 0 {
        return Ok(false);
    }
    let listed = entries.len();
    let more = usize::try_from(count).unwrap_or(0).saturating_sub(listed);
    let facts = use_facts(conn, &entries)?;
    let structure = entries.last().and_then(|e| e.structure_id.clone());
    let message = texts::use_digest(&facts, more, &ctx.person_links(&usager.id, true));
    to_person(
        conn,
        now,
        usager,
        structure.as_deref(),
        "usager.mandate_used_digest",
        message,
    )?;
    Ok(true)
}

/// Hook of `accounts::users::issue_enrolment`: sends the link to the account's address.
pub fn enrolment_issued(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    user_id: &str,
    structure: Option<&str>,
    token: &str,
    valid_hours: i64,
) -> Result<(), Error> {
    let Some(user) = crate::accounts::users::find(conn, user_id)? else {
        return Ok(());
    };
    let structure_label = match structure {
        Some(s) => Some(structure_name(conn, s)?),
        None => None,
    };
    let link = context().url(&format!("/activation/{token}"));
    let purpose = match (
        user.password_hash.is_some(),
        crate::accounts::users::has_second_factor(conn, &user)?,
    ) {
        (false, true) => texts::LinkPurpose::NewPassword,
        (true, false) if user.last_login.is_some() => texts::LinkPurpose::NewSecondFactor,
        _ => texts::LinkPurpose::Activation,
    };
    let (subject, text) = texts::enrolment(
        &user.name,
        &link,
        valid_hours,
        structure_label.as_deref(),
        purpose,
    );
    mail::enqueue(
        conn,
        now,
        &Mail {
            kind: "aidant.enrolment",
            to: user.email.clone(),
            subject,
            text,
            usager: None,
            structure: structure.map(str::to_string),
        },
    )?;
    Ok(())
}

/// What the stop (or resume) page is about.
#[derive(Debug, Clone)]
pub struct StopLink {
    /// The usager.
    pub usager_id: String,
    /// Whether use notices are stopped now.
    pub stopped: bool,
}

const BAD_LINK: &str = "Ce lien n’est pas valable : il est incomplet ou a été modifié. Utilisez le lien reçu dans un avis d’utilisation, sans le modifier. Rien n’a été changé.";

/// Reads the usager a stop link is for (one read transaction); a bad or forged token, or
/// an unknown usager, is refused with nothing changed.
pub fn check_link(
    conn: &mut DbConn,
    secrets: &SecretBox,
    usager_id: &str,
    token: &str,
) -> Result<StopLink, Error> {
    if !check_stop_token(secrets, usager_id, token) {
        return Err(Error::Invalid(BAD_LINK.into()));
    }
    crate::store::read_tx(conn, |c| {
        let (_, row) = usager_with_window(c, usager_id)?.ok_or(Error::Invalid(BAD_LINK.into()))?;
        Ok(StopLink {
            usager_id: usager_id.to_string(),
            stopped: row.is_some_and(|r| r.stopped_at.is_some()),
        })
    })
}

/// The person stops (`stop`) or resumes use notices, through the link of a notice: the
/// choice is stored and journaled (`usager.use_notices_stopped` or `…_resumed`, actor
/// `usager:<id>`) in one transaction. Uses pending in a window are dropped on a stop.
pub fn set_use_notices(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    usager_id: &str,
    token: &str,
    stop: bool,
) -> Result<StopLink, Error> {
    use diesel::sql_types::{Nullable, Text, Timestamp};
    if !check_stop_token(secrets, usager_id, token) {
        return Err(Error::Invalid(BAD_LINK.into()));
    }
    write_tx(conn, |c| {
        if usager_with_window(c, usager_id)?.is_none() {
            return Err(Error::Invalid(BAD_LINK.into()));
        }
        let action = if stop {
            "usager.use_notices_stopped"
        } else {
            "usager.use_notices_resumed"
        };
        // Journal first: uses take the chain head, then this row (one lock order).
        journal::append(
            c,
            now,
            NewEntry::new(action)
                .actor(format!("usager:{usager_id}"))
                .usager(usager_id),
        )?;
        let at = stop.then(|| now.naive_utc());
        on_both!(
            c,
            "INSERT INTO use_notices (usager_id, pending, stopped_at) VALUES (?, 0, ?) \
             ON CONFLICT (usager_id) DO UPDATE SET stopped_at = excluded.stopped_at, pending = 0",
            (Text, usager_id),
            (Nullable<Timestamp>, at),
        )?;
        Ok(StopLink {
            usager_id: usager_id.to_string(),
            stopped: stop,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn row(ends: Option<&str>, pending: i32, stopped: bool) -> UseWindow {
        UseWindow {
            usager_id: "u".into(),
            window_started_at: ends.map(|e| t(e) - Duration::hours(1)),
            window_ends_at: ends.map(t),
            first_seq: ends.map(|_| 7),
            pending,
            stopped_at: stopped.then(|| t("2026-01-01 00:00:00")),
        }
    }

    #[test]
    fn a_use_opens_a_window_counts_in_it_or_is_skipped() {
        let now = t("2026-12-01 10:00:00");
        let open = UseStep::Open {
            flush_previous: false,
        };
        assert_eq!(decide_use(None, true, now), open);
        assert_eq!(decide_use(None, false, now), UseStep::Skip);
        let in_window = row(Some("2026-12-01 10:30:00"), 2, false);
        assert_eq!(decide_use(Some(&in_window), true, now), UseStep::Count);
        assert_eq!(decide_use(Some(&in_window), false, now), UseStep::Skip);
        // The window's end belongs to the next window.
        let ended_now = row(Some("2026-12-01 10:00:00"), 0, false);
        assert_eq!(decide_use(Some(&ended_now), true, now), open);
        let ended_with_uses = row(Some("2026-12-01 09:59:00"), 3, false);
        assert_eq!(
            decide_use(Some(&ended_with_uses), true, now),
            UseStep::Open {
                flush_previous: true
            }
        );
        let stopped = row(None, 0, true);
        assert_eq!(decide_use(Some(&stopped), true, now), UseStep::Skip);
        let never = row(None, 0, false);
        assert_eq!(decide_use(Some(&never), true, now), open);
    }

    #[test]
    fn a_digest_is_due_once_the_window_ended_with_uses() {
        let now = t("2026-12-01 10:00:00");
        assert!(digest_due(&row(Some("2026-12-01 10:00:00"), 1, false), now));
        assert!(!digest_due(
            &row(Some("2026-12-01 10:00:01"), 1, false),
            now
        ));
        assert!(!digest_due(
            &row(Some("2026-12-01 09:00:00"), 0, false),
            now
        ));
        assert!(!digest_due(&row(Some("2026-12-01 09:00:00"), 4, true), now));
        assert!(!digest_due(&row(None, 0, false), now));
    }

    #[test]
    fn stop_tokens_need_the_key_and_the_usager() {
        let b = SecretBox::new(Some([7; 32]));
        let t = stop_token(&b, "u1").expect("token");
        assert!(check_stop_token(&b, "u1", &t));
        assert!(!check_stop_token(&b, "u2", &t));
        assert!(!check_stop_token(&b, "u1", ""));
        assert!(!check_stop_token(&b, "u1", &t[1..]));
        assert!(!check_stop_token(&SecretBox::new(Some([8; 32])), "u1", &t));
        assert!(stop_token(&SecretBox::new(None), "u1").is_none());
        assert!(!check_stop_token(&SecretBox::new(None), "u1", ""));
    }

    #[test]
    fn who_revoked() {
        use texts::RevokedBy;
        assert_eq!(revoked_by("usager:u1", None), RevokedBy::Person);
        assert_eq!(
            revoked_by("user:a1", Some("Camille Martin")),
            RevokedBy::Helper("Camille M.".into())
        );
        assert_eq!(revoked_by("user:gone", None), RevokedBy::Structure);
        assert_eq!(revoked_by("cli", None), RevokedBy::Structure);
    }

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(numbered("VALUES (?, ?, 0, ?)"), "VALUES ($1, $2, 0, $3)");
    }
}
