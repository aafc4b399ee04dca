//! The append-only, hash-chained journal.
//!
//! Features call [`append`] inside their own write transaction, so an action and its
//! entry commit or roll back together. The format is specified in `docs/journal.md`.

mod verify;

pub use verify::{verify, Problem, ProblemKind, Report};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use ring::digest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::store::schema::{journal_entries, journal_head};
use crate::store::DbConn;

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Errors from the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The database refused or failed.
    #[error("journal storage error: {0}")]
    Query(#[from] diesel::result::Error),
    /// The entry cannot be encoded canonically.
    #[error("invalid journal entry: {0}")]
    Invalid(String),
}

/// An entry about to be appended: what happened, who did it, to what (ids only).
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    action: String,
    actor: Option<String>,
    structure: Option<String>,
    usager: Option<String>,
    mandate: Option<String>,
    authorisation: Option<String>,
    client: Option<String>,
    details: Map<String, Value>,
}

impl NewEntry {
    /// An entry for `action` (a dotted code such as `service.started`).
    pub fn new(action: &str) -> Self {
        NewEntry {
            action: action.to_string(),
            ..Default::default()
        }
    }

    /// Who acted: `user:<id>`, `usager:<id>`, `cli`, `system`.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// The structure concerned.
    pub fn structure(mut self, id: impl Into<String>) -> Self {
        self.structure = Some(id.into());
        self
    }

    /// The usager concerned (id only, never personal data).
    pub fn usager(mut self, id: impl Into<String>) -> Self {
        self.usager = Some(id.into());
        self
    }

    /// The mandate concerned.
    pub fn mandate(mut self, id: impl Into<String>) -> Self {
        self.mandate = Some(id.into());
        self
    }

    /// The authorisation concerned.
    pub fn authorisation(mut self, id: impl Into<String>) -> Self {
        self.authorisation = Some(id.into());
        self
    }

    /// The OpenID client concerned.
    pub fn client(mut self, id: impl Into<String>) -> Self {
        self.client = Some(id.into());
        self
    }

    /// A detail (small, no personal data; strings, integers, booleans, null, nesting).
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }
}

/// A stored entry, as exported (JSON Lines) and verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = journal_entries)]
pub struct Entry {
    /// Sequence number, 1-based, without gaps.
    pub seq: i64,
    /// When the entry was written (UTC, microseconds).
    #[serde(with = "rfc3339_micros")]
    pub at: NaiveDateTime,
    /// Action code.
    pub action: String,
    /// Who acted.
    pub actor: Option<String>,
    /// Structure id.
    #[serde(rename = "structure")]
    pub structure_id: Option<String>,
    /// Usager id.
    #[serde(rename = "usager")]
    pub usager_id: Option<String>,
    /// Mandate id.
    #[serde(rename = "mandate")]
    pub mandate_id: Option<String>,
    /// Authorisation id.
    #[serde(rename = "authorisation")]
    pub authorisation_id: Option<String>,
    /// OpenID client id.
    #[serde(rename = "client")]
    pub client_id: Option<String>,
    /// Details, as canonical JSON text.
    #[serde(with = "details_as_object")]
    pub details: String,
    /// Hash of the previous entry (hex), or [`GENESIS_HASH`].
    pub prev_hash: String,
    /// SHA-256 (hex) of this entry's canonical encoding.
    pub hash: String,
}

/// Formats a time as the journal does: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format_time(at: &NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

mod rfc3339_micros {
    use chrono::NaiveDateTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let s = String::deserialize(d)?;
        NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.6fZ")
            .map_err(serde::de::Error::custom)
    }
}

mod details_as_object {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(details: &str, s: S) -> Result<S::Ok, S::Error> {
        let v: Value = serde_json::from_str(details).map_err(serde::ser::Error::custom)?;
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(super::canonical_json(&v))
    }
}

/// Canonical JSON (RFC 8785 for the values the journal allows): keys sorted, no spaces.
///
/// serde_json's default map is ordered by key and its string escaping matches RFC 8785
/// for the ASCII keys and integer numbers that [`check_value`] allows.
pub fn canonical_json(v: &Value) -> String {
    v.to_string()
}

/// Only integers (no floats, whose text form differs between languages) and ASCII keys.
fn check_value(v: &Value) -> Result<(), JournalError> {
    match v {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => Err(JournalError::Invalid(format!(
            "detail number {n} is not an integer"
        ))),
        Value::Array(items) => items.iter().try_for_each(check_value),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            if !k.is_ascii() || k.is_empty() {
                return Err(JournalError::Invalid(format!(
                    "detail key {k:?} is not ASCII"
                )));
            }
            check_value(v)
        }),
        _ => Ok(()),
    }
}

impl Entry {
    /// The canonical encoding that is hashed: every field but `hash`, as canonical JSON.
    pub fn canonical(&self) -> String {
        let details: Value = serde_json::from_str(&self.details).unwrap_or(Value::Null);
        let opt = |o: &Option<String>| o.clone().map(Value::String).unwrap_or(Value::Null);
        let mut m = Map::new();
        m.insert("seq".into(), Value::from(self.seq));
        m.insert("at".into(), Value::String(format_time(&self.at)));
        m.insert("action".into(), Value::String(self.action.clone()));
        m.insert("actor".into(), opt(&self.actor));
        m.insert("structure".into(), opt(&self.structure_id));
        m.insert("usager".into(), opt(&self.usager_id));
        m.insert("mandate".into(), opt(&self.mandate_id));
        m.insert("authorisation".into(), opt(&self.authorisation_id));
        m.insert("client".into(), opt(&self.client_id));
        m.insert("details".into(), details);
        m.insert("prev_hash".into(), Value::String(self.prev_hash.clone()));
        canonical_json(&Value::Object(m))
    }

    /// SHA-256 of [`Entry::canonical`], lowercase hex.
    pub fn compute_hash(&self) -> String {
        hex::encode(digest::digest(&digest::SHA256, self.canonical().as_bytes()))
    }
}

/// Appends `entry` at time `at`, inside the caller's transaction (see
/// [`crate::store::write_tx`]). The chain head row is updated first, which serialises
/// concurrent appenders on both backends; a rollback takes the sequence number back.
pub fn append(
    conn: &mut DbConn,
    at: DateTime<Utc>,
    entry: NewEntry,
) -> Result<Entry, JournalError> {
    if entry.action.is_empty() || !entry.action.is_ascii() {
        return Err(JournalError::Invalid(
            "action code must be non-empty ASCII".into(),
        ));
    }
    let details = Value::Object(entry.details);
    check_value(&details)?;
    let (seq, prev_hash): (i64, String) =
        diesel::update(journal_head::table.filter(journal_head::id.eq(1)))
            .set(journal_head::seq.eq(journal_head::seq + 1))
            .returning((journal_head::seq, journal_head::hash))
            .get_result(conn)?;
    let mut stored = Entry {
        seq,
        at: at.naive_utc(),
        action: entry.action,
        actor: entry.actor,
        structure_id: entry.structure,
        usager_id: entry.usager,
        mandate_id: entry.mandate,
        authorisation_id: entry.authorisation,
        client_id: entry.client,
        details: canonical_json(&details),
        prev_hash,
        hash: String::new(),
    };
    stored.hash = stored.compute_hash();
    diesel::insert_into(journal_entries::table)
        .values(&stored)
        .execute(conn)?;
    diesel::update(journal_head::table.filter(journal_head::id.eq(1)))
        .set(journal_head::hash.eq(&stored.hash))
        .execute(conn)?;
    Ok(stored)
}

/// Number of entries (the chain head's sequence number).
pub fn length(conn: &mut DbConn) -> Result<i64, JournalError> {
    Ok(journal_head::table
        .select(journal_head::seq)
        .filter(journal_head::id.eq(1))
        .first(conn)?)
}

/// Entries with `seq > after`, in order, at most `limit`.
pub fn entries_after(
    conn: &mut DbConn,
    after: i64,
    limit: i64,
) -> Result<Vec<Entry>, JournalError> {
    Ok(journal_entries::table
        .filter(journal_entries::seq.gt(after))
        .order(journal_entries::seq.asc())
        .limit(limit)
        .select(Entry::as_select())
        .load(conn)?)
}

/// Writes entries with `seq >= since` as JSON Lines to `out`; returns how many.
pub fn export(
    conn: &mut DbConn,
    since: i64,
    out: &mut dyn std::io::Write,
) -> Result<u64, anyhow::Error> {
    let mut after = since.saturating_sub(1).max(0);
    let mut n = 0;
    loop {
        let batch = entries_after(conn, after, 5000)?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for e in &batch {
            serde_json::to_writer(&mut *out, e)?;
            out.write_all(b"\n")?;
            n += 1;
        }
    }
    out.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of docs/journal.md, whose hash was computed independently (Python's
    /// `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`).
    #[test]
    fn documented_example_hash() {
        let e = Entry {
            seq: 1,
            at: NaiveDateTime::parse_from_str(
                "2026-11-28T09:00:00.000000Z",
                "%Y-%m-%dT%H:%M:%S%.6fZ",
            )
            .expect("time"),
            action: "structure.created".into(),
            actor: Some("cli".into()),
            structure_id: Some("5f0c3a52-8d0e-4d7e-9d55-2f4b1c1e9a10".into()),
            usager_id: None,
            mandate_id: None,
            authorisation_id: None,
            client_id: None,
            details: canonical_json(&serde_json::json!({"note": "Élancourt", "n": 3})),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        };
        assert_eq!(
            e.canonical(),
            r#"{"action":"structure.created","actor":"cli","at":"2026-11-28T09:00:00.000000Z","authorisation":null,"client":null,"details":{"n":3,"note":"Élancourt"},"mandate":null,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"structure":"5f0c3a52-8d0e-4d7e-9d55-2f4b1c1e9a10","usager":null}"#
        );
        assert_eq!(
            e.compute_hash(),
            "26cfa1356ad3c7db45acd1de84b4ae174a2c8472b0b01ced64310c5a4497fbad"
        );
    }

    #[test]
    fn control_characters_escape_as_in_rfc_8785() {
        let v = serde_json::json!({"b": "a\u{1}\n\"\\/é", "a": [1, -2, true, null]});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":[1,-2,true,null],"b":"a\u0001\n\"\\/é"}"#
        );
    }
}
