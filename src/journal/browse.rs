//! Browsing the journal (the auditor's `/audit`, the manager's `/gestion/journal`):
//! filters read from a query string, a page of entries newest first with keyset
//! pagination on `seq`, the chain's status, and the record of a verification
//! (`journal.verified`). Ids only: names are the caller's business.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Timestamp};

use super::{append, checkpoint, Entry, JournalError, NewEntry, Report};
use crate::store::schema::journal_entries;
use crate::store::DbConn;

/// Entries per page.
pub const PAGE: i64 = 50;

/// How far, in entries, an entry's `at` may stand out of seq order and still be found
/// by a date filter (docs/journal.md, "Browsing").
pub const DATE_SLACK: i64 = 10_000;

/// The filters of a journal page (every one optional; all given ones apply together).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Action code.
    pub action: Option<String>,
    /// Structure id.
    pub structure: Option<String>,
    /// Actor, as written in entries (`user:<id>`, `system`, …).
    pub actor: Option<String>,
    /// Usager id.
    pub usager: Option<String>,
    /// Mandate id.
    pub mandate: Option<String>,
    /// First day (UTC), included.
    pub from: Option<NaiveDate>,
    /// Last day (UTC), included.
    pub to: Option<NaiveDate>,
    /// Keyset: entries with `seq < after`.
    pub after: Option<i64>,
}

/// The parameters a journal page accepts, in the order links write them.
pub const PARAMS: [&str; 8] = [
    "action",
    "structure",
    "actor",
    "usager",
    "mandate",
    "from",
    "to",
    "after",
];

fn valid_code(s: &str) -> bool {
    s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn valid_id(s: &str) -> bool {
    s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

fn parse_day(name: &str, v: &str) -> Result<NaiveDate, String> {
    let ok = v.len() == 10 && v.as_bytes()[4] == b'-' && v.as_bytes()[7] == b'-';
    ok.then(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| {
            format!("Le filtre {name} doit être une date AAAA-MM-JJ valide (reçu « {v} »).")
        })
}

impl Filter {
    /// Reads a query string: the parameters of [`PARAMS`], each at most once; an empty
    /// value is no filter. The refusal is a French sentence for a 400.
    pub fn parse(query: &str) -> Result<Filter, String> {
        let mut f = Filter::default();
        let mut seen = [false; PARAMS.len()];
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let Some(i) = PARAMS.iter().position(|p| *p == k) else {
                return Err(format!(
                    "Paramètre inconnu « {} » : les filtres possibles sont {}.",
                    k.chars().take(50).collect::<String>(),
                    PARAMS.join(", ")
                ));
            };
            if seen[i] {
                return Err(format!("Le filtre {k} est donné deux fois."));
            }
            seen[i] = true;
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            let shown = || v.chars().take(50).collect::<String>();
            let id = |ok: bool, what: &str| -> Result<Option<String>, String> {
                ok.then(|| Some(v.to_string())).ok_or_else(|| {
                    format!(
                        "Le filtre {k} n’est pas {what} valide (reçu « {} »).",
                        shown()
                    )
                })
            };
            match i {
                0 => f.action = id(valid_code(v), "un code d’action")?,
                1 => f.structure = id(valid_id(v), "un identifiant")?,
                2 => f.actor = id(valid_id(v), "un acteur")?,
                3 => f.usager = id(valid_id(v), "un identifiant")?,
                4 => f.mandate = id(valid_id(v), "un identifiant")?,
                5 => f.from = Some(parse_day("from", v)?),
                6 => f.to = Some(parse_day("to", v)?),
                _ => {
                    let n = v
                        .parse::<i64>()
                        .ok()
                        .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| {
                            format!(
                                "Le paramètre after doit être un numéro d’entrée (reçu « {} »).",
                                shown()
                            )
                        })?;
                    f.after = Some(n);
                }
            }
        }
        if let (Some(a), Some(b)) = (f.from, f.to) {
            if a > b {
                return Err(format!(
                    "La date de début ({}) est après la date de fin ({}).",
                    a.format("%d/%m/%Y"),
                    b.format("%d/%m/%Y")
                ));
            }
        }
        Ok(f)
    }

    /// The filters as `(name, value)` pairs, `after` left out.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let day = |d: &Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
        [
            ("action", self.action.clone()),
            ("structure", self.structure.clone()),
            ("actor", self.actor.clone()),
            ("usager", self.usager.clone()),
            ("mandate", self.mandate.clone()),
            ("from", day(&self.from)),
            ("to", day(&self.to)),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }

    /// The query string of these filters (without `after`), then `extra`.
    pub fn query_with(&self, extra: &[(&str, String)]) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs() {
            if !extra.iter().any(|(e, _)| *e == k) {
                s.append_pair(k, &v);
            }
        }
        for (k, v) in extra {
            s.append_pair(k, v);
        }
        s.finish()
    }

    /// True when a filter other than `after` is set.
    pub fn any(&self) -> bool {
        !self.pairs().is_empty()
    }
}

/// A page of entries.
#[derive(Debug, Clone)]
pub struct Page {
    /// Entries, newest first, at most [`PAGE`].
    pub entries: Vec<Entry>,
    /// The `after` of the next (older) page, when there is one.
    pub older: Option<i64>,
}

/// The start and end in `at` (UTC) of a range of Paris days (the pages are read by
/// people, in Paris time): `[from 00:00, to + 1 day 00:00)`, Europe/Paris, daylight
/// saving included.
fn day_bounds(f: &Filter) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
    use crate::domain::french::paris_day_start;
    let start = f.from.map(paris_day_start);
    let end = f.to.and_then(|d| d.succ_opt()).map(paris_day_start);
    (start, end)
}

/// The newest entries about one usager with one of `actions`, newest first, at most
/// `limit` (the person's own space: the uses of their mandates).
pub fn of_usager(
    conn: &mut DbConn,
    usager_id: &str,
    actions: &[&str],
    limit: i64,
) -> QueryResult<Vec<Entry>> {
    journal_entries::table
        .filter(journal_entries::usager_id.eq(usager_id))
        .filter(journal_entries::action.eq_any(actions))
        .order(journal_entries::seq.desc())
        .limit(limit)
        .select(Entry::as_select())
        .load(conn)
}

/// One page of the journal, newest first: entries matching `f` (and `structure` when the
/// view is confined to one) with `seq < f.after` (default: from the head). At most five
/// queries: the head, two look-ups of the index on `at` when dates are given, the page.
///
/// `at` is close to seq order but not monotonic, so a date range is turned into a range
/// of seq by the index on `at` (the first entry at or after the start, the last before
/// the end), widened by [`DATE_SLACK`] entries each way, and `at` is then checked on every
/// entry: each page reads one index range backwards and stops after [`PAGE`] + 1 rows.
pub fn page(conn: &mut DbConn, f: &Filter, structure: Option<&str>) -> Result<Page, JournalError> {
    let (head, _) = super::head(conn)?;
    let after = match f.after {
        Some(a) if a < 1 || a > head + 1 => {
            return Err(JournalError::OutOfRange(format!(
                "Le paramètre after doit être compris entre 1 et {} (le numéro de la dernière entrée plus un) ; reçu {a}.",
                head + 1
            )))
        }
        Some(a) => a,
        None => head + 1,
    };
    let (start, end) = day_bounds(f);
    let mut upper = after;
    let mut lower = 0;
    if let Some(end) = end {
        let last: Option<i64> = journal_entries::table
            .filter(journal_entries::at.lt(end))
            .order((journal_entries::at.desc(), journal_entries::seq.desc()))
            .select(journal_entries::seq)
            .first(conn)
            .optional()?;
        match last {
            Some(s) => upper = upper.min(s.saturating_add(DATE_SLACK + 1)),
            None => {
                return Ok(Page {
                    entries: vec![],
                    older: None,
                })
            }
        }
    }
    if let Some(start) = start {
        let first: Option<i64> = journal_entries::table
            .filter(journal_entries::at.ge(start))
            .order((journal_entries::at.asc(), journal_entries::seq.asc()))
            .select(journal_entries::seq)
            .first(conn)
            .optional()?;
        match first {
            Some(s) => lower = s - DATE_SLACK - 1,
            None => {
                return Ok(Page {
                    entries: vec![],
                    older: None,
                })
            }
        }
    }
    let mut q = journal_entries::table
        .filter(journal_entries::seq.lt(upper))
        .order(journal_entries::seq.desc())
        .select(Entry::as_select())
        .limit(PAGE + 1)
        .into_boxed();
    if lower > 0 {
        q = q.filter(journal_entries::seq.gt(lower));
    }
    // `at` is compared through an expression that no index serves, so the page reads the
    // range of seq above, newest first, and stops after PAGE + 1 rows. Given a two-sided
    // range of `at`, SQLite's planner (no statistics) and PostgreSQL's (before its first
    // ANALYZE) took the index on `at` and sorted the whole range by seq: one busy day is
    // the whole journal at worst (1.2 s and 0.6 s at 1 M entries, against 1 ms).
    let at_expr = match conn {
        DbConn::Pg(_) => "(at + interval '0 seconds')",
        DbConn::Sqlite(_) => "(+at)",
    };
    if let Some(s) = start {
        q = q.filter(sql::<Bool>(&format!("{at_expr} >= ")).bind::<Timestamp, _>(s));
    }
    if let Some(e) = end {
        q = q.filter(sql::<Bool>(&format!("{at_expr} < ")).bind::<Timestamp, _>(e));
    }
    if let Some(s) = structure {
        q = q.filter(journal_entries::structure_id.eq(s.to_string()));
    }
    if let Some(v) = &f.structure {
        q = q.filter(journal_entries::structure_id.eq(v.clone()));
    }
    if let Some(v) = &f.action {
        q = q.filter(journal_entries::action.eq(v.clone()));
    }
    if let Some(v) = &f.actor {
        q = q.filter(journal_entries::actor.eq(v.clone()));
    }
    if let Some(v) = &f.usager {
        q = q.filter(journal_entries::usager_id.eq(v.clone()));
    }
    if let Some(v) = &f.mandate {
        q = q.filter(journal_entries::mandate_id.eq(v.clone()));
    }
    let mut entries: Vec<Entry> = q.load(conn)?;
    let older = if entries.len() as i64 > PAGE {
        entries.truncate(PAGE as usize);
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Page { entries, older })
}

/// The last recorded verification (a `journal.verified` entry).
#[derive(Debug, Clone)]
pub struct LastVerification {
    /// Its entry.
    pub entry: Entry,
    /// Whether the journal was intact.
    pub intact: bool,
    /// Entries checked.
    pub entries: i64,
    /// The problem's kind and seq, when not intact.
    pub problem: Option<(String, i64)>,
}

/// The chain's state as the auditor's page shows it.
#[derive(Debug, Clone)]
pub struct Status {
    /// The head: the last entry's seq (the number of entries) and hash.
    pub head: (i64, String),
    /// The latest verification recorded.
    pub last_verification: Option<LastVerification>,
    /// The latest checkpoint: its size and when it was made.
    pub checkpoint: Option<(i64, NaiveDateTime)>,
}

/// The action of a recorded verification.
pub const VERIFIED: &str = "journal.verified";

/// The chain's status, in three queries (head, last `journal.verified` by its index,
/// latest checkpoint).
pub fn status(conn: &mut DbConn) -> Result<Status, JournalError> {
    let head = super::head(conn)?;
    let last: Option<Entry> = journal_entries::table
        .filter(journal_entries::action.eq(VERIFIED))
        .order(journal_entries::seq.desc())
        .select(Entry::as_select())
        .first(conn)
        .optional()?;
    let last_verification = last.map(|entry| {
        let d: serde_json::Value = serde_json::from_str(&entry.details).unwrap_or_default();
        LastVerification {
            intact: d["intact"].as_bool().unwrap_or(false),
            entries: d["entries"].as_i64().unwrap_or(0),
            problem: d["problem_kind"]
                .as_str()
                .map(|k| (k.to_string(), d["problem_seq"].as_i64().unwrap_or(0))),
            entry,
        }
    });
    let checkpoint = checkpoint::latest(conn)?.map(|c| (c.size, c.created_at));
    Ok(Status {
        head,
        last_verification,
        checkpoint,
    })
}

/// Journals the result of a verification started by `actor` (`user:<id>`), inside the
/// caller's transaction: `journal.verified` with intact, entries, last_seq, checkpoints,
/// and problem_kind, problem_seq when not intact.
pub fn record_verification(
    conn: &mut DbConn,
    at: chrono::DateTime<chrono::Utc>,
    actor: &str,
    report: &Report,
) -> Result<Entry, JournalError> {
    let mut e = NewEntry::new(VERIFIED)
        .actor(actor)
        .detail("intact", report.intact)
        .detail("entries", report.entries)
        .detail("last_seq", report.last_seq)
        .detail("checkpoints", report.checkpoints);
    if let Some(p) = &report.problem {
        let kind = serde_json::to_value(p.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        e = e.detail("problem_kind", kind).detail("problem_seq", p.seq);
    }
    append(conn, at, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_days_of_the_filter_are_paris_days() {
        let f = Filter::parse("from=2026-07-02&to=2026-07-02").unwrap();
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        // 2 July in Paris (summer time): from 22:00 UTC on 1 July to 22:00 UTC on 2 July,
        // so an entry at 23:30 UTC on 1 July belongs to 2 July.
        assert_eq!(
            day_bounds(&f),
            (Some(t("2026-07-01 22:00")), Some(t("2026-07-02 22:00")))
        );
        let f = Filter::parse("from=2026-01-15&to=2026-01-16").unwrap();
        assert_eq!(
            day_bounds(&f),
            (Some(t("2026-01-14 23:00")), Some(t("2026-01-16 23:00")))
        );
    }

    #[test]
    fn filters_parse_and_refuse() {
        let f = Filter::parse(
            "action=login.failed&from=2026-11-01&to=2026-11-30&after=12&actor=user%3Aab-1",
        )
        .unwrap();
        assert_eq!(f.action.as_deref(), Some("login.failed"));
        assert_eq!(f.actor.as_deref(), Some("user:ab-1"));
        assert_eq!(f.after, Some(12));
        assert_eq!(f.from, NaiveDate::from_ymd_opt(2026, 11, 1));
        assert_eq!(Filter::parse("action=&to=").unwrap(), Filter::default());
        for bad in [
            "nope=1",
            "action=a&action=b",
            "from=2026-13-01",
            "from=2026-1-01",
            "to=hier",
            "after=-1",
            "after=1.0",
            "after=%2B3",
            "after=99999999999999999999",
            "action=a%20b",
            "usager=%3Cscript%3E",
            "from=2026-11-02&to=2026-11-01",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn links_keep_the_filters() {
        let f = Filter::parse("usager=u1&from=2026-11-01&after=5").unwrap();
        assert_eq!(f.query_with(&[]), "usager=u1&from=2026-11-01");
        assert_eq!(
            f.query_with(&[("after", "3".into())]),
            "usager=u1&from=2026-11-01&after=3"
        );
        assert_eq!(
            f.query_with(&[("usager", "u2".into())]),
            "from=2026-11-01&usager=u2"
        );
    }
}
