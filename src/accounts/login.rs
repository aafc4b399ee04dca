//! Two-step login (password, then TOTP) with lockout and per-address rate limiting.
//! Every failure, lock, unlock and success is journaled.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::sessions::{self, Session, Stage};
use super::users::{self, User};
use super::{password, terms, totp};
use crate::crypto::SecretBox;
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::store::schema::{login_attempts, memberships, totp_cards, users as users_t};
use crate::store::{write_tx, DbConn};

/// Lockout and rate-limit settings.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Consecutive failures that lock the account.
    pub threshold: i32,
    /// How long a lock lasts.
    pub lock: Duration,
    /// Failed attempts allowed per client address within `window`.
    pub per_address: i64,
    /// Window of the per-address limit.
    pub window: Duration,
}

/// Outcome of the password step.
#[derive(Debug)]
pub enum PasswordStep {
    /// Password right, account usable: ask for the code.
    Accepted(Box<User>),
    /// Refused (unknown e-mail, wrong password, inactive or locked: one message for all).
    Refused,
    /// Too many failures from this address.
    RateLimited,
}

/// Outcome of the code step.
#[derive(Debug)]
pub enum CodeStep {
    /// Logged in: the new session's cookie token, and where to go next.
    Accepted {
        /// The account.
        user: Box<User>,
        /// Cookie token of the new session.
        token: String,
        /// The page that asked for the login (an OpenID interaction), if any.
        next: Option<String>,
        /// The account has not accepted the terms of use in force: it must first.
        terms_pending: bool,
    },
    /// Refused (inactive account, or no pending login): the generic message.
    Refused,
    /// The code was wrong or already used; the account is still usable.
    WrongCode,
    /// The account is locked until this time (UTC). Said only at the code step, to
    /// someone who gave the right password.
    Locked(NaiveDateTime),
    /// The account has no second factor: it must enrol through a new link.
    NeedsEnrolment,
}

fn record_attempt(conn: &mut DbConn, now: DateTime<Utc>, addr: &str) -> QueryResult<()> {
    diesel::insert_into(login_attempts::table)
        .values((
            login_attempts::id.eq(uuid::Uuid::new_v4().to_string()),
            login_attempts::client_addr.eq(addr),
            login_attempts::at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

fn failed(reason: &str) -> NewEntry {
    NewEntry::new("login.failed").detail("reason", reason)
}

/// Lifts an expired lock (journaled); returns the account as it now stands.
fn lift_expired_lock(conn: &mut DbConn, now: DateTime<Utc>, user: User) -> Result<User, Error> {
    match user.locked_until {
        Some(until) if until <= now.naive_utc() => {
            diesel::update(users_t::table.filter(users_t::id.eq(&user.id)))
                .set((
                    users_t::failed_logins.eq(0),
                    users_t::locked_until.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
            journal::append(
                conn,
                now,
                NewEntry::new("account.unlocked")
                    .actor("system")
                    .detail("account", user.id.as_str()),
            )?;
            Ok(User {
                failed_logins: 0,
                locked_until: None,
                ..user
            })
        }
        _ => Ok(user),
    }
}

fn is_locked(user: &User, now: DateTime<Utc>) -> bool {
    user.locked_until.is_some_and(|u| u > now.naive_utc())
}

/// Counts a failure against the account, locking it at the threshold.
fn register_failure(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    user: &User,
    reason: &str,
) -> Result<(), Error> {
    // Atomic increment: concurrent failures each count (the row lock serialises them).
    let failures: i32 = diesel::update(users_t::table.filter(users_t::id.eq(&user.id)))
        .set(users_t::failed_logins.eq(users_t::failed_logins + 1))
        .returning(users_t::failed_logins)
        .get_result(conn)?;
    let lock = failures == policy.threshold;
    if failures >= policy.threshold {
        let until = (now + policy.lock).naive_utc();
        diesel::update(users_t::table.filter(users_t::id.eq(&user.id)))
            .set(users_t::locked_until.eq(Some(until)))
            .execute(conn)?;
    }
    journal::append(
        conn,
        now,
        failed(reason)
            .actor(user.actor())
            .detail("failures", i64::from(failures)),
    )?;
    if lock {
        journal::append(
            conn,
            now,
            NewEntry::new("account.locked")
                .actor("system")
                .detail("account", user.id.as_str())
                .detail("minutes", policy.lock.num_minutes()),
        )?;
    }
    Ok(())
}

/// Serialises the use cases of one client address until the transaction ends: SQLite's
/// `BEGIN IMMEDIATE` already runs one writer at a time; on PostgreSQL a transaction-scoped
/// advisory lock on the address makes "count, then record" exact under concurrency.
fn lock_address(conn: &mut DbConn, addr: &str) -> QueryResult<()> {
    if let DbConn::Pg(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind::<diesel::sql_types::Text, _>(format!("login:{addr}"))
            .execute(pg)?;
    }
    Ok(())
}

/// Takes the account's row lock (PostgreSQL: a no-op update locks the row until the
/// transaction ends), so that reading the lock state, checking a factor and counting the
/// failure happen one request at a time; the reads that follow see the last commit.
fn lock_account(conn: &mut DbConn, user_id: &str) -> QueryResult<()> {
    diesel::update(users_t::table.filter(users_t::id.eq(user_id)))
        .set(users_t::failed_logins.eq(users_t::failed_logins))
        .execute(conn)?;
    Ok(())
}

/// The address under which a rate-limited address is noted once per window (a row of
/// `login_attempts` that the per-address count does not see).
fn limited_marker(addr: &str) -> String {
    format!("limited:{addr}")
}

/// What the per-address limit decides before a password is checked.
enum Slot {
    /// Under the limit: this attempt is recorded (by id) before the check, so concurrent
    /// attempts cannot all pass the count.
    Reserved(String),
    /// Over the limit.
    Limited,
}

/// Counts the address's recent attempts and, under the limit, records this one, in one
/// transaction serialised per address. Over the limit, the first refusal of a window is
/// journaled, the others only refused (anyone can send them).
fn reserve_attempt(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    addr: &str,
) -> Result<Slot, Error> {
    let since = (now - policy.window).naive_utc();
    write_tx(conn, |c| {
        lock_address(c, addr)?;
        let recent: i64 = login_attempts::table
            .filter(login_attempts::client_addr.eq(addr))
            .filter(login_attempts::at.gt(since))
            .count()
            .get_result(c)?;
        if recent < policy.per_address {
            let id = uuid::Uuid::new_v4().to_string();
            diesel::insert_into(login_attempts::table)
                .values((
                    login_attempts::id.eq(&id),
                    login_attempts::client_addr.eq(addr),
                    login_attempts::at.eq(now.naive_utc()),
                ))
                .execute(c)?;
            return Ok(Slot::Reserved(id));
        }
        let marker = limited_marker(addr);
        let noted: i64 = login_attempts::table
            .filter(login_attempts::client_addr.eq(&marker))
            .filter(login_attempts::at.gt(since))
            .count()
            .get_result(c)?;
        if noted == 0 {
            record_attempt(c, now, &marker)?;
            journal::append(
                c,
                now,
                NewEntry::new("login.rate_limited").detail("attempts", recent),
            )?;
        }
        Ok(Slot::Limited)
    })
}

/// The password step. The per-address limit is taken first (the attempt recorded, so a
/// burst cannot pass it); the Argon2 check runs outside any transaction and always runs,
/// against a dummy hash for an unknown e-mail, so timing does not reveal accounts.
pub fn password_step(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    session: &Session,
    addr: &str,
    email: &str,
    password_given: &str,
) -> Result<PasswordStep, Error> {
    let Slot::Reserved(attempt) = reserve_attempt(conn, now, policy, addr)? else {
        return Ok(PasswordStep::RateLimited);
    };
    let found = users::find_by_email(conn, email)?;
    let stored = found.as_ref().and_then(|u| u.password_hash.clone());
    let ok = password::verify(
        stored.as_deref().unwrap_or(password::dummy_hash()),
        password_given,
    ) && stored.is_some();
    write_tx(conn, |c| {
        let user = match found.as_ref().map(|u| u.id.clone()) {
            Some(id) => {
                lock_account(c, &id)?;
                match users::find(c, &id)? {
                    Some(u) => Some(lift_expired_lock(c, now, u)?),
                    None => None,
                }
            }
            None => None,
        };
        match (password_refusal(user.as_ref(), ok, now), user) {
            (None, Some(user)) => {
                // Only failures count against the address.
                diesel::delete(login_attempts::table.filter(login_attempts::id.eq(&attempt)))
                    .execute(c)?;
                sessions::set_stage(c, &session.id_hash, Some(&user.id), Stage::Password, now)?;
                Ok(PasswordStep::Accepted(Box::new(user)))
            }
            (reason, user) => {
                let reason = reason.unwrap_or("unknown_account");
                match user {
                    Some(u) if reason == "wrong_password" => {
                        register_failure(c, now, policy, &u, reason)?
                    }
                    Some(u) => {
                        journal::append(c, now, failed(reason).actor(u.actor()))?;
                    }
                    None => {
                        journal::append(c, now, failed(reason))?;
                    }
                }
                Ok(PasswordStep::Refused)
            }
        }
    })
}

/// Why a password attempt is refused (pure): `unknown_account`, `locked`, `inactive` or
/// `wrong_password`; None when the account may go on to its second factor.
pub fn password_refusal(
    user: Option<&User>,
    password_ok: bool,
    now: DateTime<Utc>,
) -> Option<&'static str> {
    match user {
        None => Some("unknown_account"),
        Some(u) if is_locked(u, now) => Some("locked"),
        Some(u) if !u.active => Some("inactive"),
        Some(_) if !password_ok => Some("wrong_password"),
        Some(_) => None,
    }
}

/// Why an account may not log in now (pure): `inactive` or `locked`.
pub fn account_refusal(user: &User, now: DateTime<Utc>) -> Option<&'static str> {
    if !user.active {
        Some("inactive")
    } else if is_locked(user, now) {
        Some("locked")
    } else {
        None
    }
}

/// The code step, for the session whose password was accepted. Success rotates the
/// session id; a locked or deactivated account, or one without a second factor, goes
/// back to the start.
pub fn code_step(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    secrets: &SecretBox,
    session: &Session,
    addr: &str,
    code: &str,
) -> Result<CodeStep, Error> {
    let Some(user_id) = session.pending_user() else {
        return Ok(CodeStep::Refused);
    };
    write_tx(conn, |c| {
        let step = code_step_in(c, now, policy, secrets, addr, user_id, code)?;
        match &step {
            CodeStep::Accepted { user, .. } => {
                let (token, _) = sessions::rotate(c, now, session, &user.id)?;
                let terms_pending = !terms::has_accepted(c, &user.id, terms::current())?;
                return Ok(CodeStep::Accepted {
                    user: user.clone(),
                    token,
                    next: session.next_path(),
                    terms_pending,
                });
            }
            CodeStep::Refused | CodeStep::WrongCode | CodeStep::Locked(_) => {
                let user = users::find(c, user_id)?;
                let locked = user
                    .as_ref()
                    .filter(|u| u.active)
                    .and_then(|u| u.locked_until.filter(|t| *t > now.naive_utc()));
                if user.as_ref().is_none_or(|u| !u.active) || locked.is_some() {
                    sessions::set_stage(c, &session.id_hash, None, Stage::Anonymous, now)?;
                }
                let wrong = matches!(step, CodeStep::WrongCode);
                return Ok(match locked {
                    Some(until) => CodeStep::Locked(until),
                    None if wrong && user.as_ref().is_some_and(|u| u.active) => CodeStep::WrongCode,
                    None => CodeStep::Refused,
                });
            }
            CodeStep::NeedsEnrolment => {
                sessions::set_stage(c, &session.id_hash, None, Stage::Anonymous, now)?;
            }
        }
        Ok(step)
    })
}

fn code_step_in(
    c: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    secrets: &SecretBox,
    addr: &str,
    user_id: &str,
    code: &str,
) -> Result<CodeStep, Error> {
    {
        // One code checked at a time per account: the lock state read below is the last
        // committed one, so no more than the threshold of wrong codes are ever checked.
        lock_account(c, user_id)?;
        let Some(user) = users::find(c, user_id)? else {
            return Ok(CodeStep::Refused);
        };
        let user = lift_expired_lock(c, now, user)?;
        if let Some(reason) = account_refusal(&user, now) {
            record_attempt(c, now, addr)?;
            journal::append(c, now, failed(reason).actor(user.actor()))?;
            return Ok(CodeStep::Refused);
        }
        let (accepted, replayed) = match check_factors(c, now, secrets, &user, code)? {
            FactorCheck::None => {
                journal::append(c, now, failed("no_second_factor").actor(user.actor()))?;
                return Ok(CodeStep::NeedsEnrolment);
            }
            FactorCheck::Accepted(factor) => (Some(factor), false),
            FactorCheck::Wrong { replayed } => (None, replayed),
        };
        let Some(factor) = accepted else {
            record_attempt(c, now, addr)?;
            register_failure(
                c,
                now,
                policy,
                &user,
                if replayed {
                    "replayed_code"
                } else {
                    "wrong_code"
                },
            )?;
            return Ok(CodeStep::WrongCode);
        };
        let current = match &user.current_structure_id {
            Some(s) if users::is_member(c, &user.id, s)? => Some(s.clone()),
            _ => memberships::table
                .filter(memberships::user_id.eq(&user.id))
                .select(memberships::structure_id)
                .order(memberships::created_at.asc())
                .first::<String>(c)
                .optional()?,
        };
        diesel::update(users_t::table.filter(users_t::id.eq(&user.id)))
            .set((
                users_t::failed_logins.eq(0),
                users_t::last_login.eq(Some(now.naive_utc())),
                users_t::current_structure_id.eq(current.as_deref()),
            ))
            .execute(c)?;
        let e = NewEntry::new("login.succeeded")
            .actor(user.actor())
            .detail("factor", factor)
            .structure_opt(current.as_deref());
        journal::append(c, now, e)?;
        Ok(CodeStep::Accepted {
            user: Box::new(User {
                current_structure_id: current,
                last_login: Some(now.naive_utc()),
                failed_logins: 0,
                ..user
            }),
            token: String::new(),
            next: None,
            terms_pending: false,
        })
    }
}

/// What the account's second factors said of a code.
enum FactorCheck {
    /// The account has no second factor.
    None,
    /// Accepted by this factor (its journal name); its step is claimed.
    Accepted(&'static str),
    /// Refused; `replayed` when a factor had already accepted it.
    Wrong { replayed: bool },
}

/// Checks `code` against the account's card, then its app: the first to accept it wins
/// and claims the code's step, and a secret is opened only when its turn comes.
fn check_factors(
    c: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    user: &User,
    code: &str,
) -> Result<FactorCheck, Error> {
    let card: Option<(String, String, Option<i64>)> = totp_cards::table
        .filter(totp_cards::user_id.eq(&user.id))
        .select((totp_cards::id, totp_cards::seed_enc, totp_cards::last_step))
        .first(c)
        .optional()?;
    if card.is_none() && user.totp_secret_enc.is_none() {
        return Ok(FactorCheck::None);
    }
    let mut factors = Vec::new();
    if let Some((card_id, seed_enc, last)) = &card {
        factors.push((
            Factor::Card(card_id),
            format!("card:{card_id}"),
            seed_enc,
            *last,
        ));
    }
    if let Some(enc) = &user.totp_secret_enc {
        let context = user.totp_context();
        factors.push((Factor::App(&user.id), context, enc, user.totp_last_step));
    }
    let mut replayed = false;
    for (factor, context, enc, last) in factors {
        let secret = secrets.open(&context, enc)?;
        match totp::check(&secret, code, now, last) {
            totp::Check::Accepted(step) => {
                if factor.claim(c, step)? {
                    return Ok(FactorCheck::Accepted(factor.name()));
                }
                replayed = true;
            }
            totp::Check::Replayed => replayed = true,
            totp::Check::Wrong => {}
        }
    }
    Ok(FactorCheck::Wrong { replayed })
}

/// Outcome of choosing a new password through a reset link.
#[derive(Debug)]
pub enum ResetStep {
    /// The new password is set; the account logs in with it.
    Done(Box<User>),
    /// The code was wrong or already used (counted against the account, as at login).
    WrongCode,
    /// The account is locked until this time (UTC).
    Locked(NaiveDateTime),
}

/// Completes a password reset: the link's account has a second factor and no password
/// (a manager forgot it, [`users::reset_password`]); the new password is confirmed with
/// a code of that second factor, so that the link alone is not enough. Wrong codes count
/// towards the account's lock exactly as at login, and the lock applies here too.
pub fn reset_password_step(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    secrets: &SecretBox,
    token: &str,
    new_password: &str,
    code: &str,
) -> Result<ResetStep, Error> {
    write_tx(conn, |c| {
        let (_, user, _) = users::enrolment_for(c, now, token)?.ok_or(Error::LinkInvalid)?;
        // One submission at a time per account, and everything read again under the row
        // lock (the link, the password, the lock state): a read from before the lock could
        // miss a concurrent submission's failures (or its use of the link), and let more
        // codes be checked than the lock threshold allows.
        lock_account(c, &user.id)?;
        let (hash, user, _) = users::enrolment_for(c, now, token)?.ok_or(Error::LinkInvalid)?;
        if user.password_hash.is_some() {
            return Err(Error::LinkInvalid);
        }
        let user = lift_expired_lock(c, now, user)?;
        if let Some(until) = user.locked_until.filter(|t| *t > now.naive_utc()) {
            return Ok(ResetStep::Locked(until));
        }
        crate::domain::password_policy::check(new_password, &user.email)
            .map_err(Error::Password)?;
        let factor = match check_factors(c, now, secrets, &user, code)? {
            FactorCheck::None => return Err(Error::LinkInvalid),
            FactorCheck::Accepted(factor) => factor,
            FactorCheck::Wrong { replayed } => {
                let reason = if replayed {
                    "replayed_code"
                } else {
                    "wrong_code"
                };
                register_failure(c, now, policy, &user, reason)?;
                let locked = users::find(c, &user.id)?
                    .and_then(|u| u.locked_until)
                    .filter(|t| *t > now.naive_utc());
                return Ok(match locked {
                    Some(until) => ResetStep::Locked(until),
                    None => ResetStep::WrongCode,
                });
            }
        };
        let user = users::set_new_password(c, now, &hash, &user, new_password, factor)?;
        Ok(ResetStep::Done(Box::new(user)))
    })
}

/// A second factor that may accept a TOTP code.
enum Factor<'a> {
    /// A TOTP card, by id.
    Card(&'a str),
    /// The user's authenticator app, by user id.
    App(&'a str),
}

impl Factor<'_> {
    /// Its name in the journal.
    fn name(&self) -> &'static str {
        match self {
            Factor::Card(_) => "card",
            Factor::App(_) => "app",
        }
    }

    /// Records `step` as its last accepted step. Conditional: of two concurrent uses of
    /// one code, only one moves the step; false for the other (a replay).
    fn claim(&self, c: &mut DbConn, step: i64) -> QueryResult<bool> {
        let moved = match self {
            Factor::Card(id) => diesel::update(
                totp_cards::table.filter(totp_cards::id.eq(id)).filter(
                    totp_cards::last_step
                        .is_null()
                        .or(totp_cards::last_step.lt(step)),
                ),
            )
            .set(totp_cards::last_step.eq(Some(step)))
            .execute(c)?,
            Factor::App(user_id) => diesel::update(
                users_t::table.filter(users_t::id.eq(user_id)).filter(
                    users_t::totp_last_step
                        .is_null()
                        .or(users_t::totp_last_step.lt(step)),
                ),
            )
            .set(users_t::totp_last_step.eq(Some(step)))
            .execute(c)?,
        };
        Ok(moved == 1)
    }
}

/// Deletes failed-login records older than `before` (housekeeping).
pub fn purge_attempts(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(login_attempts::table.filter(login_attempts::at.lt(before))).execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(active: bool, locked_minutes: Option<i64>, now: DateTime<Utc>) -> User {
        User {
            id: "u".into(),
            email: "a@b.fr".into(),
            name: "A".into(),
            roles: "aidant".into(),
            active,
            password_hash: None,
            totp_secret_enc: None,
            totp_last_step: None,
            failed_logins: 0,
            locked_until: locked_minutes.map(|m| (now + Duration::minutes(m)).naive_utc()),
            last_login: None,
            current_structure_id: None,
            created_at: now.naive_utc(),
            accredited_until: None,
            password_reset_at: None,
        }
    }

    #[test]
    fn password_refusals_in_order() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(password_refusal(None, true, now), Some("unknown_account"));
        let locked = user(true, Some(5), now);
        assert_eq!(password_refusal(Some(&locked), true, now), Some("locked"));
        let lock_over = user(true, Some(-1), now);
        assert_eq!(password_refusal(Some(&lock_over), true, now), None);
        let inactive = user(false, None, now);
        assert_eq!(
            password_refusal(Some(&inactive), true, now),
            Some("inactive")
        );
        let ok = user(true, None, now);
        assert_eq!(
            password_refusal(Some(&ok), false, now),
            Some("wrong_password")
        );
        assert_eq!(password_refusal(Some(&ok), true, now), None);
    }

    #[test]
    fn code_step_refuses_inactive_then_locked_accounts() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(
            account_refusal(&user(false, Some(5), now), now),
            Some("inactive")
        );
        assert_eq!(
            account_refusal(&user(true, Some(5), now), now),
            Some("locked")
        );
        assert_eq!(account_refusal(&user(true, None, now), now), None);
    }
}
