//! Physical TOTP cards: imported by an admin (serial, seed), assigned by a manager after
//! checking one code from the card, unassigned when returned.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::totp;
use crate::crypto::SecretBox;
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::store::schema::totp_cards;
use crate::store::DbConn;

/// Parses `serial,seed` lines (an optional header line `serial,seed`; seeds in base32
/// or hexadecimal). Every line is checked before anything is imported.
pub fn parse_csv(text: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty()
            || (i == 0 && line.to_ascii_lowercase().replace(' ', "") == "serial,seed")
        {
            continue;
        }
        let err = |m: &str| Error::CsvRow {
            line: line_no,
            message: m.to_string(),
        };
        let (serial, seed) = line
            .split_once(',')
            .ok_or_else(|| err("expected serial,seed"))?;
        let serial = serial.trim().trim_matches('"').to_string();
        let seed = seed.trim().trim_matches('"');
        if serial.is_empty()
            || serial.len() > 64
            || !serial
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(err("the serial must be 1 to 64 letters, digits or dashes"));
        }
        let is_hex =
            seed.len() % 2 == 0 && seed.len() >= 20 && seed.chars().all(|c| c.is_ascii_hexdigit());
        let bytes = if is_hex {
            hex::decode(seed).map_err(|_| err("invalid hexadecimal seed"))?
        } else {
            totp::from_base32(seed).map_err(|m| err(&m))?
        };
        if !seen.insert(serial.clone()) {
            return Err(err("this serial appears twice in the file"));
        }
        rows.push((serial, bytes));
    }
    Ok(rows)
}

/// Imports cards in the caller's transaction; existing serials are refused.
pub fn import(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    secrets: &SecretBox,
    rows: &[(String, Vec<u8>)],
) -> Result<usize, Error> {
    for (i, (serial, seed)) in rows.iter().enumerate() {
        let exists: i64 = totp_cards::table
            .filter(totp_cards::serial.eq(serial))
            .count()
            .get_result(conn)
            .map_err(Error::from)?;
        if exists > 0 {
            return Err(Error::CsvRow {
                line: i + 1,
                message: format!("card {serial} is already imported"),
            });
        }
        let id = uuid::Uuid::new_v4().to_string();
        let seed_enc = secrets
            .seal(&format!("card:{id}"), seed)
            .map_err(Error::from)?;
        diesel::insert_into(totp_cards::table)
            .values((
                totp_cards::id.eq(&id),
                totp_cards::serial.eq(serial),
                totp_cards::seed_enc.eq(seed_enc),
                totp_cards::created_at.eq(now.naive_utc()),
            ))
            .execute(conn)
            .map_err(Error::from)?;
    }
    journal::append(
        conn,
        now,
        NewEntry::new("totp_card.imported")
            .actor(actor)
            .detail("count", rows.len() as i64),
    )
    .map_err(Error::from)?;
    Ok(rows.len())
}

/// Assigns an unassigned card to an account after checking one code from it.
#[allow(clippy::too_many_arguments)]
pub fn assign(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    structure: &str,
    secrets: &SecretBox,
    user_id: &str,
    serial: &str,
    code: &str,
) -> Result<(), Error> {
    let card: Option<(String, String, Option<String>, Option<i64>)> = totp_cards::table
        .filter(totp_cards::serial.eq(serial.trim()))
        .select((
            totp_cards::id,
            totp_cards::seed_enc,
            totp_cards::user_id,
            totp_cards::last_step,
        ))
        .first(conn)
        .optional()?;
    let Some((card_id, seed_enc, None, last)) = card else {
        return Err(Error::CardUnavailable);
    };
    let seed = secrets.open(&format!("card:{card_id}"), &seed_enc)?;
    let step = match totp::check(&seed, code, now, last) {
        totp::Check::Accepted(step) => step,
        _ => return Err(Error::WrongCode),
    };
    // One card per account: a previous card goes back to the pool.
    diesel::update(totp_cards::table.filter(totp_cards::user_id.eq(user_id)))
        .set(totp_cards::user_id.eq(None::<String>))
        .execute(conn)?;
    diesel::update(totp_cards::table.filter(totp_cards::id.eq(&card_id)))
        .set((
            totp_cards::user_id.eq(Some(user_id)),
            totp_cards::last_step.eq(Some(step)),
        ))
        .execute(conn)?;
    journal::append(
        conn,
        now,
        NewEntry::new("totp_card.assigned")
            .actor(actor)
            .structure(structure)
            .detail("account", user_id)
            .detail("serial", serial.trim()),
    )?;
    Ok(())
}

/// Unassigns the account's card.
pub fn unassign(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    structure: &str,
    user_id: &str,
) -> Result<(), Error> {
    let serial: Option<String> = totp_cards::table
        .filter(totp_cards::user_id.eq(user_id))
        .select(totp_cards::serial)
        .first(conn)
        .optional()?;
    let Some(serial) = serial else {
        return Err(Error::CardUnavailable);
    };
    diesel::update(totp_cards::table.filter(totp_cards::user_id.eq(user_id)))
        .set(totp_cards::user_id.eq(None::<String>))
        .execute(conn)?;
    journal::append(
        conn,
        now,
        NewEntry::new("totp_card.unassigned")
            .actor(actor)
            .structure(structure)
            .detail("account", user_id)
            .detail("serial", serial.as_str()),
    )?;
    Ok(())
}

/// A card as the operator tracks it.
#[derive(Debug, Clone)]
pub struct CardRow {
    /// Serial number.
    pub serial: String,
    /// When it was imported.
    pub created_at: chrono::NaiveDateTime,
    /// The account it is assigned to: id, name, e-mail (None: in stock).
    pub assigned: Option<(String, String, String)>,
}

/// Every card, by serial, with the account it is assigned to (one query).
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<CardRow>> {
    use crate::store::schema::users;
    type Row = (
        String,
        chrono::NaiveDateTime,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = totp_cards::table
        .left_join(users::table)
        .order(totp_cards::serial.asc())
        .select((
            totp_cards::serial,
            totp_cards::created_at,
            users::id.nullable(),
            users::name.nullable(),
            users::email.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(serial, created_at, id, name, email)| CardRow {
            serial,
            created_at,
            assigned: match (id, name, email) {
                (Some(i), Some(n), Some(e)) => Some((i, n, e)),
                _ => None,
            },
        })
        .collect())
}
