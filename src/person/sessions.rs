//! The person's sessions (`/moi`), apart from the aidants' ones: their own table and
//! cookie, a short life, their own CSRF token. The cookie carries a random 256-bit token;
//! only its SHA-256 is stored. A session before login carries the FranceConnect login
//! under way (state hashed, nonce and PKCE verifier sealed), so that the answer is
//! accepted only in the browser that asked; the session id changes at login.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::crypto::{constant_time_eq, new_token, sha256_hex, SecretBox};
use crate::domain::identity::FlowSecrets;
use crate::error::Error;
use crate::store::schema::usager_sessions;
use crate::store::{write_tx, DbConn};

/// A logged-in session ends after this long without a request.
pub const IDLE_MINUTES: i64 = 30;
/// A logged-in session ends this long after the login, whatever the activity.
pub const ABSOLUTE_HOURS: i64 = 2;
/// A FranceConnect login must come back within this long.
pub const LOGIN_MINUTES: i64 = 15;
/// `last_seen` is written at most this often.
const TOUCH_EVERY_SECONDS: i64 = 60;

/// The cookie's name: `__Host-` over https.
pub fn cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-procura_moi"
    } else {
        "procura_moi"
    }
}

/// A session row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = usager_sessions)]
pub struct UsagerSession {
    /// SHA-256 of the cookie token.
    pub id_hash: String,
    /// The usager, once logged in (None for a person who has no mandate yet and answers
    /// a remote consent request).
    pub usager_id: Option<String>,
    /// True after a FranceConnect login.
    pub logged_in: bool,
    /// CSRF token of the session's forms.
    pub csrf_token: String,
    /// SHA-256 of the `state` of the login under way.
    pub login_state_hash: Option<String>,
    /// Sealed nonce and PKCE verifier of the login under way.
    pub login_secrets_enc: Option<String>,
    /// The remote consent request this session answers.
    pub remote_id: Option<String>,
    /// Creation (login) time.
    pub created_at: NaiveDateTime,
    /// Last request (written at most once a minute).
    pub last_seen: NaiveDateTime,
}

/// True when the session has ended at `now` (pure): before login, [`LOGIN_MINUTES`]
/// after its last use; after login, [`IDLE_MINUTES`] idle or [`ABSOLUTE_HOURS`] in all.
pub fn ended(
    logged_in: bool,
    created_at: NaiveDateTime,
    last_seen: NaiveDateTime,
    now: NaiveDateTime,
) -> bool {
    if logged_in {
        now - last_seen > Duration::minutes(IDLE_MINUTES)
            || now - created_at > Duration::hours(ABSOLUTE_HOURS)
    } else {
        now - last_seen > Duration::minutes(LOGIN_MINUTES)
    }
}

impl UsagerSession {
    /// True when ended at `now`.
    pub fn ended(&self, now: NaiveDateTime) -> bool {
        ended(self.logged_in, self.created_at, self.last_seen, now)
    }

    /// Checks the CSRF token of a POST form (constant time).
    pub fn check_csrf(&self, given: &str) -> Result<(), Error> {
        if !given.is_empty() && constant_time_eq(given.as_bytes(), self.csrf_token.as_bytes()) {
            Ok(())
        } else {
            Err(Error::Csrf)
        }
    }

    /// The journal's actor: `usager:<id>`.
    pub fn actor(&self) -> Option<String> {
        self.usager_id.as_ref().map(|u| format!("usager:{u}"))
    }
}

fn by_hash(conn: &mut DbConn, hash: &str) -> QueryResult<Option<UsagerSession>> {
    usager_sessions::table
        .filter(usager_sessions::id_hash.eq(hash))
        .select(UsagerSession::as_select())
        .first(conn)
        .optional()
}

/// The live session of a cookie token, in the caller's transaction (no write).
pub fn find(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    token: &str,
) -> QueryResult<Option<UsagerSession>> {
    if token.len() != 43 {
        return Ok(None);
    }
    Ok(by_hash(conn, &sha256_hex(token.as_bytes()))?.filter(|s| !s.ended(now.naive_utc())))
}

/// Resolves a cookie token to its live session, noting activity at most once a minute.
pub fn resolve(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    token: Option<&str>,
) -> Result<Option<UsagerSession>, Error> {
    let Some(token) = token else { return Ok(None) };
    let found = crate::store::read_tx(conn, |c| find(c, now, token))?;
    if let Some(s) = &found {
        if s.logged_in && (now.naive_utc() - s.last_seen).num_seconds() >= TOUCH_EVERY_SECONDS {
            write_tx(conn, |c| {
                diesel::update(
                    usager_sessions::table.filter(usager_sessions::id_hash.eq(&s.id_hash)),
                )
                .set(usager_sessions::last_seen.eq(now.naive_utc()))
                .execute(c)
            })?;
        }
    }
    Ok(found)
}

/// A new session row, before login; its cookie token.
fn insert_new(conn: &mut DbConn, now: DateTime<Utc>) -> QueryResult<(String, UsagerSession)> {
    let token = new_token();
    let s = UsagerSession {
        id_hash: sha256_hex(token.as_bytes()),
        usager_id: None,
        logged_in: false,
        csrf_token: new_token(),
        login_state_hash: None,
        login_secrets_enc: None,
        remote_id: None,
        created_at: now.naive_utc(),
        last_seen: now.naive_utc(),
    };
    diesel::insert_into(usager_sessions::table)
        .values((
            usager_sessions::id_hash.eq(&s.id_hash),
            usager_sessions::usager_id.eq(&s.usager_id),
            usager_sessions::logged_in.eq(false),
            usager_sessions::csrf_token.eq(&s.csrf_token),
            usager_sessions::created_at.eq(s.created_at),
            usager_sessions::last_seen.eq(s.last_seen),
        ))
        .execute(conn)?;
    Ok((token, s))
}

/// The browser's session before login, in the caller's transaction: its live one when it
/// has one that is not logged in, else a new one (`Some(token)`: the cookie to set).
pub fn pre_login_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    token: Option<&str>,
) -> QueryResult<(Option<String>, UsagerSession)> {
    if let Some(t) = token {
        if let Some(s) = find(conn, now, t)? {
            if !s.logged_in {
                return Ok((None, s));
            }
        }
    }
    let (t, s) = insert_new(conn, now)?;
    Ok((Some(t), s))
}

/// The browser's session before login, stored (for a page whose form posts back).
pub fn pre_login(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    token: Option<&str>,
) -> Result<(Option<String>, UsagerSession), Error> {
    Ok(write_tx(conn, |c| pre_login_in(c, now, token))?)
}

/// Records a FranceConnect login under way in the session `session_hash` (its state
/// hashed, its secrets sealed), for the remote consent request `remote` if any, in the
/// caller's transaction. The login clock starts now.
pub fn begin_login_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    session_hash: &str,
    state: &str,
    flow: &FlowSecrets,
    remote: Option<&str>,
) -> Result<(), Error> {
    let sealed = secrets.seal(
        &format!("moi-login:{session_hash}"),
        serde_json::to_string(flow).unwrap_or_default().as_bytes(),
    )?;
    diesel::update(usager_sessions::table.filter(usager_sessions::id_hash.eq(session_hash)))
        .set((
            usager_sessions::login_state_hash.eq(Some(sha256_hex(state.as_bytes()))),
            usager_sessions::login_secrets_enc.eq(Some(sealed)),
            usager_sessions::remote_id.eq(remote),
            usager_sessions::last_seen.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A plain login to `/moi`: the browser's session before login (a new one if needed)
/// records the login under way, in one transaction; the cookie to set, if new.
pub fn begin_login(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    token: Option<&str>,
    state: &str,
    flow: &FlowSecrets,
) -> Result<Option<String>, Error> {
    write_tx(conn, |c| {
        let (new, s) = pre_login_in(c, now, token)?;
        begin_login_in(c, now, secrets, &s.id_hash, state, flow, None)?;
        Ok(new)
    })
}

/// A login under way, found by its `state` and consumed (single use).
#[derive(Debug)]
pub struct PendingLogin {
    /// The session that started it.
    pub session: UsagerSession,
    /// Its nonce and PKCE verifier (None when it came back too late).
    pub flow: Option<FlowSecrets>,
}

/// Finds the session whose login has this `state` and clears it (single use), in the
/// caller's transaction. None: no person's login has this state.
pub fn take_login_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    state: &str,
) -> Result<Option<PendingLogin>, Error> {
    let hash = sha256_hex(state.as_bytes());
    let found: Option<UsagerSession> = usager_sessions::table
        .filter(usager_sessions::login_state_hash.eq(&hash))
        .select(UsagerSession::as_select())
        .first(conn)
        .optional()?;
    let Some(session) = found else {
        return Ok(None);
    };
    let moved = diesel::update(
        usager_sessions::table
            .filter(usager_sessions::id_hash.eq(&session.id_hash))
            .filter(usager_sessions::login_state_hash.eq(&hash)),
    )
    .set((
        usager_sessions::login_state_hash.eq(None::<String>),
        usager_sessions::login_secrets_enc.eq(None::<String>),
    ))
    .execute(conn)?;
    let in_time = now.naive_utc() - session.last_seen <= Duration::minutes(LOGIN_MINUTES);
    let flow = match (&session.login_secrets_enc, moved, in_time) {
        (Some(enc), 1, true) => Some(
            serde_json::from_slice(&secrets.open(&format!("moi-login:{}", session.id_hash), enc)?)
                .map_err(|_| Error::RequestInvalid)?,
        ),
        _ => None,
    };
    Ok(Some(PendingLogin { session, flow }))
}

/// Replaces the session `old_hash` by a new logged-in one (the session id changes at
/// login), in the caller's transaction; the new cookie token and row.
pub fn rotate_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    old_hash: &str,
    usager_id: Option<&str>,
    remote: Option<&str>,
) -> QueryResult<(String, UsagerSession)> {
    delete_in(conn, old_hash)?;
    let (token, mut s) = insert_new(conn, now)?;
    diesel::update(usager_sessions::table.filter(usager_sessions::id_hash.eq(&s.id_hash)))
        .set((
            usager_sessions::usager_id.eq(usager_id),
            usager_sessions::logged_in.eq(true),
            usager_sessions::remote_id.eq(remote),
        ))
        .execute(conn)?;
    s.usager_id = usager_id.map(str::to_string);
    s.logged_in = true;
    s.remote_id = remote.map(str::to_string);
    Ok((token, s))
}

/// Sets the usager of a session and forgets its remote request (after a consent).
pub fn attach_usager_in(conn: &mut DbConn, hash: &str, usager_id: &str) -> QueryResult<usize> {
    diesel::update(usager_sessions::table.filter(usager_sessions::id_hash.eq(hash)))
        .set((
            usager_sessions::usager_id.eq(Some(usager_id)),
            usager_sessions::remote_id.eq(None::<String>),
        ))
        .execute(conn)
}

/// Forgets the remote request of a session (after a refusal).
pub fn forget_remote_in(conn: &mut DbConn, hash: &str) -> QueryResult<usize> {
    diesel::update(usager_sessions::table.filter(usager_sessions::id_hash.eq(hash)))
        .set(usager_sessions::remote_id.eq(None::<String>))
        .execute(conn)
}

/// Deletes a session, in the caller's transaction.
pub fn delete_in(conn: &mut DbConn, hash: &str) -> QueryResult<usize> {
    diesel::delete(usager_sessions::table.filter(usager_sessions::id_hash.eq(hash))).execute(conn)
}

/// Logs out: the session is deleted and `usager.logged_out` journaled, in one transaction.
pub fn logout(conn: &mut DbConn, now: DateTime<Utc>, session: &UsagerSession) -> Result<(), Error> {
    write_tx(conn, |c| {
        delete_in(c, &session.id_hash)?;
        if let Some(u) = &session.usager_id {
            crate::journal::append(
                c,
                now,
                crate::journal::NewEntry::new("usager.logged_out")
                    .actor(format!("usager:{u}"))
                    .usager(u),
            )?;
        }
        Ok(())
    })
}

/// Deletes the sessions ended at `now` (housekeeping), in the caller's transaction.
pub fn purge_in(conn: &mut DbConn, now: DateTime<Utc>) -> QueryResult<usize> {
    let n = now.naive_utc();
    diesel::delete(
        usager_sessions::table.filter(
            usager_sessions::last_seen
                .lt(n - Duration::minutes(IDLE_MINUTES.max(LOGIN_MINUTES)))
                .or(usager_sessions::created_at.lt(n - Duration::hours(ABSOLUTE_HOURS)))
                .or(usager_sessions::logged_in
                    .eq(false)
                    .and(usager_sessions::last_seen.lt(n - Duration::minutes(LOGIN_MINUTES)))),
        ),
    )
    .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_idle_or_in_all_and_logins_come_back_in_time() {
        let t0 = NaiveDateTime::default();
        let m = |n: i64| t0 + Duration::minutes(n);
        // Logged in: 30 minutes idle, 2 hours in all.
        assert!(!ended(true, t0, m(50), m(79)));
        assert!(ended(true, t0, m(50), m(81)));
        assert!(!ended(true, t0, m(119), m(120)));
        assert!(ended(true, t0, m(120), m(121)));
        // Before login: 15 minutes.
        assert!(!ended(false, t0, t0, m(15)));
        assert!(ended(false, t0, t0, m(16)));
    }

    #[test]
    fn the_cookie_is_host_only_over_https() {
        assert_eq!(cookie_name(true), "__Host-procura_moi");
        assert_eq!(cookie_name(false), "procura_moi");
        assert_ne!(cookie_name(false), "procura_session");
    }
}
