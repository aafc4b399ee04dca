//! The notices' periodic work, each pass a use case owning its transaction: summaries
//! of ended use windows (every 30 seconds), reminders 7 days before a mandate ends, and
//! the helpers' weekly digests (every 10 minutes). Each message is recorded before it is
//! queued, with a statement that only one concurrent pass can make count, so that a
//! message is queued once.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::{context, on_both, send_digest, texts, UseWindow};
use crate::domain::mandate as rules;
use crate::domain::roles::Role;
use crate::error::Error;
use crate::mail::{self, Mail};
use crate::mandates::{Mandate, Usager};
use crate::store::schema::{
    authorisations, expiry_reminders, helper_digests, mandates, memberships, totp_cards, usagers,
    use_notices, users,
};
use crate::store::{write_tx, DbConn};

/// How long before its end a mandate's holder is reminded.
pub const REMINDER_DAYS: i64 = 7;
/// How far ahead an aidant's digest looks.
pub const DIGEST_DAYS: i64 = 30;
/// Between two digests of one kind to one account.
pub const DIGEST_EVERY_DAYS: i64 = 7;
/// Kind of the aidants' digest, as recorded and journaled.
pub const AIDANT_DIGEST: &str = "aidant.expiring_mandates";
/// Kind of the managers' digest, as recorded and journaled.
pub const MANAGER_DIGEST: &str = "manager.accounts_without_second_factor";
/// Items handled in one pass at most (the next pass goes on).
const BATCH: i64 = 200;
/// Mandates listed per structure in an aidant's digest (the soonest; the rest are in
/// the aidant's space).
pub const DIGEST_ROWS: i64 = 50;

/// True when a mandate's holder is to be reminded now (pure): within the last 7 days of
/// a mandate that lasted longer than that (a one-day mandate is never reminded).
pub fn reminder_due(created: NaiveDateTime, expires: NaiveDateTime, now: NaiveDateTime) -> bool {
    let remind_at = expires - Duration::days(REMINDER_DAYS);
    expires > now && remind_at <= now && created < remind_at
}

/// True when a weekly digest may be sent again (pure).
pub fn weekly_due(last: Option<NaiveDateTime>, now: NaiveDateTime) -> bool {
    last.is_none_or(|l| now - l >= Duration::days(DIGEST_EVERY_DAYS))
}

/// What each account's digest holds (pure): the rows of every structure the account
/// belongs to, for accounts that are due; accounts with nothing to say are left out.
pub fn digests<T: Clone>(
    members: &[(String, String)],
    rows_by_structure: &HashMap<String, Vec<T>>,
    last_sent: &HashMap<String, NaiveDateTime>,
    now: NaiveDateTime,
) -> BTreeMap<String, Vec<T>> {
    let mut out: BTreeMap<String, Vec<T>> = BTreeMap::new();
    for (user, structure) in members {
        if !weekly_due(last_sent.get(user).copied(), now) {
            continue;
        }
        if let Some(rows) = rows_by_structure.get(structure).filter(|r| !r.is_empty()) {
            out.entry(user.clone())
                .or_default()
                .extend(rows.iter().cloned());
        }
    }
    out
}

/// Summarises the use windows that ended with uses pending: one message each.
pub fn use_digests(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, Error> {
    let n = now.naive_utc();
    let ctx = context();
    write_tx(conn, |c| {
        // The head first: a use holds it when it counts in its window (see lock_head).
        crate::journal::lock_head(c)?;
        let due: Vec<(UseWindow, Usager)> = use_notices::table
            .inner_join(usagers::table)
            .filter(use_notices::pending.gt(0))
            .filter(use_notices::window_ends_at.le(n))
            .filter(use_notices::stopped_at.is_null())
            .order(use_notices::window_ends_at.asc())
            .limit(BATCH)
            .select((UseWindow::as_select(), Usager::as_select()))
            .load(c)?;
        let mut sent = 0;
        for (row, usager) in due {
            if super::digest_due(&row, n) && send_digest(c, now, &ctx, &usager, &row)? {
                sent += 1;
            }
        }
        Ok(sent)
    })
}

/// Active démarche codes of these mandates, by mandate.
fn active_demarches(
    conn: &mut DbConn,
    mandate_ids: &[&str],
) -> QueryResult<HashMap<String, Vec<String>>> {
    let rows: Vec<(String, String)> = authorisations::table
        .filter(authorisations::mandate_id.eq_any(mandate_ids))
        .filter(authorisations::revoked_at.is_null())
        .select((authorisations::mandate_id, authorisations::demarche))
        .load(conn)?;
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (m, d) in rows {
        out.entry(m).or_default().push(d);
    }
    for list in out.values_mut() {
        list.sort_by_key(|d| rules::DEMARCHES.iter().position(|x| x.code == d));
    }
    Ok(out)
}

fn labels(codes: &[String]) -> Vec<&'static str> {
    codes
        .iter()
        .filter_map(|c| rules::demarche(c))
        .map(|d| d.label)
        .collect()
}

/// Reminds the holders of mandates ending within 7 days, once per mandate (recorded in
/// `expiry_reminders`, also when the person has no address).
pub fn expiry_reminders(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, Error> {
    use diesel::dsl::{exists, not};
    use diesel::sql_types::{Text, Timestamp};
    let n = now.naive_utc();
    let ctx = context();
    write_tx(conn, |c| {
        let due: Vec<(Mandate, Usager)> = mandates::table
            .inner_join(usagers::table)
            .filter(mandates::expires_at.gt(n))
            .filter(mandates::expires_at.le(n + Duration::days(REMINDER_DAYS)))
            .filter(mandates::revoked_at.is_null())
            .filter(mandates::duration.ne(rules::MandateDuration::Short.code()))
            .filter(not(exists(
                expiry_reminders::table.filter(expiry_reminders::mandate_id.eq(mandates::id)),
            )))
            .order(mandates::expires_at.asc())
            .limit(BATCH)
            .select((Mandate::as_select(), Usager::as_select()))
            .load(c)?;
        let ids: Vec<&str> = due.iter().map(|(m, _)| m.id.as_str()).collect();
        let active = active_demarches(c, &ids)?;
        let structure_ids: Vec<&str> = due.iter().map(|(m, _)| m.structure_id.as_str()).collect();
        let names: HashMap<String, String> = crate::accounts::structures::names(c, &structure_ids)?
            .into_iter()
            .collect();
        let mut sent = 0;
        for (m, usager) in &due {
            if !reminder_due(m.created_at, m.expires_at, n) {
                continue;
            }
            let recorded = on_both!(
                c,
                "INSERT INTO expiry_reminders (mandate_id, sent_at) VALUES (?, ?) \
                 ON CONFLICT (mandate_id) DO NOTHING",
                (Text, &m.id),
                (Timestamp, n),
            )?;
            let Some(codes) = active.get(&m.id) else {
                continue;
            };
            if recorded == 0 || usager.email.is_none() {
                continue;
            }
            let structure = names.get(&m.structure_id).cloned().unwrap_or_default();
            let message = texts::expiry_reminder(
                &labels(codes),
                m.expires_at,
                &structure,
                &ctx.person_links(&usager.id, false),
            );
            super::to_person(
                c,
                now,
                usager,
                Some(&m.structure_id),
                "usager.mandate_ending",
                message,
            )?;
            sent += 1;
        }
        Ok(sent)
    })
}

/// Records that `kind` is sent to `user_id` now, unless it was within the week (another
/// pass got there first): true when recorded.
fn record_digest(
    conn: &mut DbConn,
    user_id: &str,
    kind: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    use diesel::sql_types::{Text, Timestamp};
    let n = on_both!(
        conn,
        "INSERT INTO helper_digests (user_id, kind, sent_at) VALUES (?, ?, ?) \
         ON CONFLICT (user_id, kind) DO UPDATE SET sent_at = excluded.sent_at \
         WHERE helper_digests.sent_at <= ?",
        (Text, user_id),
        (Text, kind),
        (Timestamp, now),
        (Timestamp, now - Duration::days(DIGEST_EVERY_DAYS)),
    )?;
    Ok(n == 1)
}

fn last_sent(
    conn: &mut DbConn,
    kind: &str,
    user_ids: &[&str],
) -> QueryResult<HashMap<String, NaiveDateTime>> {
    Ok(helper_digests::table
        .filter(helper_digests::kind.eq(kind))
        .filter(helper_digests::user_id.eq_any(user_ids))
        .select((helper_digests::user_id, helper_digests::sent_at))
        .load::<(String, NaiveDateTime)>(conn)?
        .into_iter()
        .collect())
}

/// (account, structure) pairs of members, and the accounts by id.
type Members = (
    Vec<(String, String)>,
    HashMap<String, crate::accounts::users::User>,
);

/// Active members of these structures holding `role`: (account, structure) pairs and
/// the accounts.
fn members_with(conn: &mut DbConn, structure_ids: &[&str], role: Role) -> QueryResult<Members> {
    let rows: Vec<(String, crate::accounts::users::User, bool)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::structure_id.eq_any(structure_ids))
        .filter(users::active.eq(true))
        .select((
            memberships::structure_id,
            crate::accounts::users::User::as_select(),
            memberships::manager,
        ))
        .load(conn)?;
    let mut pairs = Vec::new();
    let mut accounts = HashMap::new();
    for (s, u) in rows
        .into_iter()
        .map(|(s, u, manages)| (s, u.in_structure(manages)))
        .filter(|(_, u)| u.has(role))
    {
        pairs.push((u.id.clone(), s));
        accounts.insert(u.id.clone(), u);
    }
    Ok((pairs, accounts))
}

fn to_helper(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    user: &crate::accounts::users::User,
    kind: &'static str,
    (subject, text): texts::Message,
) -> Result<bool, Error> {
    if !record_digest(conn, &user.id, kind, now.naive_utc())? {
        return Ok(false);
    }
    mail::enqueue(
        conn,
        now,
        &Mail {
            kind,
            to: user.email.clone(),
            subject,
            text,
            usager: None,
            structure: user.current_structure_id.clone(),
        },
    )?;
    Ok(true)
}

/// The aidants' weekly digest: their structures' mandates ending within 30 days.
pub fn aidant_digests(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, Error> {
    let n = now.naive_utc();
    let until = n + Duration::days(DIGEST_DAYS);
    let ctx = context();
    write_tx(conn, |c| {
        // The structures with mandates ending soon, their aidants due for a digest (at
        // most a batch a pass), then those aidants' structures' mandates (a page each).
        let ending_in: Vec<String> = mandates::table
            .filter(mandates::expires_at.gt(n))
            .filter(mandates::expires_at.le(until))
            .filter(mandates::revoked_at.is_null())
            .select(mandates::structure_id)
            .distinct()
            .load(c)?;
        if ending_in.is_empty() {
            return Ok(0);
        }
        let structures: Vec<&str> = ending_in.iter().map(String::as_str).collect();
        let (pairs, accounts) = members_with(c, &structures, Role::Aidant)?;
        let account_ids: Vec<&str> = accounts.keys().map(String::as_str).collect();
        let last = last_sent(c, AIDANT_DIGEST, &account_ids)?;
        let due: std::collections::BTreeSet<&str> = pairs
            .iter()
            .filter(|(u, _)| weekly_due(last.get(u).copied(), n))
            .map(|(u, _)| u.as_str())
            .take(usize::try_from(BATCH).unwrap_or(0))
            .collect();
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .filter(|(u, _)| due.contains(u.as_str()))
            .cloned()
            .collect();
        let mut wanted: Vec<&str> = pairs.iter().map(|(_, s)| s.as_str()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let names: HashMap<String, String> = crate::accounts::structures::names(c, &wanted)?
            .into_iter()
            .collect();
        let mut by_structure: HashMap<String, Vec<texts::Ending>> = HashMap::new();
        for s in wanted {
            let page: Vec<(Mandate, Usager)> = mandates::table
                .inner_join(usagers::table)
                .filter(mandates::structure_id.eq(s))
                .filter(mandates::expires_at.gt(n))
                .filter(mandates::expires_at.le(until))
                .filter(mandates::revoked_at.is_null())
                .order((mandates::expires_at.asc(), mandates::id.asc()))
                .limit(DIGEST_ROWS)
                .select((Mandate::as_select(), Usager::as_select()))
                .load(c)?;
            let ids: Vec<&str> = page.iter().map(|(m, _)| m.id.as_str()).collect();
            let active = active_demarches(c, &ids)?;
            let rows = by_structure.entry(s.to_string()).or_default();
            for (m, u) in &page {
                let Some(codes) = active.get(&m.id) else {
                    continue;
                };
                rows.push(texts::Ending {
                    structure: names.get(s).cloned().unwrap_or_default(),
                    usager: u.display_name(),
                    demarches: labels(codes).into_iter().map(str::to_string).collect(),
                    expires_at: m.expires_at,
                });
            }
        }
        let mut sent = 0;
        for (user_id, rows) in digests(&pairs, &by_structure, &last, n) {
            let Some(user) = accounts.get(&user_id) else {
                continue;
            };
            let message = texts::aidant_digest(&user.name, &rows, &ctx.url("/espace"));
            if to_helper(c, now, user, AIDANT_DIGEST, message)? {
                sent += 1;
            }
        }
        Ok(sent)
    })
}

/// The managers' weekly reminder: active accounts of their structures without a second
/// factor (no authenticator app enrolled, no card).
pub fn manager_digests(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, Error> {
    let n = now.naive_utc();
    let ctx = context();
    write_tx(conn, |c| {
        let missing: Vec<(String, String, String)> = memberships::table
            .inner_join(users::table.left_join(totp_cards::table))
            .filter(users::active.eq(true))
            .filter(users::totp_secret_enc.is_null())
            .filter(totp_cards::id.nullable().is_null())
            .order((users::name.asc(), users::id.asc()))
            .limit(BATCH * 10)
            .select((memberships::structure_id, users::name, users::email))
            .load(c)?;
        if missing.is_empty() {
            return Ok(0);
        }
        let mut by_structure: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for (s, name, email) in missing {
            by_structure.entry(s).or_default().push((name, email));
        }
        let structures: Vec<&str> = by_structure.keys().map(String::as_str).collect();
        let (pairs, accounts) = members_with(c, &structures, Role::Manager)?;
        let account_ids: Vec<&str> = accounts.keys().map(String::as_str).collect();
        let last = last_sent(c, MANAGER_DIGEST, &account_ids)?;
        let mut sent = 0;
        for (user_id, rows) in digests(&pairs, &by_structure, &last, n) {
            let Some(user) = accounts.get(&user_id) else {
                continue;
            };
            let message = texts::manager_digest(&user.name, &rows, &ctx.url("/gestion"));
            if to_helper(c, now, user, MANAGER_DIGEST, message)? {
                sent += 1;
            }
        }
        Ok(sent)
    })
}

/// What one pass of the slow jobs did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reminded {
    /// Expiry reminders queued.
    pub expiry: usize,
    /// Aidants' digests queued.
    pub aidants: usize,
    /// Managers' reminders queued.
    pub managers: usize,
}

/// Expiry reminders and helpers' digests, each in its own transaction.
pub fn reminders(conn: &mut DbConn, now: DateTime<Utc>) -> Result<Reminded, Error> {
    Ok(Reminded {
        expiry: expiry_reminders(conn, now)?,
        aidants: aidant_digests(conn, now)?,
        managers: manager_digests(conn, now)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn reminders_come_in_the_last_week_of_longer_mandates() {
        let created = t("2026-11-01 10:00:00");
        let expires = t("2026-12-02 10:00:00");
        assert!(!reminder_due(created, expires, t("2026-11-25 09:59:59")));
        assert!(reminder_due(created, expires, t("2026-11-25 10:00:00")));
        assert!(reminder_due(created, expires, t("2026-12-02 09:59:59")));
        assert!(!reminder_due(created, expires, t("2026-12-02 10:00:00")));
        // A mandate of a week or less: never.
        let short = t("2026-11-25 10:00:00");
        assert!(!reminder_due(short, expires, t("2026-11-26 10:00:00")));
    }

    #[test]
    fn digests_are_weekly_and_only_with_something_to_say() {
        let now = t("2026-12-08 10:00:00");
        assert!(weekly_due(None, now));
        assert!(weekly_due(Some(t("2026-12-01 10:00:00")), now));
        assert!(!weekly_due(Some(t("2026-12-01 10:00:01")), now));
        let members = vec![
            ("a1".to_string(), "s1".to_string()),
            ("a1".to_string(), "s2".to_string()),
            ("a2".to_string(), "s2".to_string()),
            ("a3".to_string(), "s3".to_string()),
            ("a4".to_string(), "s1".to_string()),
        ];
        let rows: HashMap<String, Vec<u8>> = [
            ("s1".to_string(), vec![1, 2]),
            ("s2".to_string(), vec![3]),
            ("s3".to_string(), vec![]),
        ]
        .into_iter()
        .collect();
        let last: HashMap<String, NaiveDateTime> = [("a4".to_string(), t("2026-12-05 10:00:00"))]
            .into_iter()
            .collect();
        let d = digests(&members, &rows, &last, now);
        assert_eq!(d.get("a1"), Some(&vec![1, 2, 3]));
        assert_eq!(d.get("a2"), Some(&vec![3]));
        assert_eq!(d.get("a3"), None, "nothing to say");
        assert_eq!(d.get("a4"), None, "sent this week");
    }
}
