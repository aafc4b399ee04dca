//! Chain verification: recomputes every hash and checks every link and number.

use diesel::prelude::*;
use ring::digest;
use serde::Serialize;

use super::{
    hex_digest, rows, write_canonical, Entry, Fields, JournalError, TimeText, GENESIS_HASH,
};
use crate::store::schema::{journal_entries, journal_head};
use crate::store::DbConn;

/// What is wrong with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The entry's content no longer matches its hash.
    Altered,
    /// One or more entries are absent (a gap, or the end of the chain removed).
    Missing,
    /// The entry links to an earlier entry that is not its predecessor.
    Reordered,
    /// The entry links to a hash that no entry has (a predecessor was replaced).
    BrokenLink,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The first bad sequence number.
    pub seq: i64,
    /// What is wrong.
    pub kind: ProblemKind,
    /// A sentence for people.
    pub message: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// True when every entry and link verified.
    pub intact: bool,
    /// Entries read.
    pub entries: u64,
    /// Last sequence number read.
    pub last_seq: i64,
    /// Hash of the last entry read.
    pub last_hash: String,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

/// Incremental verifier, fed entries in the order of their sequence numbers.
///
/// It holds the last hash and one reusable buffer, never the entries seen: memory is
/// constant. Telling a reordering (the entry links to an earlier entry) from a broken
/// link (it links to no entry) needs to look earlier entries up; that happens only once,
/// when the problem is found, through the look-up given to [`Verifier::push_with`]
/// ([`verify`] asks the database).
#[derive(Debug)]
pub struct Verifier {
    expected_seq: i64,
    prev_hash: [u8; 64],
    entries: u64,
    problem: Option<Problem>,
    /// A wrong link found, waiting for the look-up of the hash it names.
    pending_link: Option<(i64, String)>,
    buf: Vec<u8>,
}

impl Default for Verifier {
    fn default() -> Self {
        let mut prev_hash = [0u8; 64];
        prev_hash.copy_from_slice(GENESIS_HASH.as_bytes());
        Verifier {
            expected_seq: 1,
            prev_hash,
            entries: 0,
            problem: None,
            pending_link: None,
            buf: Vec::with_capacity(1024),
        }
    }
}

impl Verifier {
    /// Checks the next entry; returns false once a problem has been found.
    ///
    /// Without a way to look earlier entries up, a wrong link is reported as a broken
    /// link; use [`Verifier::push_with`] to tell reorderings apart.
    pub fn push(&mut self, e: &Entry) -> bool {
        self.push_with(e, |_| None)
    }

    /// Checks the next entry; on a wrong link, `earlier` gives the sequence number of
    /// the earlier entry whose hash is the given one, if any. Returns false once a
    /// problem has been found.
    pub fn push_with(&mut self, e: &Entry, earlier: impl FnOnce(&str) -> Option<i64>) -> bool {
        let mut at = TimeText::default();
        let fields = Fields {
            seq: e.seq,
            at: at.format(&e.at),
            action: &e.action,
            actor: e.actor.as_deref(),
            structure: e.structure_id.as_deref(),
            usager: e.usager_id.as_deref(),
            mandate: e.mandate_id.as_deref(),
            authorisation: e.authorisation_id.as_deref(),
            client: e.client_id.as_deref(),
            details: &e.details,
            prev_hash: &e.prev_hash,
        };
        let ok = self.check(&fields, &e.hash);
        if let Some((_, hash)) = &self.pending_link {
            let linked = earlier(hash);
            self.resolve_link(linked);
        }
        ok
    }

    /// Checks one entry given as stored text. A wrong link leaves the problem pending
    /// until [`Verifier::resolve_link`].
    pub(crate) fn check(&mut self, f: &Fields<'_>, hash: &str) -> bool {
        if self.problem.is_some() || self.pending_link.is_some() {
            return false;
        }
        self.entries += 1;
        let problem = if f.seq > self.expected_seq {
            Some(Problem {
                seq: self.expected_seq,
                kind: ProblemKind::Missing,
                message: if f.seq == self.expected_seq + 1 {
                    format!("entry {} is missing", self.expected_seq)
                } else {
                    format!("entries {} to {} are missing", self.expected_seq, f.seq - 1)
                },
            })
        } else if f.seq < self.expected_seq {
            Some(Problem {
                seq: f.seq,
                kind: ProblemKind::Reordered,
                message: format!(
                    "entry {} appears after entry {}",
                    f.seq,
                    self.expected_seq - 1
                ),
            })
        } else if !super::details_are_canonical(f.details) {
            // What is hashed is what is stored; an outside verifier re-encodes the
            // exported details, so stored text must already be canonical.
            Some(Problem {
                seq: f.seq,
                kind: ProblemKind::Altered,
                message: format!(
                    "entry {} was altered: its details are not stored in canonical form",
                    f.seq
                ),
            })
        } else if !self.hash_matches(f, hash) {
            Some(Problem {
                seq: f.seq,
                kind: ProblemKind::Altered,
                message: format!(
                    "entry {} was altered: its content does not match its hash",
                    f.seq
                ),
            })
        } else if f.prev_hash.as_bytes() != self.prev_hash {
            self.pending_link = Some((f.seq, f.prev_hash.to_string()));
            return false;
        } else {
            None
        };
        if let Some(p) = problem {
            self.problem = Some(p);
            return false;
        }
        // The hash matched 64 hex digits.
        self.prev_hash.copy_from_slice(hash.as_bytes());
        self.expected_seq += 1;
        true
    }

    fn hash_matches(&mut self, f: &Fields<'_>, hash: &str) -> bool {
        self.buf.clear();
        write_canonical(&mut self.buf, f);
        let digest = digest::digest(&digest::SHA256, &self.buf);
        let mut hex = [0u8; 64];
        hex_digest(&digest, &mut hex);
        hex == hash.as_bytes()
    }

    /// The wrong link waiting for a look-up: the entry's number and the hash it names.
    pub(crate) fn pending_link(&self) -> Option<(i64, &str)> {
        self.pending_link.as_ref().map(|(s, h)| (*s, h.as_str()))
    }

    /// Decides the pending wrong link: `linked` is the earlier entry holding the hash
    /// it names, if any.
    pub(crate) fn resolve_link(&mut self, linked: Option<i64>) {
        let Some((seq, _)) = self.pending_link.take() else {
            return;
        };
        self.problem = Some(match linked {
            Some(linked) => Problem {
                seq,
                kind: ProblemKind::Reordered,
                message: format!(
                    "entry {} links to entry {} instead of entry {}",
                    seq,
                    linked,
                    seq - 1
                ),
            },
            None => Problem {
                seq,
                kind: ProblemKind::BrokenLink,
                message: format!(
                    "entry {} does not link to entry {}: the predecessor was replaced",
                    seq,
                    seq - 1
                ),
            },
        });
    }

    /// Ends verification; `head` is the chain head recorded by the database, if known.
    pub fn finish(mut self, head: Option<(i64, String)>) -> Report {
        self.resolve_link(None);
        let last_seq = self.expected_seq - 1;
        let last_hash = String::from_utf8_lossy(&self.prev_hash).into_owned();
        if self.problem.is_none() {
            if let Some((head_seq, head_hash)) = head {
                if head_seq > last_seq {
                    self.problem = Some(Problem {
                        seq: last_seq + 1,
                        kind: ProblemKind::Missing,
                        message: if head_seq == last_seq + 1 {
                            format!(
                                "entry {} is missing (the chain head is at {head_seq})",
                                last_seq + 1
                            )
                        } else {
                            format!(
                                "entries {} to {head_seq} are missing (the chain head is at {head_seq})",
                                last_seq + 1
                            )
                        },
                    });
                } else if head_seq == last_seq && head_hash != last_hash {
                    self.problem = Some(Problem {
                        seq: last_seq,
                        kind: ProblemKind::Altered,
                        message: format!("entry {last_seq} differs from the recorded chain head"),
                    });
                }
            }
        }
        Report {
            intact: self.problem.is_none(),
            entries: self.entries,
            last_seq,
            last_hash,
            problem: self.problem,
        }
    }
}

/// Rows read per query (one at a time: see [`rows::for_each`]).
const BATCH: usize = 100_000;

/// Verifies the whole journal in the database.
///
/// Rows are read in keyset-paginated batches and hashed from their stored text (the
/// canonical encoding is written around the stored `details`, which must already be
/// canonical), so memory stays constant. Only when a link is wrong is the database asked
/// which earlier entry, if any, holds the hash it names.
pub fn verify(conn: &mut DbConn) -> Result<Report, JournalError> {
    let head: (i64, String) = journal_head::table
        .filter(journal_head::id.eq(1))
        .select((journal_head::seq, journal_head::hash))
        .first(conn)?;
    let mut v = Verifier::default();
    let mut after = 0;
    loop {
        let read = rows::for_each(conn, after, BATCH, |row| -> Result<bool, JournalError> {
            after = row.seq;
            Ok(v.check(&row.fields(), row.hash()))
        })?;
        if let Some((seq, hash)) = v.pending_link() {
            let linked = earlier_entry(conn, seq, hash)?;
            v.resolve_link(linked);
        }
        if read < BATCH || v.problem.is_some() {
            break;
        }
    }
    Ok(v.finish(Some(head)))
}

/// The latest entry before `seq` whose hash is `hash`. There is no index on `hash`:
/// this scans, once, and only when a link is wrong.
fn earlier_entry(conn: &mut DbConn, seq: i64, hash: &str) -> Result<Option<i64>, JournalError> {
    Ok(journal_entries::table
        .filter(journal_entries::hash.eq(hash))
        .filter(journal_entries::seq.lt(seq))
        .order(journal_entries::seq.desc())
        .select(journal_entries::seq)
        .first(conn)
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn chain(n: i64) -> Vec<Entry> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = Entry {
                    seq,
                    at: NaiveDate::from_ymd_opt(2026, 11, 28)
                        .and_then(|d| d.and_hms_micro_opt(1, 2, 3, 456789))
                        .expect("valid date"),
                    action: "test.entry".into(),
                    actor: Some("system".into()),
                    structure_id: None,
                    usager_id: None,
                    mandate_id: None,
                    authorisation_id: None,
                    client_id: None,
                    details: format!("{{\"n\":{seq}}}"),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.compute_hash();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    /// Verifies `entries`, looking wrong links up among the entries before.
    /// The problem found in `entries`, each linked to the one before, checked against the
    /// chain head `head`.
    fn problem_against_head(entries: &[Entry], head: (i64, String)) -> Problem {
        let mut v = Verifier::default();
        entries.iter().for_each(|e| assert!(v.push(e)));
        v.finish(Some(head)).problem.expect("problem")
    }

    fn run(entries: &[Entry]) -> Report {
        let mut v = Verifier::default();
        for (i, e) in entries.iter().enumerate() {
            let before = &entries[..i];
            let found = |h: &str| before.iter().rev().find(|x| x.hash == h).map(|x| x.seq);
            if !v.push_with(e, found) {
                break;
            }
        }
        v.finish(None)
    }

    #[test]
    fn intact_chain_verifies() {
        let r = run(&chain(5));
        assert!(r.intact, "{r:?}");
        assert_eq!(r.last_seq, 5);
    }

    #[test]
    fn altered_entry_is_named() {
        let mut c = chain(5);
        c[2].action = "other".into();
        let p = run(&c).problem.expect("problem");
        assert_eq!((p.seq, p.kind), (3, ProblemKind::Altered));
    }

    #[test]
    fn missing_entry_is_named() {
        let mut c = chain(5);
        c.remove(1);
        let p = run(&c).problem.expect("problem");
        assert_eq!((p.seq, p.kind), (2, ProblemKind::Missing));
    }

    #[test]
    fn reordered_entries_are_named() {
        // Entries re-numbered and re-hashed in another order: each hash is valid but
        // the links point to the wrong predecessors.
        let c = chain(4);
        let mut swapped = vec![c[0].clone(), c[2].clone(), c[1].clone(), c[3].clone()];
        swapped[1].seq = 2;
        swapped[2].seq = 3;
        for e in swapped.iter_mut() {
            e.hash = e.compute_hash();
        }
        let p = run(&swapped).problem.expect("problem");
        assert_eq!(p.seq, 2);
        assert_eq!(p.kind, ProblemKind::BrokenLink);
        let mut c = chain(4);
        c[3].prev_hash = c[1].hash.clone();
        c[3].hash = c[3].compute_hash();
        let p = run(&c).problem.expect("problem");
        assert_eq!((p.seq, p.kind), (4, ProblemKind::Reordered));
    }

    #[test]
    fn truncated_end_is_caught_from_the_head() {
        let c = chain(5);
        let p = problem_against_head(&c[..3], (5, c[4].hash.clone()));
        assert_eq!((p.seq, p.kind), (4, ProblemKind::Missing));
    }

    #[test]
    fn a_wrong_link_without_look_up_is_a_broken_link() {
        let mut c = chain(4);
        c[3].prev_hash = c[1].hash.clone();
        c[3].hash = c[3].compute_hash();
        let mut v = Verifier::default();
        assert!(c[..3].iter().all(|e| v.push(e)));
        assert!(!v.push(&c[3]));
        assert!(!v.push(&c[3]), "stays failed");
        let r = v.finish(None);
        let p = r.problem.expect("problem");
        assert_eq!((p.seq, p.kind), (4, ProblemKind::BrokenLink));
        assert_eq!(
            (r.entries, r.last_seq, r.last_hash),
            (4, 3, c[2].hash.clone())
        );
    }

    #[test]
    fn the_head_hash_must_match_the_last_entry() {
        let c = chain(3);
        let r = run(&c);
        assert_eq!(r.last_hash, c[2].hash);
        let p = problem_against_head(&c, (3, c[1].hash.clone()));
        assert_eq!((p.seq, p.kind), (3, ProblemKind::Altered));
    }

    #[test]
    fn non_canonical_details_are_an_alteration_even_when_hashed() {
        // Hashed as stored, with a space: the stored bytes match the hash, but an
        // outside verifier re-encodes the exported details and would disagree.
        for details in [r#"{"n": 2}"#, r#"{"n":2,"a":1}"#, r#"{"n":-0}"#, "not json"] {
            let mut c = chain(3);
            c[1].details = details.into();
            let mut buf = Vec::new();
            let mut at = TimeText::default();
            let f = Fields {
                seq: 2,
                at: at.format(&c[1].at),
                action: &c[1].action,
                actor: c[1].actor.as_deref(),
                structure: None,
                usager: None,
                mandate: None,
                authorisation: None,
                client: None,
                details,
                prev_hash: &c[1].prev_hash,
            };
            write_canonical(&mut buf, &f);
            c[1].hash = hex::encode(digest::digest(&digest::SHA256, &buf));
            let p = run(&c).problem.expect("problem");
            assert_eq!((p.seq, p.kind), (2, ProblemKind::Altered), "{details}");
            assert!(p.message.contains("canonical"), "{}", p.message);
        }
    }

    #[test]
    fn a_bad_hash_text_is_an_alteration() {
        for bad in ["", "00", &"A".repeat(64)] {
            let mut c = chain(2);
            c[1].hash = bad.to_string();
            let p = run(&c).problem.expect("problem");
            assert_eq!((p.seq, p.kind), (2, ProblemKind::Altered));
        }
        let mut c = chain(2);
        c[1].hash = c[1].hash.to_uppercase();
        assert!(!run(&c).intact);
    }

    #[test]
    fn memory_does_not_grow_with_the_chain() {
        let c = chain(3000);
        let mut v = Verifier::default();
        let cap = v.buf.capacity();
        c.iter().for_each(|e| assert!(v.push(e)));
        assert_eq!(v.buf.capacity(), cap);
        assert!(v.finish(None).intact);
    }
}
