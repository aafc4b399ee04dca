//! Chain verification: recomputes every hash and checks every link and number.

use std::collections::HashMap;

use serde::Serialize;

use super::{entries_after, Entry, JournalError, GENESIS_HASH};
use crate::store::schema::journal_head;
use crate::store::DbConn;
use diesel::prelude::*;

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
#[derive(Debug)]
pub struct Verifier {
    expected_seq: i64,
    prev_hash: String,
    seen: HashMap<String, i64>,
    entries: u64,
    problem: Option<Problem>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
            seen: HashMap::new(),
            entries: 0,
            problem: None,
        }
    }
}

impl Verifier {
    /// Checks the next entry; returns false once a problem has been found.
    pub fn push(&mut self, e: &Entry) -> bool {
        if self.problem.is_some() {
            return false;
        }
        self.entries += 1;
        let problem = if e.seq > self.expected_seq {
            Some(Problem {
                seq: self.expected_seq,
                kind: ProblemKind::Missing,
                message: if e.seq == self.expected_seq + 1 {
                    format!("entry {} is missing", self.expected_seq)
                } else {
                    format!("entries {} to {} are missing", self.expected_seq, e.seq - 1)
                },
            })
        } else if e.seq < self.expected_seq {
            Some(Problem {
                seq: e.seq,
                kind: ProblemKind::Reordered,
                message: format!(
                    "entry {} appears after entry {}",
                    e.seq,
                    self.expected_seq - 1
                ),
            })
        } else if e.compute_hash() != e.hash {
            Some(Problem {
                seq: e.seq,
                kind: ProblemKind::Altered,
                message: format!(
                    "entry {} was altered: its content does not match its hash",
                    e.seq
                ),
            })
        } else if e.prev_hash != self.prev_hash {
            match self.seen.get(&e.prev_hash) {
                Some(&linked) => Some(Problem {
                    seq: e.seq,
                    kind: ProblemKind::Reordered,
                    message: format!(
                        "entry {} links to entry {} instead of entry {}",
                        e.seq,
                        linked,
                        e.seq - 1
                    ),
                }),
                None => Some(Problem {
                    seq: e.seq,
                    kind: ProblemKind::BrokenLink,
                    message: format!(
                        "entry {} does not link to entry {}: the predecessor was replaced",
                        e.seq,
                        e.seq - 1
                    ),
                }),
            }
        } else {
            None
        };
        if let Some(p) = problem {
            self.problem = Some(p);
            return false;
        }
        self.seen.insert(e.hash.clone(), e.seq);
        self.prev_hash = e.hash.clone();
        self.expected_seq += 1;
        true
    }

    /// Ends verification; `head` is the chain head recorded by the database, if known.
    pub fn finish(mut self, head: Option<(i64, String)>) -> Report {
        let last_seq = self.expected_seq - 1;
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
                } else if head_seq == last_seq && head_hash != self.prev_hash {
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
            last_hash: self.prev_hash,
            problem: self.problem,
        }
    }
}

/// Verifies the whole journal in the database, reading in batches.
pub fn verify(conn: &mut DbConn) -> Result<Report, JournalError> {
    let head: (i64, String) = journal_head::table
        .filter(journal_head::id.eq(1))
        .select((journal_head::seq, journal_head::hash))
        .first(conn)?;
    let mut v = Verifier::default();
    let mut after = 0;
    'outer: loop {
        let batch = entries_after(conn, after, 10_000)?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for e in &batch {
            if !v.push(e) {
                break 'outer;
            }
        }
    }
    Ok(v.finish(Some(head)))
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

    fn run(entries: &[Entry]) -> Report {
        let mut v = Verifier::default();
        for e in entries {
            if !v.push(e) {
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
        let mut v = Verifier::default();
        for e in &c[..3] {
            v.push(e);
        }
        let p = v
            .finish(Some((5, c[4].hash.clone())))
            .problem
            .expect("problem");
        assert_eq!((p.seq, p.kind), (4, ProblemKind::Missing));
    }
}
