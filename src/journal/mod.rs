//! The append-only, hash-chained journal.
//!
//! Features call [`append`] inside their own write transaction, so an action and its
//! entry commit or roll back together. The format is specified in `docs/journal.md`.

pub mod browse;
pub mod checkpoint;
pub mod excerpt;
pub mod filter;
pub mod merkle;
pub mod note;
pub mod receipt;
mod verify;

pub use verify::{
    verify, verify_export, verify_export_with, verify_with, Checkpoints, Problem, ProblemKind,
    Report, Verifier,
};

use std::borrow::Cow;

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
    /// The entry cannot be encoded canonically, or the stored journal is not what a
    /// checkpoint can cover.
    #[error("invalid journal entry: {0}")]
    Invalid(String),
    /// A proof or root was asked for outside the checkpointed tree (the caller's input).
    #[error("{0}")]
    OutOfRange(String),
    /// The checkpoint signing key is missing or cannot be used.
    #[error("journal signing key: {0}")]
    Key(String),
}

/// Builder methods setting one reference of an entry each.
macro_rules! reference_setters {
    ($($(#[$doc:meta])* $field:ident,)+) => {
        $(
            $(#[$doc])*
            pub fn $field(mut self, id: impl Into<String>) -> Self {
                self.$field = Some(id.into());
                self
            }
        )+
    };
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

    reference_setters! {
        /// Who acted: `user:<id>`, `usager:<id>`, `cli`, `system`.
        actor,
        /// The structure concerned.
        structure,
        /// The usager concerned (id only, never personal data).
        usager,
        /// The mandate concerned.
        mandate,
        /// The authorisation concerned.
        authorisation,
        /// The OpenID client concerned.
        client,
    }

    /// The structure concerned, when there is one.
    pub fn structure_opt(mut self, id: Option<&str>) -> Self {
        self.structure = id.map(str::to_string).or(self.structure);
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

/// How deep containers may nest in `details`, the details object being level 1.
pub const MAX_DETAILS_DEPTH: usize = 32;

/// The values `details` may hold (docs/journal.md): integers from -2^63 to 2^63-1 only (no
/// floats, whose text form differs between languages), non-empty ASCII keys, containers
/// nested at most [`MAX_DETAILS_DEPTH`] deep. `level` is the level of `v` if it is a
/// container.
fn check_value(v: &Value, level: usize) -> Result<(), JournalError> {
    let deep = || {
        JournalError::Invalid(format!(
            "details nest deeper than {MAX_DETAILS_DEPTH} levels"
        ))
    };
    match v {
        Value::Number(n) if !n.is_i64() => Err(JournalError::Invalid(format!(
            "detail number {n} is not an integer from -2^63 to 2^63-1"
        ))),
        Value::Array(_) | Value::Object(_) if level > MAX_DETAILS_DEPTH => Err(deep()),
        Value::Array(items) => items.iter().try_for_each(|v| check_value(v, level + 1)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            if !k.is_ascii() || k.is_empty() {
                return Err(JournalError::Invalid(format!(
                    "detail key {k:?} is not ASCII"
                )));
            }
            check_value(v, level + 1)
        }),
        _ => Ok(()),
    }
}

/// True when `at` is in the journal's text form, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (digits
/// where the form has letters; the calendar is not checked).
pub fn at_is_journal_form(at: &str) -> bool {
    let b = at.as_bytes();
    b.len() == 27
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            26 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

impl Entry {
    /// The canonical encoding that is hashed: every field but `hash`, as canonical JSON.
    ///
    /// `details` is used as stored when it is already canonical (as [`append`] stores
    /// it), and re-encoded otherwise.
    pub fn canonical(&self) -> String {
        let mut at = TimeText::default();
        let details = canonical_details(&self.details)
            .unwrap_or_else(|| Cow::Owned(canonical_json(&Value::Null)));
        let mut buf = Vec::with_capacity(CANONICAL_CAPACITY);
        write_canonical(&mut buf, &self.fields(at.format(&self.at), &details));
        // Only UTF-8 text and ASCII punctuation were written.
        String::from_utf8(buf).unwrap_or_default()
    }

    /// SHA-256 of [`Entry::canonical`], lowercase hex.
    pub fn compute_hash(&self) -> String {
        let digest = digest::digest(&digest::SHA256, self.canonical().as_bytes());
        let mut hex = [0u8; 64];
        hex_digest(&digest, &mut hex);
        String::from_utf8_lossy(&hex).into_owned()
    }

    /// The entry's fields as text, with `at` and `details` given already formatted.
    fn fields<'a>(&'a self, at: &'a str, details: &'a str) -> Fields<'a> {
        Fields {
            seq: self.seq,
            at,
            action: &self.action,
            actor: self.actor.as_deref(),
            structure: self.structure_id.as_deref(),
            usager: self.usager_id.as_deref(),
            mandate: self.mandate_id.as_deref(),
            authorisation: self.authorisation_id.as_deref(),
            client: self.client_id.as_deref(),
            details,
            prev_hash: &self.prev_hash,
        }
    }
}

/// Room for a typical canonical encoding, so that buffers rarely grow.
const CANONICAL_CAPACITY: usize = 1024;

/// The members of an entry but `hash`, as text: `at` formatted as the journal does and
/// `details` as canonical JSON text. Both the canonical encoding and the export line are
/// written from this, without building a JSON value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    pub seq: i64,
    pub at: &'a str,
    pub action: &'a str,
    pub actor: Option<&'a str>,
    pub structure: Option<&'a str>,
    pub usager: Option<&'a str>,
    pub mandate: Option<&'a str>,
    pub authorisation: Option<&'a str>,
    pub client: Option<&'a str>,
    pub details: &'a str,
    pub prev_hash: &'a str,
}

/// Writes the canonical encoding (docs/journal.md): members sorted by key, no spaces.
/// `details` is written as given: the caller makes sure it is canonical.
pub(crate) fn write_canonical(buf: &mut Vec<u8>, f: &Fields<'_>) {
    buf.extend_from_slice(b"{\"action\":");
    push_json_str(buf, f.action);
    buf.extend_from_slice(b",\"actor\":");
    push_json_opt(buf, f.actor);
    buf.extend_from_slice(b",\"at\":");
    push_json_str(buf, f.at);
    buf.extend_from_slice(b",\"authorisation\":");
    push_json_opt(buf, f.authorisation);
    buf.extend_from_slice(b",\"client\":");
    push_json_opt(buf, f.client);
    buf.extend_from_slice(b",\"details\":");
    buf.extend_from_slice(f.details.as_bytes());
    buf.extend_from_slice(b",\"mandate\":");
    push_json_opt(buf, f.mandate);
    buf.extend_from_slice(b",\"prev_hash\":");
    push_json_str(buf, f.prev_hash);
    buf.extend_from_slice(b",\"seq\":");
    push_i64(buf, f.seq);
    buf.extend_from_slice(b",\"structure\":");
    push_json_opt(buf, f.structure);
    buf.extend_from_slice(b",\"usager\":");
    push_json_opt(buf, f.usager);
    buf.push(b'}');
}

/// Writes one export line (JSON Lines, members in the order of [`Entry`], as serde
/// writes it), with its final newline.
pub(crate) fn write_export_line(buf: &mut Vec<u8>, f: &Fields<'_>, hash: &str) {
    buf.extend_from_slice(b"{\"seq\":");
    push_i64(buf, f.seq);
    buf.extend_from_slice(b",\"at\":");
    push_json_str(buf, f.at);
    buf.extend_from_slice(b",\"action\":");
    push_json_str(buf, f.action);
    buf.extend_from_slice(b",\"actor\":");
    push_json_opt(buf, f.actor);
    buf.extend_from_slice(b",\"structure\":");
    push_json_opt(buf, f.structure);
    buf.extend_from_slice(b",\"usager\":");
    push_json_opt(buf, f.usager);
    buf.extend_from_slice(b",\"mandate\":");
    push_json_opt(buf, f.mandate);
    buf.extend_from_slice(b",\"authorisation\":");
    push_json_opt(buf, f.authorisation);
    buf.extend_from_slice(b",\"client\":");
    push_json_opt(buf, f.client);
    buf.extend_from_slice(b",\"details\":");
    buf.extend_from_slice(f.details.as_bytes());
    buf.extend_from_slice(b",\"prev_hash\":");
    push_json_str(buf, f.prev_hash);
    buf.extend_from_slice(b",\"hash\":");
    push_json_str(buf, hash);
    buf.extend_from_slice(b"}\n");
}

fn push_json_opt(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => push_json_str(buf, s),
        None => buf.extend_from_slice(b"null"),
    }
}

/// A JSON string as serde_json and RFC 8785 write it: only `"`, `\` and control
/// characters escaped (`\b \t \n \f \r`, others as `\u00xx`), everything else as is.
fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    buf.reserve(bytes.len() + 2);
    buf.push(b'"');
    let mut start = 0;
    loop {
        let i = next_escape(bytes, start);
        buf.extend_from_slice(&bytes[start..i]);
        let Some(&b) = bytes.get(i) else { break };
        start = i + 1;
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            0x08 => buf.extend_from_slice(b"\\b"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            0x0c => buf.extend_from_slice(b"\\f"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]),
        }
    }
    buf.push(b'"');
}

/// The index of the first byte at or after `from` that a JSON string escapes (`"`, `\`,
/// a control character), or the length. Eight bytes at a time.
fn next_escape(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Non-zero when a byte of `v` is below `n` (n <= 128): exact, no false positive.
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        if below(v, 0x20)
            | below(v ^ (ONES * u64::from(b'"')), 1)
            | below(v ^ (ONES * u64::from(b'\\')), 1)
            != 0
        {
            break;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b < 0x20 || b == b'"' || b == b'\\' {
            break;
        }
        i += 1;
    }
    i
}

fn push_i64(buf: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Lowercase hex of a SHA-256 digest.
pub(crate) fn hex_digest(d: &digest::Digest, out: &mut [u8; 64]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in d.as_ref().iter().take(32).enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 0xf) as usize];
    }
}

/// A time formatted as the journal does, without allocating in the usual case.
#[derive(Debug, Default)]
pub(crate) struct TimeText {
    fixed: [u8; 27],
    other: String,
}

impl TimeText {
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, as [`format_time`] writes it.
    pub fn format(&mut self, at: &NaiveDateTime) -> &str {
        use chrono::{Datelike, Timelike};
        let (year, nanos) = (at.year(), at.nanosecond());
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            // Outside four-digit years, or a leap second: chrono's own formatting.
            self.other = format_time(at);
            return &self.other;
        }
        let b = &mut self.fixed;
        put_digits(&mut b[0..4], year as u32);
        b[4] = b'-';
        put_digits(&mut b[5..7], at.month());
        b[7] = b'-';
        put_digits(&mut b[8..10], at.day());
        b[10] = b'T';
        put_digits(&mut b[11..13], at.hour());
        b[13] = b':';
        put_digits(&mut b[14..16], at.minute());
        b[16] = b':';
        put_digits(&mut b[17..19], at.second());
        b[19] = b'.';
        put_digits(&mut b[20..26], nanos / 1000);
        b[26] = b'Z';
        std::str::from_utf8(&self.fixed).unwrap_or_default()
    }
}

/// Writes `v` in decimal, zero-padded to the width of `out`.
pub(crate) fn put_digits(out: &mut [u8], mut v: u32) {
    for d in out.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// `details` as canonical JSON text: borrowed when it already is (the usual case, checked
/// without parsing), re-encoded when it parses but is not canonical, `None` when it is
/// not JSON at all.
pub fn canonical_details(details: &str) -> Option<Cow<'_, str>> {
    if canonical::is_canonical(details.as_bytes()) {
        return Some(Cow::Borrowed(details));
    }
    let v: Value = serde_json::from_str(details).ok()?;
    let c = canonical_json(&v);
    Some(if c == details {
        Cow::Borrowed(details)
    } else {
        Cow::Owned(c)
    })
}

/// True when `details` is a JSON object of the allowed values ([`check_value`]) written
/// exactly as `canonical_json(parse(details))`: what is stored is what is hashed, so it
/// must already be canonical. Duplicate keys, whitespace, floats, other escapes or number
/// forms make it false.
pub fn details_are_canonical(details: &str) -> bool {
    if !details.starts_with('{') {
        return false;
    }
    if canonical::is_canonical(details.as_bytes()) {
        return true;
    }
    let Ok(v) = serde_json::from_str::<Value>(details) else {
        return false;
    };
    v.is_object() && check_value(&v, 1).is_ok() && canonical_json(&v) == details
}

/// A conservative check of canonical JSON text, without parsing into values.
///
/// It accepts only text that [`canonical_json`] would write back unchanged and that
/// [`check_value`] allows: no whitespace, non-empty ASCII object keys without escapes in
/// strictly increasing byte order, strings escaped exactly as [`push_json_str`] does,
/// integers without sign on zero, leading zeros or more than 18 digits, containers
/// nested less than [`super::MAX_DETAILS_DEPTH`] deep. Whatever it refuses is decided by
/// parsing and re-encoding ([`details_are_canonical`]), so a refusal is never wrong, only
/// slower.
mod canonical {
    const MAX_DEPTH: usize = super::MAX_DETAILS_DEPTH - 1;

    pub fn is_canonical(s: &[u8]) -> bool {
        let mut p = Parser { s, i: 0 };
        p.value(0) && p.i == s.len()
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }

        fn eat(&mut self, b: u8) -> bool {
            if self.peek() == Some(b) {
                self.i += 1;
                true
            } else {
                false
            }
        }

        fn literal(&mut self, lit: &[u8]) -> bool {
            if self.s[self.i..].starts_with(lit) {
                self.i += lit.len();
                true
            } else {
                false
            }
        }

        fn value(&mut self, depth: usize) -> bool {
            if depth > MAX_DEPTH {
                return false;
            }
            match self.peek() {
                Some(b'{') => self.object(depth),
                Some(b'[') => self.array(depth),
                Some(b'"') => self.string().is_some(),
                Some(b't') => self.literal(b"true"),
                Some(b'f') => self.literal(b"false"),
                Some(b'n') => self.literal(b"null"),
                Some(b'-' | b'0'..=b'9') => self.integer(),
                _ => false,
            }
        }

        fn object(&mut self, depth: usize) -> bool {
            self.i += 1;
            if self.eat(b'}') {
                return true;
            }
            let s = self.s;
            let mut prev: Option<&[u8]> = None;
            loop {
                let Some(key) = self.key().map(|(a, b)| &s[a..b]) else {
                    return false;
                };
                if key.is_empty() || !key.is_ascii() {
                    return false;
                }
                if prev.is_some_and(|p| p >= key) {
                    return false;
                }
                prev = Some(key);
                if !self.eat(b':') || !self.value(depth + 1) {
                    return false;
                }
                if self.eat(b'}') {
                    return true;
                }
                if !self.eat(b',') {
                    return false;
                }
            }
        }

        fn array(&mut self, depth: usize) -> bool {
            self.i += 1;
            if self.eat(b']') {
                return true;
            }
            loop {
                if !self.value(depth + 1) {
                    return false;
                }
                if self.eat(b']') {
                    return true;
                }
                if !self.eat(b',') {
                    return false;
                }
            }
        }

        /// A key: a string without escapes, so that its bytes are what is sorted.
        fn key(&mut self) -> Option<(usize, usize)> {
            let start = self.i + 1;
            let escaped = self.string()?;
            (!escaped).then_some((start, self.i - 1))
        }

        /// A canonically escaped string; returns whether it holds an escape.
        fn string(&mut self) -> Option<bool> {
            if !self.eat(b'"') {
                return None;
            }
            let mut escaped = false;
            loop {
                let b = self.peek()?;
                self.i += 1;
                match b {
                    b'"' => return Some(escaped),
                    0x00..=0x1f => return None,
                    b'\\' => {
                        escaped = true;
                        let e = self.peek()?;
                        self.i += 1;
                        match e {
                            b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r' => {}
                            b'u' => {
                                let h = self.s.get(self.i..self.i + 4)?;
                                self.i += 4;
                                let ok = h[0] == b'0'
                                    && h[1] == b'0'
                                    && matches!(h[2], b'0' | b'1')
                                    && matches!(h[3], b'0'..=b'9' | b'a'..=b'f');
                                // Those with a short form must use it.
                                let short = h[2] == b'0'
                                    && matches!(h[3], b'8' | b'9' | b'a' | b'c' | b'd');
                                if !ok || short {
                                    return None;
                                }
                            }
                            _ => return None,
                        }
                    }
                    _ => {}
                }
            }
        }

        fn integer(&mut self) -> bool {
            let negative = self.eat(b'-');
            let start = self.i;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            let digits = &self.s[start..self.i];
            let ok = match digits {
                [] => false,
                [b'0'] => !negative,
                [b'0', ..] => false,
                _ => digits.len() <= 18,
            };
            ok && !matches!(self.peek(), Some(b'.' | b'e' | b'E'))
        }
    }
}

/// Appends `entry` at time `at`, inside the caller's transaction (see
/// [`crate::store::write_tx`]), in two statements: read the chain head, insert.
///
/// The database accepts the insert only at the head's next number with the head's hash
/// as `prev_hash`, and moves the head itself (migration `journal_guard`). Appenders are
/// serialised by the head's row lock on PostgreSQL (`FOR UPDATE`) and by the write lock
/// that `BEGIN IMMEDIATE` took on SQLite; a rollback takes the sequence number back.
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
    check_value(&details, 1)?;
    let head = journal_head::table
        .filter(journal_head::id.eq(1))
        .select((journal_head::seq, journal_head::hash));
    let (head_seq, prev_hash): (i64, String) = match conn {
        DbConn::Pg(c) => head.for_update().first(c)?,
        DbConn::Sqlite(c) => head.first(c)?,
    };
    let mut stored = Entry {
        seq: head_seq + 1,
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

/// The `format` of an export's first line (docs/journal.md, "Exports").
pub const EXPORT_FORMAT: &str = "procura-journal-export-1";

/// The chain head recorded beside the journal: its `seq` and `hash`.
pub fn head(conn: &mut DbConn) -> Result<(i64, String), JournalError> {
    Ok(journal_head::table
        .filter(journal_head::id.eq(1))
        .select((journal_head::seq, journal_head::hash))
        .first(conn)?)
}

/// Takes the chain head's lock now, as [`append`] would, until the transaction ends
/// (PostgreSQL; SQLite's write transaction already excludes other writers). For a use
/// case that locks its own rows before appending: taking the head first keeps the one
/// lock order that appenders follow (head, then rows), so that no two wait on each other.
pub fn lock_head(conn: &mut DbConn) -> Result<(), JournalError> {
    if let DbConn::Pg(c) = conn {
        journal_head::table
            .filter(journal_head::id.eq(1))
            .select(journal_head::seq)
            .for_update()
            .first::<i64>(c)?;
    }
    Ok(())
}

/// Writes an export's first line: canonical JSON (keys sorted, no whitespace) stating
/// what follows, so that a verifier tells an export `--since` from a truncated one.
pub(crate) fn write_header(
    buf: &mut Vec<u8>,
    since: i64,
    prev_hash: &str,
    head_seq: i64,
    head_hash: &str,
) {
    buf.extend_from_slice(b"{\"format\":");
    push_json_str(buf, EXPORT_FORMAT);
    buf.extend_from_slice(b",\"head_hash\":");
    push_json_str(buf, head_hash);
    buf.extend_from_slice(b",\"head_seq\":");
    push_i64(buf, head_seq);
    buf.extend_from_slice(b",\"prev_hash\":");
    push_json_str(buf, prev_hash);
    buf.extend_from_slice(b",\"since\":");
    push_i64(buf, since);
    buf.extend_from_slice(b"}\n");
}

/// A JSON string holding `s`, escaped as the journal escapes strings.
pub(crate) fn json_string(s: &str) -> String {
    let mut buf = Vec::with_capacity(s.len() + 2);
    push_json_str(&mut buf, s);
    // Only `s` and ASCII escapes were written.
    String::from_utf8(buf).unwrap_or_default()
}

/// Writes the export of entries with `seq >= since` to `out` (docs/journal.md, "Exports"):
/// a header line, then one entry a line; returns how many entries.
///
/// The header and the entries come from one snapshot of the database. Entries are
/// written as stored: `details` as its stored text when that is canonical and as a JSON
/// string of it otherwise, `at` in the journal's form when stored as Procura stores it
/// and as `stored:<text>` otherwise, so that a verifier of the export finds what
/// `procura journal verify` finds. Rows are read in keyset-paginated batches and written
/// as they come: memory stays constant whatever the length of the journal.
pub fn export(
    conn: &mut DbConn,
    since: i64,
    out: &mut dyn std::io::Write,
) -> Result<u64, anyhow::Error> {
    crate::store::snapshot_tx(conn, |conn| export_snapshot(conn, since, out))
}

fn export_snapshot(
    conn: &mut DbConn,
    since: i64,
    out: &mut dyn std::io::Write,
) -> Result<u64, anyhow::Error> {
    let (head_seq, head_hash) = head(conn)?;
    // From 1 to one past the head: an export past the head holds no entry.
    let since = since.clamp(1, head_seq.saturating_add(1).max(1));
    let prev_hash = if since == 1 {
        GENESIS_HASH.to_string()
    } else {
        // Absent when entry `since - 1` was removed: the first entry's link then fails.
        journal_entries::table
            .filter(journal_entries::seq.eq(since - 1))
            .select(journal_entries::hash)
            .first::<String>(conn)
            .optional()?
            .unwrap_or_default()
    };
    let mut line = Vec::with_capacity(CANONICAL_CAPACITY);
    write_header(&mut line, since, &prev_hash, head_seq, &head_hash);
    out.write_all(&line)?;
    let mut after = since - 1;
    let mut n = 0;
    loop {
        let read = rows::for_each(conn, after, EXPORT_BATCH, |row| -> anyhow::Result<bool> {
            after = row.seq;
            line.clear();
            write_stored_line(&mut line, row.fields(), row.hash());
            out.write_all(&line)?;
            n += 1;
            Ok(true)
        })?;
        if read < EXPORT_BATCH {
            break;
        }
    }
    out.flush()?;
    Ok(n)
}

const EXPORT_BATCH: usize = 100_000;

/// Writes a stored entry's export line (with its LF) so that no verifier accepts what is
/// not canonical: stored `details` that are not canonical as a JSON string.
pub(crate) fn write_stored_line(line: &mut Vec<u8>, f: Fields<'_>, hash: &str) {
    let details = if details_are_canonical(f.details) {
        Cow::Borrowed(f.details)
    } else {
        Cow::Owned(json_string(f.details))
    };
    write_export_line(
        line,
        &Fields {
            details: &details,
            ..f
        },
        hash,
    );
}

/// Reading stored rows without building an [`Entry`]: each row's text columns land in
/// one buffer, and `at` is formatted as the journal writes it straight from the stored
/// value (SQLite text, PostgreSQL microseconds), falling back to chrono for anything
/// unusual.
pub(crate) mod rows {
    use chrono::NaiveDateTime;
    use diesel::connection::DefaultLoadingMode;
    use diesel::deserialize::{self, FromSql, FromSqlRow};
    use diesel::pg::{Pg, PgRowByRowLoadingMode};
    use diesel::prelude::*;
    use diesel::result::{UnexpectedEndOfRow, UnexpectedNullError};
    use diesel::row::{Field, Row};
    use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
    use diesel::sqlite::Sqlite;

    use super::{format_time, put_digits, Fields};
    use crate::store::schema::journal_entries;
    use crate::store::DbConn;

    type RowSql = (
        BigInt,
        Timestamp,
        Text,
        Nullable<Text>,
        Nullable<Text>,
        Nullable<Text>,
        Nullable<Text>,
        Nullable<Text>,
        Nullable<Text>,
        Text,
        Text,
        Text,
    );

    /// Text columns after `seq`, in select order.
    const TEXT_COLUMNS: usize = 11;
    const AT: usize = 0;
    const HASH: usize = 10;

    /// One stored entry: `seq`, then `at` (formatted) and the text columns, in one buffer.
    #[derive(Debug)]
    pub struct StoredRow {
        pub seq: i64,
        text: String,
        ends: [u32; TEXT_COLUMNS],
        nulls: u16,
    }

    impl StoredRow {
        fn new(seq: i64) -> Self {
            StoredRow {
                seq,
                text: String::with_capacity(512),
                ends: [0; TEXT_COLUMNS],
                nulls: 0,
            }
        }

        fn end(&mut self, column: usize) {
            self.ends[column] = self.text.len() as u32;
        }

        fn get(&self, column: usize) -> Option<&str> {
            if self.nulls & (1 << column) != 0 {
                return None;
            }
            let start = if column == 0 {
                0
            } else {
                self.ends[column - 1]
            };
            self.text.get(start as usize..self.ends[column] as usize)
        }

        fn text(&self, column: usize) -> &str {
            self.get(column).unwrap_or_default()
        }

        /// The members but `hash`; `details` as stored.
        pub fn fields(&self) -> Fields<'_> {
            Fields {
                seq: self.seq,
                at: self.text(AT),
                action: self.text(1),
                actor: self.get(2),
                structure: self.get(3),
                usager: self.get(4),
                mandate: self.get(5),
                authorisation: self.get(6),
                client: self.get(7),
                details: self.text(8),
                prev_hash: self.text(9),
            }
        }

        /// The stored hash.
        pub fn hash(&self) -> &str {
            self.text(HASH)
        }

        /// Reads the text columns (indices 2.. of the row) with `read`, which gives the
        /// column's text or `None` for NULL.
        fn read_texts<'a, DB, R>(
            &mut self,
            row: &R,
            mut read: impl FnMut(&R, usize, &mut String) -> deserialize::Result<bool>,
        ) -> deserialize::Result<()>
        where
            DB: diesel::backend::Backend,
            R: Row<'a, DB>,
        {
            for column in 1..TEXT_COLUMNS {
                let nullable = (2..=7).contains(&column);
                if !read(row, column + 1, &mut self.text)? {
                    if !nullable {
                        return Err(Box::new(UnexpectedNullError));
                    }
                    self.nulls |= 1 << column;
                }
                self.end(column);
            }
            Ok(())
        }
    }

    impl FromSqlRow<RowSql, Sqlite> for StoredRow {
        fn build_from_row<'a>(row: &impl Row<'a, Sqlite>) -> deserialize::Result<Self> {
            let mut r = StoredRow::new(row.get_value::<BigInt, i64, _>(0)?);
            let field = row.get(1).ok_or(UnexpectedEndOfRow)?;
            let mut value = field.value().ok_or(UnexpectedNullError)?;
            let stored = value.read_text();
            // What is hashed is what is stored: only the text that diesel writes for the
            // time it denotes reads as that time; any other text form stays visible.
            if !(diesel_writes(stored) && sqlite_time(stored, &mut r.text)) {
                r.text.push_str(STORED_PREFIX);
                r.text.push_str(stored);
            }
            r.end(AT);
            r.read_texts(row, |row, i, out| {
                let field = row.get(i).ok_or(UnexpectedEndOfRow)?;
                let present = match field.value() {
                    Some(mut v) => {
                        out.push_str(v.read_text());
                        true
                    }
                    None => false,
                };
                Ok(present)
            })?;
            Ok(r)
        }
    }

    impl FromSqlRow<RowSql, Pg> for StoredRow {
        fn build_from_row<'a>(row: &impl Row<'a, Pg>) -> deserialize::Result<Self> {
            let mut r = StoredRow::new(row.get_value::<BigInt, i64, _>(0)?);
            let field = row.get(1).ok_or(UnexpectedEndOfRow)?;
            let value = field.value().ok_or(UnexpectedNullError)?;
            let micros = <[u8; 8]>::try_from(value.as_bytes())
                .map(i64::from_be_bytes)
                .ok();
            if !micros.is_some_and(|m| pg_time(m, &mut r.text)) {
                let at = <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value)?;
                r.text.push_str(&format_time(&at));
            }
            r.end(AT);
            r.read_texts(row, |row, i, out| {
                let field = row.get(i).ok_or(UnexpectedEndOfRow)?;
                Ok(match field.value() {
                    Some(v) => {
                        out.push_str(std::str::from_utf8(v.as_bytes())?);
                        true
                    }
                    None => false,
                })
            })?;
            Ok(r)
        }
    }

    /// How `at` reads when SQLite holds it in a text form Procura does not write: this
    /// prefix and the stored text, which no verifier accepts as a time.
    pub const STORED_PREFIX: &str = "stored:";

    /// True when the fraction of a SQLite time is as chrono's `%.f` writes it (what
    /// diesel stores): none for whole seconds, else 3, 6 or 9 digits, the fewest that
    /// hold the value. The rest of the text is checked by [`sqlite_time`].
    fn diesel_writes(text: &str) -> bool {
        let b = text.as_bytes();
        match b.get(19..) {
            Some([]) => true,
            Some([b'.', digits @ ..]) => match digits.len() {
                3 => digits != b"000",
                6 | 9 => &digits[digits.len() - 3..] != b"000",
                _ => false,
            },
            _ => false,
        }
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS.ffffffZ` for SQLite's `YYYY-MM-DD HH:MM:SS[.f…]`
    /// (what diesel writes); false, writing nothing, for any other text.
    fn sqlite_time(text: &str, out: &mut String) -> bool {
        let b = text.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            b.get(r)?.iter().try_fold(0u32, |n, &d| {
                d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
            })
        };
        let shape = b.len() >= 19
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b' '
            && b[13] == b':'
            && b[16] == b':';
        if !shape {
            return false;
        }
        let (Some(year), Some(month), Some(day), Some(h), Some(m), Some(s)) = (
            num(0..4),
            num(5..7),
            num(8..10),
            num(11..13),
            num(14..16),
            num(17..19),
        ) else {
            return false;
        };
        let fraction = &b[19..];
        let fraction = match fraction {
            [] => &[][..],
            [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => digits,
            _ => return false,
        };
        if !fraction.iter().all(u8::is_ascii_digit)
            || chrono::NaiveDate::from_ymd_opt(year as i32, month, day).is_none()
            || h > 23
            || m > 59
            || s > 59
        {
            return false;
        }
        let mut micros = [b'0'; 6];
        let n = fraction.len().min(6);
        micros[..n].copy_from_slice(&fraction[..n]);
        out.push_str(&text[..10]);
        out.push('T');
        out.push_str(&text[11..19]);
        out.push('.');
        // Digits only.
        out.push_str(std::str::from_utf8(&micros).unwrap_or("000000"));
        out.push('Z');
        true
    }

    /// Appends the journal's text for PostgreSQL's microseconds since 2000-01-01; false,
    /// writing nothing, outside years 0 to 9999.
    fn pg_time(micros: i64, out: &mut String) -> bool {
        const DAY: i64 = 86_400_000_000;
        let days = micros.div_euclid(DAY) + 10_957; // 1970-01-01 to 2000-01-01
        let in_day = micros.rem_euclid(DAY);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        if !(0..=9999).contains(&year) {
            return false;
        }
        let secs = in_day / 1_000_000;
        let mut b = [0u8; 27];
        put_digits(&mut b[0..4], year as u32);
        b[4] = b'-';
        put_digits(&mut b[5..7], month as u32);
        b[7] = b'-';
        put_digits(&mut b[8..10], day as u32);
        b[10] = b'T';
        put_digits(&mut b[11..13], (secs / 3600) as u32);
        b[13] = b':';
        put_digits(&mut b[14..16], (secs / 60 % 60) as u32);
        b[16] = b':';
        put_digits(&mut b[17..19], (secs % 60) as u32);
        b[19] = b'.';
        put_digits(&mut b[20..26], (in_day % 1_000_000) as u32);
        b[26] = b'Z';
        out.push_str(std::str::from_utf8(&b).unwrap_or_default());
        true
    }

    /// Calls `f` on the entries with `seq > after`, in order, at most `limit`, until it
    /// returns false; returns how many rows were read. Rows are decoded one at a time
    /// (a cursor on SQLite, row-by-row mode on PostgreSQL): memory does not depend on
    /// `limit`, which only bounds how long one query runs.
    pub fn for_each<E>(
        conn: &mut DbConn,
        after: i64,
        limit: usize,
        mut f: impl FnMut(&StoredRow) -> Result<bool, E>,
    ) -> Result<usize, E>
    where
        E: From<diesel::result::Error>,
    {
        use journal_entries::dsl as j;
        macro_rules! page {
            () => {
                j::journal_entries
                    .filter(j::seq.gt(after))
                    .order(j::seq.asc())
                    .limit(limit as i64)
                    .select((
                        j::seq,
                        j::at,
                        j::action,
                        j::actor,
                        j::structure_id,
                        j::usager_id,
                        j::mandate_id,
                        j::authorisation_id,
                        j::client_id,
                        j::details,
                        j::prev_hash,
                        j::hash,
                    ))
            };
        }
        let mut read = 0;
        let mut drive = |rows: &mut dyn Iterator<Item = QueryResult<StoredRow>>| {
            for row in rows {
                read += 1;
                if !f(&row?)? {
                    break;
                }
            }
            Ok::<_, E>(())
        };
        match conn {
            DbConn::Sqlite(c) => {
                drive(&mut page!().load_iter::<StoredRow, DefaultLoadingMode>(c)?)?
            }
            // Row by row: the server sends the page while rows are hashed here, and the
            // client never holds more than a row.
            DbConn::Pg(c) => drive(&mut page!().load_iter::<StoredRow, PgRowByRowLoadingMode>(c)?)?,
        }
        Ok(read)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn sqlite_times_are_formatted_as_chrono_does() {
            for text in [
                "2026-11-28 09:00:00",
                "2026-11-28 09:00:00.5",
                "2026-11-28 09:00:00.123456",
                "2026-11-28 09:00:00.123456789",
                "2024-02-29 23:59:59.000001",
                "0001-01-01 00:00:00.000000",
            ] {
                let mut out = String::new();
                assert!(sqlite_time(text, &mut out), "{text}");
                let at = NaiveDateTime::parse_from_str(text, "%F %T%.f").expect("chrono");
                assert_eq!(out, format_time(&at), "{text}");
            }
            for text in [
                "2026-02-30 09:00:00",
                "2026-11-28T09:00:00",
                "2026-11-28 24:00:00",
                "2026-11-28 09:00:60",
                "2026-11-28 09:00:00.",
                "2026-11-28 09:00:00.1234567890",
                "2026-11-28 09:00:00Z",
                "2461008.5",
            ] {
                let mut out = String::new();
                assert!(!sqlite_time(text, &mut out), "{text}");
                assert!(out.is_empty());
            }
        }

        #[test]
        fn pg_times_are_formatted_as_chrono_does() {
            let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .expect("epoch");
            let mut x: i64 = 0x1234_5678_9abc;
            for micros in [0, -1, 1, 86_400_000_000 - 1, -86_400_000_000, i64::MAX / 40]
                .into_iter()
                .chain((0..2000).map(|_| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    x % 300_000_000_000_000_000
                }))
            {
                let at = epoch + chrono::Duration::microseconds(micros);
                let mut out = String::new();
                if pg_time(micros, &mut out) {
                    assert_eq!(out, format_time(&at), "{micros}");
                } else {
                    use chrono::Datelike;
                    assert!(!(0..=9999).contains(&at.year()), "{micros}");
                }
            }
        }
    }
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

    /// The encoding as it was first written (through a `serde_json` map), kept as the
    /// reference the direct writer must agree with byte for byte.
    fn canonical_by_map(e: &Entry) -> String {
        let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::Null);
        let opt = |o: &Option<String>| o.clone().map(Value::String).unwrap_or(Value::Null);
        let mut m = Map::new();
        m.insert("seq".into(), Value::from(e.seq));
        m.insert("at".into(), Value::String(format_time(&e.at)));
        m.insert("action".into(), Value::String(e.action.clone()));
        m.insert("actor".into(), opt(&e.actor));
        m.insert("structure".into(), opt(&e.structure_id));
        m.insert("usager".into(), opt(&e.usager_id));
        m.insert("mandate".into(), opt(&e.mandate_id));
        m.insert("authorisation".into(), opt(&e.authorisation_id));
        m.insert("client".into(), opt(&e.client_id));
        m.insert("details".into(), details);
        m.insert("prev_hash".into(), Value::String(e.prev_hash.clone()));
        canonical_json(&Value::Object(m))
    }

    /// Strings with every control character, quotes, backslashes, non-ASCII text.
    fn awkward_strings() -> Vec<String> {
        let mut v: Vec<String> = (0u8..0x20).map(|b| format!("a{}b", b as char)).collect();
        v.extend(
            [
                "",
                "\"",
                "\\",
                "/",
                "\u{7f}",
                "Élancourt",
                "日本",
                "😀",
                "a\"b\\c\n",
            ]
            .map(String::from),
        );
        v
    }

    fn sample_entry(seq: i64, s: &str, details: &Value) -> Entry {
        Entry {
            seq,
            at: chrono::DateTime::from_timestamp(
                1_800_000_000 + seq.rem_euclid(100_000) * 7919,
                (seq.rem_euclid(1000) as u32) * 1_000_123,
            )
            .expect("time")
            .naive_utc(),
            action: format!("test.{s}"),
            actor: (seq % 2 == 0).then(|| s.to_string()),
            structure_id: Some(s.into()),
            usager_id: (seq % 3 == 0).then(|| s.to_string()),
            mandate_id: None,
            authorisation_id: Some(format!("{s}{s}")),
            client_id: (seq % 5 != 0).then(|| s.to_string()),
            details: canonical_json(details),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn direct_encoding_agrees_with_the_map_encoding() {
        for (i, s) in awkward_strings().iter().enumerate() {
            let details = serde_json::json!({
                "s": s, s.clone(): [s, 1, -2, 9_223_372_036_854_775_807i64, u64::MAX, true, null],
                "nested": {"b": {s.clone(): {}}, "a": []}, "z": -9_223_372_036_854_775_808i64
            });
            for seq in [i as i64 + 1, 10_000_000_000 + i as i64, -(i as i64)] {
                let e = sample_entry(seq, s, &details);
                assert_eq!(e.canonical(), canonical_by_map(&e), "{s:?}");
                let mut line = Vec::new();
                let mut at = TimeText::default();
                let mut hashed = e.clone();
                hashed.hash = e.compute_hash();
                write_export_line(
                    &mut line,
                    &e.fields(at.format(&e.at), &e.details),
                    &hashed.hash,
                );
                let mut expected = serde_json::to_vec(&hashed).expect("serde");
                expected.push(b'\n');
                assert_eq!(
                    String::from_utf8_lossy(&line),
                    String::from_utf8_lossy(&expected)
                );
            }
        }
    }

    #[test]
    fn non_canonical_details_are_re_encoded_as_before() {
        for details in [
            r#"{"b":1, "a":2}"#,
            r#"{"a":1,"a":2}"#,
            "[1.0]",
            "\"\\u00e9\"",
            "nope",
            "",
        ] {
            let mut e = sample_entry(3, "x", &Value::Null);
            e.details = details.into();
            assert_eq!(e.canonical(), canonical_by_map(&e), "{details}");
        }
    }

    #[test]
    fn the_canonical_check_never_accepts_what_re_encoding_changes() {
        let texts = [
            "{}",
            "[]",
            "0",
            "-0",
            "-1",
            "01",
            "1.0",
            "1e3",
            "123456789012345678",
            "1234567890123456789",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "true",
            "false",
            "null",
            "nul",
            r#""a""#,
            r#""\/""#,
            r#""\u0001""#,
            r#""\u001F""#,
            r#""\u0008""#,
            r#""\b""#,
            r#""\u007f""#,
            r#""\u00e9""#,
            r#""\ud83d\ude00""#,
            "\"\u{7f}\"",
            "\"\t\"",
            r#"{"a":1,"b":2}"#,
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":1}"#,
            r#"{"":1}"#,
            r#"{"a":9223372036854775807,"b":-9223372036854775808}"#,
            r#"{"a":9223372036854775808}"#,
            r#"{"a" :1}"#,
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"[1 ,2]"#,
            r#"{"\u0001":1,"a":2}"#,
            r#"{"A":1,"a":2}"#,
            r#"{"é":1,"z":2}"#,
            r#"{"z":1,"é":2}"#,
            r#"{"a":{"c":1,"b":2}}"#,
            " {}",
            "{} ",
            r#"{"a":[{"b":null,"c":[true,false]}],"b":"x\ny"}"#,
            "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]",
        ];
        for t in texts {
            let reencoded = serde_json::from_str::<Value>(t)
                .ok()
                .map(|v| canonical_json(&v));
            let truly = reencoded.as_deref() == Some(t);
            let allowed = serde_json::from_str::<Value>(t)
                .is_ok_and(|v| v.is_object() && check_value(&v, 1).is_ok());
            if canonical::is_canonical(t.as_bytes()) {
                assert!(truly, "accepted {t:?}, re-encoded {reencoded:?}");
                assert!(!t.starts_with('{') || allowed, "accepted {t:?}");
            }
            assert_eq!(details_are_canonical(t), truly && allowed, "{t:?}");
        }
        for s in awkward_strings() {
            // Keys with escapes are left to re-encoding; values are checked directly.
            let c = canonical_json(&serde_json::json!({ "k": s, "l": [s, {"m": s}] }));
            assert!(canonical::is_canonical(c.as_bytes()), "{c}");
            let c = canonical_json(&serde_json::json!({ s.clone(): s, "k": [s] }));
            assert_eq!(
                details_are_canonical(&c),
                !s.is_empty() && s.is_ascii(),
                "{c}"
            );
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(!canonical::is_canonical(deep.as_bytes()));
        assert!(!details_are_canonical(&deep), "not an object");
        // The details object is level 1; level 32 is the deepest allowed.
        let nested = |levels: usize| "{\"a\":".repeat(levels - 1) + "{}" + &"}".repeat(levels - 1);
        assert!(details_are_canonical(&nested(MAX_DETAILS_DEPTH)));
        assert!(!details_are_canonical(&nested(MAX_DETAILS_DEPTH + 1)));
        // Keys repeated, floats and numbers beyond 64-bit signed integers are refused.
        for t in [
            r#"{"a":1,"a":1}"#,
            r#"{"a":1.5}"#,
            r#"{"a":9223372036854775808}"#,
            r#"{"":1}"#,
            r#"{"é":1}"#,
        ] {
            assert!(!details_are_canonical(t), "{t}");
        }
        assert!(details_are_canonical(
            r#"{"a":-9223372036854775808,"b":9223372036854775807}"#
        ));
    }

    #[test]
    fn times_are_formatted_as_chrono_does() {
        let mut t = TimeText::default();
        for (secs, nanos) in [
            (0, 0),
            (1_800_000_000, 999_999_999),
            (-62_135_596_800, 1000),
            (253_402_300_799, 5),
            (253_402_300_800, 0),
            (-62_200_000_000, 0),
        ] {
            let at = chrono::DateTime::from_timestamp(secs, nanos)
                .expect("time")
                .naive_utc();
            assert_eq!(t.format(&at), format_time(&at));
        }
    }

    /// The canonical encoding of generated entries, awkward strings included, hashes the
    /// same in Rust and in docs/verify_journal.py: each case is a chain of entries written
    /// as an export, checked by the Python verifier (one run a case, not an entry) and by
    /// [`verify_export`].
    mod agrees_with_python {
        use super::*;
        use proptest::prelude::*;

        /// Pieces that JSON encoders get wrong: quotes, backslashes, every control
        /// character, DEL, the line separators JavaScript dislikes, a BOM, right-to-left
        /// text and overrides, characters outside the BMP, the empty string.
        fn awkward() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just(String::new()),
                Just("\"".to_string()),
                Just("\\".to_string()),
                Just("/".to_string()),
                Just("\u{7f}".to_string()),
                Just("\u{2028}\u{2029}".to_string()),
                Just("\u{feff}".to_string()),
                Just("\u{202e}עברית\u{202c}".to_string()),
                Just("العربية".to_string()),
                Just("😀\u{10ffff}".to_string()),
                Just("Élancourt".to_string()),
                (0u8..0x20).prop_map(|b| char::from(b).to_string()),
                any::<char>().prop_map(|c| c.to_string()),
            ];
            prop::collection::vec(piece, 0..5).prop_map(|v| v.concat())
        }

        fn key() -> impl Strategy<Value = String> {
            prop::collection::vec((0u8..0x80).prop_map(char::from), 1..5)
                .prop_map(|v| v.into_iter().collect())
        }

        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                awkward().prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 12, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    prop::collection::btree_map(key(), inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        prop_compose! {
            fn entry()(
                secs in 0i64..253_402_300_800,
                micros in 0u32..1_000_000,
                action in awkward(),
                refs in prop::collection::vec(prop::option::of(awkward()), 6),
                details in prop::collection::btree_map(key(), value(), 0..4),
            ) -> Entry {
                let r = |i: usize| refs[i].clone();
                Entry {
                    seq: 0,
                    at: chrono::DateTime::from_timestamp(secs, micros * 1000)
                        .expect("time")
                        .naive_utc(),
                    action,
                    actor: r(0),
                    structure_id: r(1),
                    usager_id: r(2),
                    mandate_id: r(3),
                    authorisation_id: r(4),
                    client_id: r(5),
                    details: canonical_json(&Value::Object(details.into_iter().collect())),
                    prev_hash: String::new(),
                    hash: String::new(),
                }
            }
        }

        /// The entries chained from 1, written as a full export.
        fn export(mut entries: Vec<Entry>) -> (Vec<u8>, String) {
            let mut prev = GENESIS_HASH.to_string();
            for (i, e) in entries.iter_mut().enumerate() {
                e.seq = i as i64 + 1;
                e.prev_hash = prev;
                e.hash = e.compute_hash();
                prev = e.hash.clone();
            }
            let mut out = Vec::new();
            write_header(&mut out, 1, GENESIS_HASH, entries.len() as i64, &prev);
            let mut at = TimeText::default();
            for e in &entries {
                write_export_line(&mut out, &e.fields(at.format(&e.at), &e.details), &e.hash);
            }
            (out, prev)
        }

        fn python(input: &[u8]) -> Value {
            use std::io::Write;
            let mut child = std::process::Command::new("python3")
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/docs/verify_journal.py"
                ))
                .arg("--json")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("python3");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input)
                .expect("write");
            let out = child.wait_with_output().expect("python3");
            serde_json::from_slice(&out.stdout).expect("a JSON verdict")
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
            #[test]
            fn generated_entries_hash_alike(entries in prop::collection::vec(entry(), 1..48)) {
                let n = entries.len();
                let (text, last_hash) = export(entries);
                let rust = verify_export(&mut &text[..]).expect("read");
                prop_assert!(rust.intact, "{:?}", rust.problem);
                let py = python(&text);
                prop_assert_eq!(&py["intact"], &Value::Bool(true), "{}", py);
                prop_assert_eq!(&py["entries"], &Value::from(n));
                prop_assert_eq!(&py["last_hash"], &Value::from(last_hash));
            }
        }
    }
}
