//! Receipts of attestations (docs/journal.md, "Receipts"): that an entry records a
//! given attestation digest, that its stored hash is right, and that it is included in
//! the first checkpoint covering it, with the evidence for checking it elsewhere. Entries
//! hold ids only; a receipt states the action, time, seq, digest and hashes, nothing else.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::{checkpoint, details_are_canonical, format_time, merkle, note, Entry, JournalError};
use crate::store::schema::journal_entries;
use crate::store::DbConn;

/// Actions whose entries may record an attestation's digest.
pub const ATTESTING_ACTIONS: [&str; 3] = [
    "mandate.created",
    "mandate.revoked",
    "authorisation.revoked",
];

/// What the check of a receipt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Recorded, intact and included in a signed checkpoint.
    Verified,
    /// Recorded and intact; no checkpoint covers it yet.
    Pending,
    /// No entry has this number.
    UnknownEntry,
    /// The entry records no attestation.
    NotAnAttestation,
    /// The entry records another digest.
    DigestMismatch,
    /// The entry no longer matches its stored hash.
    Altered,
    /// The checkpoint's signature or the inclusion proof does not verify.
    InclusionInvalid,
}

/// A receipt: the facts about entry `seq` and digest `digest`, no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The outcome.
    pub status: Status,
    /// The entry's number.
    pub seq: i64,
    /// The attestation digest asked about (lowercase hex).
    pub digest: String,
    /// The entry's action, when it exists.
    pub action: Option<String>,
    /// Its time (journal form), when it exists.
    pub at: Option<String>,
    /// Its stored hash (hex), when it exists.
    pub entry_hash: Option<String>,
    /// The first checkpoint covering it: its signed note.
    pub checkpoint: Option<String>,
    /// That checkpoint's size.
    pub checkpoint_size: Option<i64>,
    /// The verifier key that signed it.
    pub key: Option<String>,
    /// The inclusion proof of the entry in that checkpoint's tree (base64).
    pub proof: Vec<String>,
}

impl Receipt {
    /// True when the attestation is recorded, intact and in a signed checkpoint.
    pub fn verified(&self) -> bool {
        self.status == Status::Verified
    }
}

/// True for a digest as attestations give it: 64 lowercase hex digits.
pub fn is_digest(d: &str) -> bool {
    d.len() == 64
        && d.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks entry `seq` against the attestation digest `digest` (read only).
pub fn check(conn: &mut DbConn, seq: i64, digest: &str) -> Result<Receipt, JournalError> {
    crate::store::read_tx(conn, |c| check_in(c, seq, digest))
}

fn check_in(conn: &mut DbConn, seq: i64, digest: &str) -> Result<Receipt, JournalError> {
    let mut r = Receipt {
        status: Status::UnknownEntry,
        seq,
        digest: digest.to_string(),
        action: None,
        at: None,
        entry_hash: None,
        checkpoint: None,
        checkpoint_size: None,
        key: None,
        proof: Vec::new(),
    };
    let entry: Option<Entry> = journal_entries::table
        .filter(journal_entries::seq.eq(seq))
        .select(Entry::as_select())
        .first(conn)
        .optional()?;
    let Some(e) = entry else {
        return Ok(r);
    };
    r.action = Some(e.action.clone());
    r.at = Some(format_time(&e.at));
    r.entry_hash = Some(e.hash.clone());
    let recorded = serde_json::from_str::<Value>(&e.details)
        .ok()
        .and_then(|d| d.get("attestation_sha256")?.as_str().map(str::to_string));
    r.status = if !ATTESTING_ACTIONS.contains(&e.action.as_str()) || recorded.is_none() {
        Status::NotAnAttestation
    } else if recorded.as_deref() != Some(digest) {
        Status::DigestMismatch
    } else if !details_are_canonical(&e.details) || e.compute_hash() != e.hash {
        Status::Altered
    } else {
        Status::Pending
    };
    if r.status != Status::Pending {
        return Ok(r);
    }
    let Some(cp) = checkpoint::covering(conn, seq)? else {
        return Ok(r);
    };
    r.checkpoint = Some(cp.note.clone());
    r.checkpoint_size = Some(cp.size);
    let key = checkpoint::keys(conn)?
        .into_iter()
        .find(|k| k.key_id == cp.key_id)
        .map(|k| k.verifier())
        .transpose()?;
    r.key = key.as_ref().map(note::VerifierKey::vkey);
    let proof = checkpoint::inclusions(conn, &[seq], cp.size)?
        .pop()
        .unwrap_or_default();
    r.proof = proof.iter().map(|h| STANDARD.encode(h)).collect();
    let mut leaf = [0u8; 32];
    let included = key.is_some_and(|k| {
        note::Checkpoint::parse(&cp.note).is_ok_and(|c| {
            c.size == cp.size as u64
                && c.verify(&[k]).is_ok()
                && hex::decode_to_slice(&e.hash, &mut leaf).is_ok()
                && merkle::verify_inclusion(
                    seq as u64 - 1,
                    c.size,
                    &merkle::leaf_hash(&leaf),
                    &proof,
                    &c.root,
                )
        })
    });
    r.status = if included {
        Status::Verified
    } else {
        Status::InclusionInvalid
    };
    Ok(r)
}
