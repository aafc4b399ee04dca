//! Server-side sessions stored in the database (several instances can serve one
//! deployment). The cookie carries a random 256-bit token; only its SHA-256 is stored.
//!
//! A request resolves its session with one read transaction; it writes only when a new
//! session is needed (a form's CSRF token, a login, an authorization request), when one
//! ends, or when it was last touched more than [`TOUCH_EVERY_SECONDS`] ago.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::{Map, Value};

use super::structures::Structure;
use super::users::User;
use crate::crypto::{new_token, sha256_hex};
use crate::error::Error;
use crate::store::schema::{
    memberships, sessions, structures, terms_acceptances, users as users_t,
};
use crate::store::{read_tx, write_tx, DbConn};

/// A session's `last_seen` is written at most this often (idle timeouts are minutes).
pub const TOUCH_EVERY_SECONDS: i64 = 60;

crate::text_enum! {
    /// Stage of a session, stored as text.
    pub enum Stage {
        /// Not logged in (carries the CSRF token of the login and enrolment forms).
        Anonymous = "anonymous",
        /// Password accepted, second factor awaited.
        Password = "password",
        /// Fully authenticated.
        Full = "full",
    }
}

/// Timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Idle timeout.
    pub idle: Duration,
    /// Absolute lifetime.
    pub absolute: Duration,
    /// Lifetime of the password stage (waiting for the code).
    pub second_factor: Duration,
}

/// A session row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    /// SHA-256 of the cookie token.
    pub id_hash: String,
    /// The account (password or full stage).
    pub user_id: Option<String>,
    /// Where the login stands.
    #[diesel(deserialize_as = String)]
    pub stage: Stage,
    /// CSRF token bound to the session.
    pub csrf_token: String,
    /// Creation (login) time.
    pub created_at: NaiveDateTime,
    /// Last request (written at most once a minute).
    pub last_seen: NaiveDateTime,
    /// Small JSON object (pending flow state).
    pub data: String,
}

impl Session {
    /// The data object.
    pub fn data(&self) -> Map<String, Value> {
        serde_json::from_str(&self.data).unwrap_or_default()
    }

    /// A string of the data object.
    pub fn data_str(&self, key: &str) -> Option<String> {
        self.data()
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// True when expired under `policy` at `now`.
    pub fn expired(&self, now: NaiveDateTime, policy: &Policy) -> bool {
        let stage_limit = if self.stage == Stage::Password {
            policy.second_factor
        } else {
            policy.absolute
        };
        now - self.last_seen > policy.idle || now - self.created_at > stage_limit
    }

    /// The account waiting for its second factor.
    pub fn pending_user(&self) -> Option<&str> {
        (self.stage == Stage::Password)
            .then_some(self.user_id.as_deref())
            .flatten()
    }

    /// Where the login goes on to (an authorization request's interaction), kept in the
    /// session's data: a path of this site only.
    pub fn next_path(&self) -> Option<String> {
        self.data_str("next")
            .filter(|n| n.starts_with('/') && !n.starts_with("//"))
    }
}

/// Who is asking: the session and, when logged in, the account and its current structure.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The session row.
    pub session: Session,
    /// The logged-in, active account (None until it accepts the current terms of use).
    pub user: Option<User>,
    /// Its current structure (only while it is a member).
    pub structure: Option<Structure>,
    /// An account past both factors that has not accepted the terms of use in force: it
    /// may only read and accept them, or log out ([`super::terms`]).
    pub awaiting_terms: Option<User>,
}

impl Visitor {
    /// Checks the CSRF token of a POST form (constant time).
    pub fn check_csrf(&self, given: &str) -> Result<(), Error> {
        if !given.is_empty()
            && crate::crypto::constant_time_eq(given.as_bytes(), self.session.csrf_token.as_bytes())
        {
            Ok(())
        } else {
            Err(Error::Csrf)
        }
    }
}

/// A resolved visit: the visitor, and the cookie token when a new session was started.
#[derive(Debug, Clone)]
pub struct Visit {
    /// Who is asking.
    pub visitor: Visitor,
    /// Set when this request started a session (the cookie to send).
    pub new_token: Option<String>,
    /// False for a new session not stored yet ([`visit_lazy`]): it is stored with
    /// [`store`] only if the response needs it.
    pub stored: bool,
}

/// A new session and its cookie token, not stored.
fn new_session(
    now: DateTime<Utc>,
    user_id: Option<&str>,
    stage: Stage,
    data: &Map<String, Value>,
) -> (String, Session) {
    let token = new_token();
    let s = Session {
        id_hash: sha256_hex(token.as_bytes()),
        user_id: user_id.map(str::to_string),
        stage,
        csrf_token: new_token(),
        created_at: now.naive_utc(),
        last_seen: now.naive_utc(),
        data: Value::Object(data.clone()).to_string(),
    };
    (token, s)
}

fn insert(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    user_id: Option<&str>,
    stage: Stage,
    data: &Map<String, Value>,
) -> QueryResult<(String, Session)> {
    let (token, s) = new_session(now, user_id, stage, data);
    store(conn, &s)?;
    Ok((token, s))
}

/// Stores a session started by [`visit_lazy`] (the page it was started for carries a
/// form, whose CSRF token the session holds).
pub fn store(conn: &mut DbConn, s: &Session) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_hash.eq(&s.id_hash),
            sessions::user_id.eq(&s.user_id),
            sessions::stage.eq(s.stage.as_str()),
            sessions::csrf_token.eq(&s.csrf_token),
            sessions::created_at.eq(s.created_at),
            sessions::last_seen.eq(s.last_seen),
            sessions::data.eq(&s.data),
        ))
        .execute(conn)?;
    Ok(())
}

/// Reads the visitor of a cookie token (no write). None: no such live session, or its
/// account is no longer active.
fn resolve(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    token: &str,
) -> QueryResult<Option<(Visitor, bool)>> {
    if token.len() != 43 {
        return Ok(None);
    }
    let hash = sha256_hex(token.as_bytes());
    // One statement: the session, its account, the account's current structure while it
    // is still a member of it (with whether the account manages it), and its acceptance of
    // the terms of use in force.
    type Row = (
        Session,
        Option<User>,
        Option<Structure>,
        Option<bool>,
        Option<String>,
    );
    let row: Option<Row> = sessions::table
        .left_join(users_t::table.on(users_t::id.nullable().eq(sessions::user_id)))
        .left_join(
            memberships::table.on(memberships::user_id.eq(users_t::id).and(
                memberships::structure_id
                    .nullable()
                    .eq(users_t::current_structure_id),
            )),
        )
        .left_join(structures::table.on(structures::id.eq(memberships::structure_id)))
        .left_join(
            terms_acceptances::table.on(terms_acceptances::user_id
                .eq(users_t::id)
                .and(terms_acceptances::version.eq(super::terms::current().version))),
        )
        .filter(sessions::id_hash.eq(&hash))
        .select((
            Session::as_select(),
            users_t::all_columns.nullable(),
            structures::all_columns.nullable(),
            memberships::manager.nullable(),
            terms_acceptances::version.nullable(),
        ))
        .first(conn)
        .optional()?;
    let Some((session, user, structure, manages, accepted)) = row else {
        return Ok(None);
    };
    if session.expired(now.naive_utc(), policy) {
        return Ok(None);
    }
    let (user, structure, awaiting_terms) = if session.stage == Stage::Full {
        match user {
            // The manager role counts in the structures the account manages only.
            Some(u) if u.active && accepted.is_some() => {
                (Some(u.in_structure(manages == Some(true))), structure, None)
            }
            // Not logged in for anything until the terms in force are accepted.
            Some(u) if u.active => (None, None, Some(u.in_structure(manages == Some(true)))),
            // Deactivated or deleted account: the session ends now.
            _ => return Ok(Some((invalid(session), true))),
        }
    } else {
        (None, None, None)
    };
    Ok(Some((
        Visitor {
            session,
            user,
            structure,
            awaiting_terms,
        },
        false,
    )))
}

fn invalid(session: Session) -> Visitor {
    Visitor {
        session,
        user: None,
        structure: None,
        awaiting_terms: None,
    }
}

/// Resolves the request's session, starting one when there is none (or it ended).
/// One read transaction; a write only to start a session, end one whose account was
/// deactivated, or note activity at most once a minute.
pub fn visit(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    token: Option<&str>,
) -> Result<Visit, Error> {
    // Read first: most requests find a live session and write nothing.
    if let Some(t) = token {
        if let Some((visitor, false)) = read_tx(conn, |c| resolve(c, now, policy, t))? {
            return live(conn, now, visitor);
        }
    }
    write_tx(conn, |c| visit_in(c, now, policy, token))
}

/// As [`visit`], but a visitor without a live session gets a new session that is not
/// stored: an anonymous request writes nothing unless its page needs the session (a
/// form's CSRF token), in which case the caller stores it with [`store`].
pub fn visit_lazy(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    token: Option<&str>,
) -> Result<Visit, Error> {
    let found = match token {
        Some(t) => read_tx(conn, |c| resolve(c, now, policy, t))?,
        None => None,
    };
    match found {
        Some((visitor, false)) => live(conn, now, visitor),
        Some((ended, true)) => {
            write_tx(conn, |c| delete(c, &ended.session.id_hash))?;
            Ok(pending(now))
        }
        None => Ok(pending(now)),
    }
}

/// As [`visit_lazy`], inside the caller's write transaction.
pub fn visit_lazy_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    token: Option<&str>,
) -> Result<Visit, Error> {
    visit_or(conn, now, policy, token, |_, now| Ok(pending(now)))
}

/// A new anonymous session, not stored yet.
fn pending(now: DateTime<Utc>) -> Visit {
    let (t, s) = new_session(now, None, Stage::Anonymous, &Map::new());
    Visit {
        visitor: invalid(s),
        new_token: Some(t),
        stored: false,
    }
}

/// A live session's visit (its activity noted at most once a minute).
fn live(conn: &mut DbConn, now: DateTime<Utc>, visitor: Visitor) -> Result<Visit, Error> {
    touch_if_stale(conn, now, &visitor.session)?;
    Ok(Visit {
        visitor,
        new_token: None,
        stored: true,
    })
}

/// As [`visit`], inside the caller's write transaction.
pub fn visit_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    token: Option<&str>,
) -> Result<Visit, Error> {
    visit_or(conn, now, policy, token, start)
}

/// The visit of a live session, in the caller's write transaction; otherwise (no session,
/// or one whose account was deactivated, which ends now) the visit `fresh` begins.
fn visit_or(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    token: Option<&str>,
    fresh: fn(&mut DbConn, DateTime<Utc>) -> Result<Visit, Error>,
) -> Result<Visit, Error> {
    let found = match token {
        Some(t) => resolve(conn, now, policy, t)?,
        None => None,
    };
    match found {
        Some((visitor, false)) => live(conn, now, visitor),
        Some((ended, true)) => {
            delete(conn, &ended.session.id_hash)?;
            fresh(conn, now)
        }
        None => fresh(conn, now),
    }
}

/// The visitor of a cookie token, read only (None: no live session). An account that
/// is no longer active reads as not logged in.
pub fn resolve_read(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    token: Option<&str>,
) -> Result<Option<Visitor>, Error> {
    let Some(t) = token else { return Ok(None) };
    Ok(resolve(conn, now, policy, t)?.map(|(v, _)| v))
}

/// Notes the session's activity when it was last noted over a minute ago.
pub fn touch_if_stale(conn: &mut DbConn, now: DateTime<Utc>, s: &Session) -> QueryResult<()> {
    let n = now.naive_utc();
    if n - s.last_seen > Duration::seconds(TOUCH_EVERY_SECONDS) {
        diesel::update(sessions::table.filter(sessions::id_hash.eq(&s.id_hash)))
            .set(sessions::last_seen.eq(n))
            .execute(conn)?;
    }
    Ok(())
}

/// Starts an anonymous session.
pub fn start(conn: &mut DbConn, now: DateTime<Utc>) -> Result<Visit, Error> {
    let (t, s) = insert(conn, now, None, Stage::Anonymous, &Map::new())?;
    Ok(Visit {
        visitor: invalid(s),
        new_token: Some(t),
        stored: true,
    })
}

/// The data object of a session, read in the caller's transaction (None: no session).
pub fn data_of(conn: &mut DbConn, id_hash: &str) -> QueryResult<Option<Map<String, Value>>> {
    let data: Option<String> = sessions::table
        .filter(sessions::id_hash.eq(id_hash))
        .select(sessions::data)
        .first(conn)
        .optional()?;
    Ok(data.map(|d| serde_json::from_str(&d).unwrap_or_default()))
}

/// Replaces the data object.
pub fn set_data(conn: &mut DbConn, id_hash: &str, data: &Map<String, Value>) -> QueryResult<()> {
    diesel::update(sessions::table.filter(sessions::id_hash.eq(id_hash)))
        .set(sessions::data.eq(Value::Object(data.clone()).to_string()))
        .execute(conn)?;
    Ok(())
}

/// Moves a session to another stage and account, keeping its id (used only before the
/// password stage; login completion rotates the id with [`rotate`]). The stage's lifetime
/// counts from now (the password stage allows 10 minutes).
pub fn set_stage(
    conn: &mut DbConn,
    id_hash: &str,
    user_id: Option<&str>,
    stage: Stage,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(sessions::table.filter(sessions::id_hash.eq(id_hash)))
        .set((
            sessions::user_id.eq(user_id),
            sessions::stage.eq(stage.as_str()),
            sessions::created_at.eq(now.naive_utc()),
            sessions::last_seen.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Gives a logged-in account a new session id (a fixed or stolen pre-login id is then
/// worthless). The pending flow state moves along, with the old id under `from`, so an
/// authorization request started before the login still belongs to this browser.
pub fn rotate(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    old: &Session,
    user_id: &str,
) -> QueryResult<(String, Session)> {
    delete(conn, &old.id_hash)?;
    let mut data = Map::new();
    let carried = old.data();
    for key in ["next", "interaction"] {
        if let Some(v) = carried.get(key) {
            data.insert(key.into(), v.clone());
        }
    }
    if !data.is_empty() {
        data.insert("from".into(), Value::String(old.id_hash.clone()));
    }
    insert(conn, now, Some(user_id), Stage::Full, &data)
}

/// Ends one session.
pub fn delete(conn: &mut DbConn, id_hash: &str) -> QueryResult<()> {
    diesel::delete(sessions::table.filter(sessions::id_hash.eq(id_hash))).execute(conn)?;
    Ok(())
}

/// Ends every session of an account.
pub fn delete_for_user(conn: &mut DbConn, user_id: &str) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)
}

/// Ends the visitor's session, journaling the logout of a logged-in account.
pub fn logout(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    visitor: &Visitor,
    via: Option<&str>,
) -> Result<(), Error> {
    write_tx(conn, |c| logout_in(c, now, visitor, via))
}

/// As [`logout`], inside the caller's transaction.
pub fn logout_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    visitor: &Visitor,
    via: Option<&str>,
) -> Result<(), Error> {
    use crate::journal::{self, NewEntry};
    {
        let c = conn;
        delete(c, &visitor.session.id_hash)?;
        if let Some(u) = visitor.user.as_ref().or(visitor.awaiting_terms.as_ref()) {
            let mut e = NewEntry::new("logout").actor(u.actor());
            if let Some(v) = via {
                e = e.detail("via", v);
            }
            if let Some(s) = &u.current_structure_id {
                e = e.structure(s);
            }
            journal::append(c, now, e)?;
        }
        Ok(())
    }
}

/// Deletes sessions past their idle or absolute timeout (housekeeping).
pub fn purge(conn: &mut DbConn, now: DateTime<Utc>, policy: &Policy) -> QueryResult<usize> {
    let n = now.naive_utc();
    diesel::delete(
        sessions::table.filter(
            sessions::last_seen
                .lt(n - policy.idle)
                .or(sessions::created_at.lt(n - policy.absolute)),
        ),
    )
    .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(stage: Stage, created: i64, seen: i64) -> Session {
        let t = |m: i64| {
            DateTime::from_timestamp(1_700_000_000 + m * 60, 0)
                .unwrap()
                .naive_utc()
        };
        Session {
            id_hash: String::new(),
            user_id: None,
            stage,
            csrf_token: String::new(),
            created_at: t(created),
            last_seen: t(seen),
            data: "{}".into(),
        }
    }

    #[test]
    fn expiry_follows_idle_absolute_and_second_factor_limits() {
        let p = Policy {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
            second_factor: Duration::minutes(10),
        };
        let at = |m: i64| {
            DateTime::from_timestamp(1_700_000_000 + m * 60, 0)
                .unwrap()
                .naive_utc()
        };
        assert!(!session(Stage::Full, 0, 0).expired(at(29), &p));
        assert!(session(Stage::Full, 0, 0).expired(at(31), &p));
        assert!(!session(Stage::Full, 0, 700).expired(at(710), &p));
        assert!(session(Stage::Full, 0, 725).expired(at(730), &p));
        assert!(session(Stage::Password, 0, 9).expired(at(11), &p));
        assert!(!session(Stage::Password, 0, 9).expired(at(9), &p));
    }

    #[test]
    fn stage_round_trips_through_text() {
        for s in [Stage::Anonymous, Stage::Password, Stage::Full] {
            assert_eq!(Stage::try_from(s.as_str().to_string()), Ok(s));
        }
        assert!(Stage::try_from("root".to_string()).is_err());
    }
}
