//! Server-side sessions stored in the database (several instances can serve one
//! deployment). The cookie carries a random 256-bit token; only its SHA-256 is stored.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::{Map, Value};

use crate::crypto::{new_token, sha256_hex};
use crate::store::schema::sessions;
use crate::store::DbConn;

/// Stage of a session.
pub mod stage {
    /// Not logged in (carries the CSRF token of the login and enrolment forms).
    pub const ANONYMOUS: &str = "anonymous";
    /// Password accepted, second factor awaited.
    pub const PASSWORD: &str = "password";
    /// Fully authenticated.
    pub const FULL: &str = "full";
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
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    /// SHA-256 of the cookie token.
    pub id_hash: String,
    /// The account (password or full stage).
    pub user_id: Option<String>,
    /// See [`stage`].
    pub stage: String,
    /// CSRF token bound to the session.
    pub csrf_token: String,
    /// Creation (login) time.
    pub created_at: NaiveDateTime,
    /// Last request.
    pub last_seen: NaiveDateTime,
    /// Small JSON object (flash messages, pending flow state).
    pub data: String,
}

impl Session {
    /// The data object.
    pub fn data(&self) -> Map<String, Value> {
        serde_json::from_str(&self.data).unwrap_or_default()
    }
}

/// Creates a session; returns the cookie token and the row.
pub fn create(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    user_id: Option<&str>,
    stage: &str,
) -> QueryResult<(String, Session)> {
    let token = new_token();
    let s = Session {
        id_hash: sha256_hex(token.as_bytes()),
        user_id: user_id.map(str::to_string),
        stage: stage.to_string(),
        csrf_token: new_token(),
        created_at: now.naive_utc(),
        last_seen: now.naive_utc(),
        data: "{}".into(),
    };
    diesel::insert_into(sessions::table)
        .values(&s)
        .execute(conn)?;
    Ok((token, s))
}

/// Loads the session of a cookie token; expired sessions are deleted and yield None.
pub fn load(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    token: &str,
) -> QueryResult<Option<Session>> {
    if token.len() != 43 {
        return Ok(None);
    }
    let hash = sha256_hex(token.as_bytes());
    let Some(s) = sessions::table
        .filter(sessions::id_hash.eq(&hash))
        .select(Session::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let now_n = now.naive_utc();
    let stage_limit = if s.stage == stage::PASSWORD {
        policy.second_factor
    } else {
        policy.absolute
    };
    let expired = now_n - s.last_seen > policy.idle || now_n - s.created_at > stage_limit;
    if expired {
        delete(conn, &hash)?;
        return Ok(None);
    }
    if now_n - s.last_seen > Duration::seconds(30) {
        diesel::update(sessions::table.filter(sessions::id_hash.eq(&hash)))
            .set(sessions::last_seen.eq(now_n))
            .execute(conn)?;
    }
    Ok(Some(s))
}

/// Replaces the data object.
pub fn set_data(conn: &mut DbConn, id_hash: &str, data: &Map<String, Value>) -> QueryResult<()> {
    diesel::update(sessions::table.filter(sessions::id_hash.eq(id_hash)))
        .set(sessions::data.eq(Value::Object(data.clone()).to_string()))
        .execute(conn)?;
    Ok(())
}

/// Moves a session to another stage and account, keeping its id (used only before the
/// password stage; login completion rotates the id with [`create`]).
pub fn set_stage(
    conn: &mut DbConn,
    id_hash: &str,
    user_id: Option<&str>,
    stage: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    // The stage's lifetime counts from now (the password stage allows 10 minutes).
    diesel::update(sessions::table.filter(sessions::id_hash.eq(id_hash)))
        .set((
            sessions::user_id.eq(user_id),
            sessions::stage.eq(stage),
            sessions::created_at.eq(now.naive_utc()),
            sessions::last_seen.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
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
