//! Excerpts (docs/journal.md, "Excerpts"): the entries that match filters, each with its
//! inclusion proof in the tree of the latest checkpoint, after a header carrying that
//! signed checkpoint and its key. Written in batches (flat memory), and verified here
//! as `docs/verify_journal.py --excerpt` verifies them.

use std::io::BufRead;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use diesel::connection::DefaultLoadingMode;
use diesel::pg::PgRowByRowLoadingMode;
use diesel::prelude::*;
use ring::digest;
use serde::Serialize;
use serde_json::Value;

use super::filter::Filter;
use super::merkle::{self, Hash};
use super::note::{self, VerifierKey};
use super::rows::StoredRow;
use super::verify::{form_problem, next_line, parse_entry, parse_object};
use super::{
    checkpoint, hex_digest, write_canonical, write_stored_line, JournalError, Problem, ProblemKind,
};
use crate::store::schema::journal_entries;
use crate::store::DbConn;

/// The `format` of an excerpt's header.
pub const EXCERPT_FORMAT: &str = "procura-journal-excerpt-1";

/// Entries per batch: one query for the rows, one batch of tree nodes for their proofs.
pub const BATCH: i64 = 500;

/// The start of an excerpt: its header line and the tree size its proofs are for.
#[derive(Debug, Clone)]
pub struct Start {
    /// The header line, with its final LF.
    pub header: Vec<u8>,
    /// The latest checkpoint's size: only entries up to it are in the excerpt.
    pub size: i64,
}

/// Begins an excerpt of the entries matching `filter` (and, with `scope`, of that
/// structure only): the header line, over the latest checkpoint. None when no checkpoint
/// was made yet. An `after` beyond the checkpoint is the caller's mistake.
pub fn start(conn: &mut DbConn, filter: &Filter) -> Result<Option<Start>, JournalError> {
    crate::store::read_tx(conn, |c| start_in(c, filter))
}

fn start_in(conn: &mut DbConn, filter: &Filter) -> Result<Option<Start>, JournalError> {
    let Some(cp) = checkpoint::latest(conn)? else {
        return Ok(None);
    };
    if let Some(after) = filter.after.filter(|a| *a > cp.size) {
        return Err(JournalError::OutOfRange(format!(
            "Le filtre after ({after}) dépasse le dernier point de contrôle, de taille {} : les entrées suivantes figureront dans un extrait pris après le prochain point de contrôle.",
            cp.size
        )));
    }
    let key = checkpoint::keys(conn)?
        .into_iter()
        .find(|k| k.key_id == cp.key_id)
        .ok_or_else(|| JournalError::Key(format!("the key {} is not stored", cp.key_id)))?;
    let header = serde_json::json!({
        "checkpoint": cp.note,
        "filters": filter.given,
        "format": EXCERPT_FORMAT,
        "key": key.verifier()?.vkey(),
        "size": cp.size,
    });
    // serde_json's map is sorted by key and writes no whitespace: the canonical form.
    let mut line = header.to_string().into_bytes();
    line.push(b'\n');
    Ok(Some(Start {
        header: line,
        size: cp.size,
    }))
}

/// Writes to `out` the lines of the next at most [`BATCH`] matching entries with
/// `after < seq ≤ size` (and of structure `scope`, if given), each with its inclusion
/// proof in the tree of `size` entries. Returns the last `seq` written when the batch was
/// full (more may follow), None when the excerpt is complete.
pub fn batch(
    conn: &mut DbConn,
    filter: &Filter,
    scope: Option<&str>,
    size: i64,
    after: i64,
    out: &mut Vec<u8>,
) -> Result<Option<i64>, JournalError> {
    crate::store::read_tx(conn, |c| batch_in(c, filter, scope, size, after, out))
}

fn batch_in(
    conn: &mut DbConn,
    filter: &Filter,
    scope: Option<&str>,
    size: i64,
    after: i64,
    out: &mut Vec<u8>,
) -> Result<Option<i64>, JournalError> {
    use journal_entries::dsl as j;
    macro_rules! page {
        ($backend:ty, $mode:ty, $c:expr) => {{
            let q =
                crate::apply_journal_filter!(j::journal_entries.into_boxed::<$backend>(), filter)
                    .filter(j::seq.gt(after))
                    .filter(j::seq.le(size));
            let q = match scope {
                Some(s) => q.filter(j::structure_id.eq(s.to_string())),
                None => q,
            };
            q.order(j::seq.asc())
                .limit(BATCH)
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
                .load_iter::<StoredRow, $mode>($c)?
                .collect::<QueryResult<Vec<StoredRow>>>()?
        }};
    }
    let rows: Vec<StoredRow> = match conn {
        DbConn::Sqlite(c) => page!(diesel::sqlite::Sqlite, DefaultLoadingMode, c),
        DbConn::Pg(c) => page!(diesel::pg::Pg, PgRowByRowLoadingMode, c),
    };
    if rows.is_empty() {
        return Ok(None);
    }
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let proofs = checkpoint::inclusions(conn, &seqs, size)?;
    let mut line = Vec::with_capacity(1024);
    for (row, proof) in rows.iter().zip(&proofs) {
        line.clear();
        write_stored_line(&mut line, row.fields(), row.hash());
        line.pop();
        write_line(out, &line, proof);
    }
    Ok((rows.len() as i64 == BATCH).then(|| seqs[seqs.len() - 1]))
}

/// One excerpt line: `{"entry":<export line>,"proof":[base64…]}` and LF.
fn write_line(out: &mut Vec<u8>, entry: &[u8], proof: &[Hash]) {
    out.extend_from_slice(b"{\"entry\":");
    out.extend_from_slice(entry);
    out.extend_from_slice(b",\"proof\":");
    write_proof(out, proof);
    out.extend_from_slice(b"}\n");
}

fn write_proof(out: &mut Vec<u8>, proof: &[Hash]) {
    out.push(b'[');
    for (i, h) in proof.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(STANDARD.encode(h).as_bytes());
        out.push(b'"');
    }
    out.push(b']');
}

/// The verdict on an excerpt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExcerptReport {
    /// True when the header, its checkpoint and every line verified.
    pub intact: bool,
    /// Entry lines examined, the one with the problem included.
    pub entries: u64,
    /// The header's size (None when the header is malformed).
    pub size: Option<i64>,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

/// The header's members, sorted.
const HEADER_MEMBERS: [&str; 5] = ["checkpoint", "filters", "format", "key", "size"];

/// Verifies an excerpt (docs/journal.md, "Excerpts"): the header and its checkpoint,
/// signed by one of `keys` (None: the header's own key), then each line in order. Stops
/// at the first problem.
pub fn verify_excerpt(
    input: &mut dyn BufRead,
    keys: Option<Vec<VerifierKey>>,
) -> std::io::Result<ExcerptReport> {
    let mut report = ExcerptReport {
        intact: false,
        entries: 0,
        size: None,
        problem: None,
    };
    let mut line = Vec::new();
    let header = if next_line(input, &mut line)? {
        read_header(&line, keys)
    } else {
        Err(Problem {
            seq: 0,
            kind: ProblemKind::Malformed,
            message: "the excerpt is empty: it has no header line".into(),
        })
    };
    let (cp, size) = match header {
        Ok(h) => h,
        Err(p) => {
            // The size is known once the header itself is readable.
            if p.kind != ProblemKind::Malformed {
                report.size = parse_object(&line)
                    .ok()
                    .and_then(|m| m.get("size").and_then(Value::as_i64));
            }
            report.problem = Some(p);
            return Ok(report);
        }
    };
    report.size = Some(size);
    let mut last = 0i64;
    let mut canonical = Vec::with_capacity(1024);
    while next_line(input, &mut line)? {
        report.entries += 1;
        if let Err(p) = check_line(&line, last, size, &cp.root, &mut canonical) {
            report.problem = Some(p);
            return Ok(report);
        }
        last = read_seq(&line).unwrap_or(last);
    }
    report.intact = true;
    Ok(report)
}

/// The header's checkpoint and size, checked, or the problem.
fn read_header(
    line: &[u8],
    keys: Option<Vec<VerifierKey>>,
) -> Result<(note::Checkpoint, i64), Problem> {
    let malformed = |why: String| Problem {
        seq: 0,
        kind: ProblemKind::Malformed,
        message: format!("the header line is malformed: {why}"),
    };
    let m = parse_object(line).map_err(malformed)?;
    if m.len() != HEADER_MEMBERS.len() || !HEADER_MEMBERS.iter().all(|k| m.contains_key(*k)) {
        return Err(malformed(format!(
            "its members are not exactly {}",
            HEADER_MEMBERS.join(", ")
        )));
    }
    if m["format"] != Value::String(EXCERPT_FORMAT.into()) {
        return Err(malformed(format!("its format is not {EXCERPT_FORMAT:?}")));
    }
    let (Some(text), Some(vkey)) = (m["checkpoint"].as_str(), m["key"].as_str()) else {
        return Err(malformed("checkpoint or key is not a string".into()));
    };
    let size = m["size"]
        .as_i64()
        .filter(|s| *s >= 0)
        .ok_or_else(|| malformed("its size is not an integer from 0".into()))?;
    let filters_ok = m["filters"]
        .as_object()
        .is_some_and(|f| f.values().all(Value::is_string));
    if !filters_ok {
        return Err(malformed("its filters are not an object of strings".into()));
    }
    if Value::Object(m.clone()).to_string().as_bytes() != line {
        return Err(malformed("it is not in canonical form".into()));
    }
    let keys = match keys {
        Some(k) => k,
        None => vec![VerifierKey::parse(vkey)
            .map_err(|why| malformed(format!("its key is not a verifier key ({why})")))?],
    };
    let cp = note::Checkpoint::parse(text).map_err(|why| Problem {
        seq: 0,
        kind: ProblemKind::CheckpointMalformed,
        message: format!("the header's checkpoint is malformed: {why}"),
    })?;
    if !keys.iter().any(|k| k.name == cp.origin) {
        return Err(Problem {
            seq: 0,
            kind: ProblemKind::CheckpointMalformed,
            message: format!(
                "the header's checkpoint is malformed: its origin {:?} is not the name of a trusted key",
                cp.origin
            ),
        });
    }
    if cp.size != size as u64 {
        return Err(malformed(format!(
            "its size {size} is not its checkpoint's ({})",
            cp.size
        )));
    }
    cp.verify(&keys).map_err(|p| match p {
        note::NoteProblem::Malformed(why) => Problem {
            seq: 0,
            kind: ProblemKind::CheckpointMalformed,
            message: format!("the header's checkpoint is malformed: {why}"),
        },
        note::NoteProblem::Signature(why) => Problem {
            seq: size,
            kind: ProblemKind::CheckpointSignature,
            message: why,
        },
    })?;
    Ok((cp, size))
}

/// The `seq` of a line that passed [`check_line`].
fn read_seq(line: &[u8]) -> Option<i64> {
    parse_object(line).ok()?.get("entry")?.get("seq")?.as_i64()
}

/// Checks one line after entry `last`, against a checkpoint of `size` entries and `root`.
fn check_line(
    line: &[u8],
    last: i64,
    size: i64,
    root: &Hash,
    canonical: &mut Vec<u8>,
) -> Result<(), Problem> {
    let malformed = |seq: i64, why: String| Problem {
        seq,
        kind: ProblemKind::Malformed,
        message: format!("the line after entry {last} is malformed: {why}"),
    };
    let m = parse_object(line).map_err(|why| malformed(last + 1, why))?;
    if m.len() != 2 || !m.contains_key("entry") || !m.contains_key("proof") {
        return Err(malformed(
            last + 1,
            "its members are not exactly entry, proof".into(),
        ));
    }
    let seq = match m["entry"].as_object().map(|e| e.get("seq")) {
        None => return Err(malformed(last + 1, "its entry is not an object".into())),
        Some(None) => return Err(malformed(last + 1, "its entry has no seq".into())),
        Some(Some(s)) => s
            .as_i64()
            .ok_or_else(|| malformed(last + 1, "its entry's seq is not an integer".into()))?,
    };
    let proof: Option<Vec<Hash>> = m["proof"].as_array().and_then(|a| {
        a.iter()
            .map(|h| {
                h.as_str()
                    .and_then(|s| STANDARD.decode(s).ok().filter(|b| STANDARD.encode(b) == s))
                    .and_then(|b| Hash::try_from(b).ok())
            })
            .collect()
    });
    let Some(proof) = proof else {
        return Err(malformed(
            last + 1,
            "its proof is not an array of base64 hashes of 32 bytes".into(),
        ));
    };
    if seq < 1 || seq > size {
        return Err(malformed(
            seq,
            format!("entry {seq} is not in the checkpoint's tree (entries 1 to {size})"),
        ));
    }
    if seq <= last {
        return Err(Problem {
            seq,
            kind: ProblemKind::Reordered,
            message: format!("entry {seq} appears after entry {last}"),
        });
    }
    let altered = |why: &str| Problem {
        seq,
        kind: ProblemKind::Altered,
        message: format!("entry {seq} was altered: {why}"),
    };
    // The entry's text: between `{"entry":` and the last `,"proof":` (a proof holds no
    // quote, so a later one cannot be inside it).
    let entry_bytes = line
        .strip_prefix(b"{\"entry\":".as_slice())
        .and_then(|rest| {
            let at = rest.windows(9).rposition(|w| w == b",\"proof\":")?;
            Some(&rest[..at])
        })
        .ok_or_else(|| altered("its line is not in canonical form"))?;
    let entry =
        parse_entry(entry_bytes).map_err(|_| altered("its line is not in canonical form"))?;
    if let Some(why) = entry.form.clone().or_else(|| form_problem(&entry.fields())) {
        return Err(altered(&why));
    }
    canonical.clear();
    write_line(canonical, entry_bytes, &proof);
    canonical.pop();
    if canonical.as_slice() != line {
        return Err(altered("its line is not in canonical form"));
    }
    canonical.clear();
    write_canonical(canonical, &entry.fields());
    let mut hex = [0u8; 64];
    hex_digest(&digest::digest(&digest::SHA256, canonical), &mut hex);
    if hex != entry.hash.as_bytes() {
        return Err(altered("its content does not match its hash"));
    }
    let mut leaf = [0u8; 32];
    if hex::decode_to_slice(&entry.hash, &mut leaf).is_err()
        || !merkle::verify_inclusion(
            seq as u64 - 1,
            size as u64,
            &merkle::leaf_hash(&leaf),
            &proof,
            root,
        )
    {
        return Err(Problem {
            seq,
            kind: ProblemKind::InclusionInvalid,
            message: format!(
                "the proof does not lead from entry {seq} to the root of the checkpoint of size {size}"
            ),
        });
    }
    Ok(())
}
