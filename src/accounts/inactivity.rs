//! Inactive aidants (docs/retention.md, "Inactive accounts"): an aidant who has not
//! logged in for `PROCURA_INACTIVITY_WARNING_MONTHS` (default 5) is warned by e-mail,
//! once per period of inactivity; after `PROCURA_INACTIVITY_DEACTIVATION_MONTHS` (default
//! 6) the account is deactivated (actor `system`), and the managers of its structures are
//! told. An account that never logged in counts from its creation. Each account is
//! handled in its own transaction, with its journal entries and e-mails.

use chrono::{DateTime, Months, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::users::{self, User};
use crate::domain::roles::Role;
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::mail::{self, Mail};
use crate::notify::texts;
use crate::store::schema::{memberships, users as users_t};
use crate::store::{write_tx, DbConn};

mod table {
    diesel::table! {
        /// When an account was last warned of its inactivity (read and written here only).
        inactivity_warnings (user_id) {
            user_id -> Text,
            warned_at -> Timestamp,
        }
    }
}
use table::inactivity_warnings;

/// Accounts handled in one pass at most (the next pass goes on).
const BATCH: i64 = 200;

/// The delays, in months.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delays {
    /// Without a login for this long, the aidant is warned.
    pub warning_months: u32,
    /// Without a login for this long, the account is deactivated.
    pub deactivation_months: u32,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Aidants warned.
    pub warned: usize,
    /// Accounts deactivated.
    pub deactivated: usize,
}

/// What to do with one account (pure): `since` is its last login (or creation), `warned`
/// its last warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing (recently active, or already warned for this period).
    Nothing,
    /// Warn it; the account will be deactivated at this time.
    Warn(NaiveDateTime),
    /// Deactivate it.
    Deactivate,
}

fn months_before(at: NaiveDateTime, months: u32) -> NaiveDateTime {
    at.checked_sub_months(Months::new(months))
        .unwrap_or(NaiveDateTime::MIN)
}

fn months_after(at: NaiveDateTime, months: u32) -> NaiveDateTime {
    at.checked_add_months(Months::new(months))
        .unwrap_or(NaiveDateTime::MAX)
}

/// Decides for one account (pure).
pub fn decide(
    since: NaiveDateTime,
    warned: Option<NaiveDateTime>,
    now: NaiveDateTime,
    d: Delays,
) -> Step {
    if since < months_before(now, d.deactivation_months) {
        Step::Deactivate
    } else if since < months_before(now, d.warning_months) && warned.is_none_or(|w| w < since) {
        Step::Warn(months_after(since, d.deactivation_months))
    } else {
        Step::Nothing
    }
}

/// One pass over the active aidants without a login since the warning delay.
pub fn run(conn: &mut DbConn, now: DateTime<Utc>, d: Delays) -> Result<Pass, Error> {
    let n = now.naive_utc();
    let cutoff = months_before(n, d.warning_months);
    let candidates: Vec<User> = users_t::table
        .filter(users_t::active.eq(true))
        .filter(
            users_t::last_login.lt(cutoff).or(users_t::last_login
                .is_null()
                .and(users_t::created_at.lt(cutoff))),
        )
        .order(users_t::id.asc())
        .limit(BATCH)
        .select(User::as_select())
        .load(conn)?;
    let mut pass = Pass::default();
    for user in candidates.into_iter().filter(|u| u.has(Role::Aidant)) {
        match write_tx(conn, |c| one(c, now, &user.id, d))? {
            Step::Warn(_) => pass.warned += 1,
            Step::Deactivate => pass.deactivated += 1,
            Step::Nothing => {}
        }
    }
    Ok(pass)
}

/// Decides again for one account inside its transaction (it may have logged in since
/// the candidates were read), and acts.
fn one(c: &mut DbConn, now: DateTime<Utc>, user_id: &str, d: Delays) -> Result<Step, Error> {
    let Some(user) = users::find(c, user_id)? else {
        return Ok(Step::Nothing);
    };
    if !user.active {
        return Ok(Step::Nothing);
    }
    let since = user.last_login.unwrap_or(user.created_at);
    let warned: Option<NaiveDateTime> = inactivity_warnings::table
        .find(user_id)
        .select(inactivity_warnings::warned_at)
        .first(c)
        .optional()?;
    let step = decide(since, warned, now.naive_utc(), d);
    match step {
        Step::Nothing => {}
        Step::Warn(off_at) => {
            diesel::delete(inactivity_warnings::table.find(user_id)).execute(c)?;
            diesel::insert_into(inactivity_warnings::table)
                .values((
                    inactivity_warnings::user_id.eq(user_id),
                    inactivity_warnings::warned_at.eq(now.naive_utc()),
                ))
                .execute(c)?;
            journal::append(
                c,
                now,
                NewEntry::new("account.inactivity_warned")
                    .actor("system")
                    .detail("account", user_id)
                    .detail("months", i64::from(d.warning_months))
                    .structure_opt(user.current_structure_id.as_deref()),
            )?;
            let (subject, text) = texts::inactivity_warning(
                &user.name,
                off_at,
                &crate::notify::context().url("/connexion"),
            );
            mail::enqueue(
                c,
                now,
                &Mail {
                    kind: "aidant.inactivity_warning",
                    to: user.email.clone(),
                    subject,
                    text,
                    usager: None,
                    structure: user.current_structure_id.clone(),
                },
            )?;
        }
        Step::Deactivate => {
            users::set_active(c, now, "system", None, user_id, false)?;
            journal::append(
                c,
                now,
                NewEntry::new("account.inactivity_deactivated")
                    .actor("system")
                    .detail("account", user_id)
                    .detail("months", i64::from(d.deactivation_months)),
            )?;
            tell_managers(c, now, &user)?;
        }
    }
    Ok(step)
}

/// Tells the active managers of each of the account's structures.
fn tell_managers(c: &mut DbConn, now: DateTime<Utc>, user: &User) -> Result<(), Error> {
    let structures: Vec<String> = memberships::table
        .filter(memberships::user_id.eq(&user.id))
        .select(memberships::structure_id)
        .load(c)?;
    for structure in structures {
        for m in users::members(c, &structure)? {
            if !m.user.active || !m.user.has(Role::Manager) || m.user.id == user.id {
                continue;
            }
            let (subject, text) = texts::inactivity_deactivated(
                &m.user.name,
                &user.name,
                &user.email,
                &crate::notify::context().url(&format!("/gestion/comptes/{}", user.id)),
            );
            mail::enqueue(
                c,
                now,
                &Mail {
                    kind: "manager.aidant_deactivated",
                    to: m.user.email.clone(),
                    subject,
                    text,
                    usager: None,
                    structure: Some(structure.clone()),
                },
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn warned_once_per_period_then_deactivated() {
        let d = Delays {
            warning_months: 5,
            deactivation_months: 6,
        };
        let since = t("2026-01-10 09:00:00");
        assert_eq!(
            decide(since, None, t("2026-06-10 08:00:00"), d),
            Step::Nothing
        );
        assert_eq!(
            decide(since, None, t("2026-06-10 10:00:00"), d),
            Step::Warn(t("2026-07-10 09:00:00"))
        );
        let warned = Some(t("2026-06-10 10:00:00"));
        assert_eq!(
            decide(since, warned, t("2026-06-20 10:00:00"), d),
            Step::Nothing
        );
        assert_eq!(
            decide(since, warned, t("2026-07-10 10:00:00"), d),
            Step::Deactivate
        );
        // A login after the warning starts a new period: warned again when it runs out.
        let again = t("2026-06-15 09:00:00");
        assert_eq!(
            decide(again, warned, t("2026-11-15 10:00:00"), d),
            Step::Warn(t("2026-12-15 09:00:00"))
        );
    }
}
