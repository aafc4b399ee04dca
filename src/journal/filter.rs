//! Filters over the journal, as the auditor's page and the excerpts take them from a query
//! string (`action`, `structure`, `actor`, `usager`, `mandate`, `from`, `to`, `after`):
//! parsed once, with French messages, and applied in SQL.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};

/// The filters' names, in the order of the documentation.
pub const NAMES: [&str; 8] = [
    "action",
    "structure",
    "actor",
    "usager",
    "mandate",
    "from",
    "to",
    "after",
];

/// Longest text filter accepted (ids are 36 characters, actors a few more).
const MAX_TEXT: usize = 100;

/// Filters over journal entries; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Action code, exactly.
    pub action: Option<String>,
    /// Structure id, exactly.
    pub structure: Option<String>,
    /// Actor, exactly (`user:<id>`, `cli`, …).
    pub actor: Option<String>,
    /// Usager id, exactly.
    pub usager: Option<String>,
    /// Mandate id, exactly.
    pub mandate: Option<String>,
    /// First day (Paris), included.
    pub from: Option<NaiveDate>,
    /// Last day (Paris), included.
    pub to: Option<NaiveDate>,
    /// Only entries with a greater `seq` (keyset pagination).
    pub after: Option<i64>,
    /// The filters as given (empty ones left out), by name.
    pub given: BTreeMap<String, String>,
}

impl Filter {
    /// Parses a query string: each filter at most once, nothing else; an empty value is
    /// no filter. The error is a French sentence for the person who typed it.
    pub fn parse(query: &str) -> Result<Filter, String> {
        let mut f = Filter::default();
        let mut seen: Vec<String> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            if !NAMES.contains(&k.as_ref()) {
                return Err(format!(
                    "Filtre inconnu « {} » : les filtres possibles sont {}.",
                    shorten(&k),
                    NAMES.join(", ")
                ));
            }
            if seen.iter().any(|s| *s == k) {
                return Err(format!("Le filtre {k} est donné deux fois."));
            }
            seen.push(k.to_string());
            if v.is_empty() {
                continue;
            }
            match k.as_ref() {
                "from" | "to" => {
                    let d = parse_day(&v).ok_or_else(|| {
                        format!(
                            "Le filtre {k} doit être une date AAAA-MM-JJ (reçu « {} »).",
                            shorten(&v)
                        )
                    })?;
                    if k == "from" {
                        f.from = Some(d);
                    } else {
                        f.to = Some(d);
                    }
                }
                "after" => {
                    let n = v
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n >= 0 && v.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| {
                            format!(
                                "Le filtre after doit être un numéro d’entrée (entier positif ou nul, reçu « {} »).",
                                shorten(&v)
                            )
                        })?;
                    f.after = Some(n);
                }
                name => {
                    if v.chars().count() > MAX_TEXT
                        || v.chars().any(|c| c.is_control() || c.is_whitespace())
                    {
                        return Err(format!(
                            "Le filtre {name} doit être un identifiant sans espace de {MAX_TEXT} caractères au plus."
                        ));
                    }
                    let slot = match name {
                        "action" => &mut f.action,
                        "structure" => &mut f.structure,
                        "actor" => &mut f.actor,
                        "usager" => &mut f.usager,
                        _ => &mut f.mandate,
                    };
                    *slot = Some(v.to_string());
                }
            }
            f.given.insert(k.to_string(), v.to_string());
        }
        if let (Some(from), Some(to)) = (f.from, f.to) {
            if from > to {
                return Err(format!(
                    "La période est vide : le filtre from ({from}) est après le filtre to ({to})."
                ));
            }
        }
        Ok(f)
    }

    /// The first instant included (UTC), if `from` is given: the start of that Paris
    /// day, as the auditor's page counts days.
    pub fn from_time(&self) -> Option<NaiveDateTime> {
        self.from.map(crate::domain::french::paris_day_start)
    }

    /// The first instant excluded (UTC: the start of the Paris day after `to`), if `to`
    /// is given.
    pub fn until_time(&self) -> Option<NaiveDateTime> {
        self.to
            .and_then(|d| d.succ_opt())
            .map(crate::domain::french::paris_day_start)
    }
}

/// `YYYY-MM-DD`, exactly (four-digit year), a real day.
fn parse_day(v: &str) -> Option<NaiveDate> {
    let b = v.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()
}

/// A value quoted back in a message, cut to a readable length.
fn shorten(v: &str) -> String {
    let mut s: String = v.chars().take(40).collect();
    if v.chars().count() > 40 {
        s.push('…');
    }
    s
}

/// Applies a [`Filter`] to a boxed query over `journal_entries` (`$q`), and returns it.
/// A macro, so that one text serves the SQLite and PostgreSQL query types alike.
#[macro_export]
#[doc(hidden)]
macro_rules! apply_journal_filter {
    ($q:expr, $f:expr) => {{
        use $crate::store::schema::journal_entries as je;
        let f: &$crate::journal::filter::Filter = $f;
        let mut q = $q;
        if let Some(v) = f.action.clone() {
            q = q.filter(je::action.eq(v));
        }
        if let Some(v) = f.structure.clone() {
            q = q.filter(je::structure_id.eq(v));
        }
        if let Some(v) = f.actor.clone() {
            q = q.filter(je::actor.eq(v));
        }
        if let Some(v) = f.usager.clone() {
            q = q.filter(je::usager_id.eq(v));
        }
        if let Some(v) = f.mandate.clone() {
            q = q.filter(je::mandate_id.eq(v));
        }
        if let Some(t) = f.from_time() {
            q = q.filter(je::at.ge(t));
        }
        if let Some(t) = f.until_time() {
            q = q.filter(je::at.lt(t));
        }
        if let Some(after) = f.after {
            q = q.filter(je::seq.gt(after));
        }
        q
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_filters_and_keeps_what_was_given() {
        let f =
            Filter::parse("action=mandate.created&from=2026-11-01&to=2026-11-30&after=12&actor=")
                .expect("valid");
        assert_eq!(f.action.as_deref(), Some("mandate.created"));
        assert_eq!(f.after, Some(12));
        assert_eq!(f.from, NaiveDate::from_ymd_opt(2026, 11, 1));
        // Paris days: 1 December starts at 23:00 UTC the day before (winter time), and
        // 1 November at 23:00 UTC on 31 October (winter time since 25 October).
        assert_eq!(
            f.until_time(),
            NaiveDate::from_ymd_opt(2026, 11, 30).and_then(|d| d.and_hms_opt(23, 0, 0))
        );
        assert_eq!(
            f.from_time(),
            NaiveDate::from_ymd_opt(2026, 10, 31).and_then(|d| d.and_hms_opt(23, 0, 0))
        );
        assert_eq!(f.actor, None);
        assert_eq!(f.given.len(), 4);
        assert_eq!(Filter::parse("").expect("empty"), Filter::default());
    }

    #[test]
    fn refuses_bad_filters_in_french() {
        for q in [
            "foo=1",
            "action=a&action=b",
            "from=2026-13-01",
            "from=26-11-01",
            "to=2026-02-30",
            "from=2026-11-02&to=2026-11-01",
            "after=-1",
            "after=+3",
            "after=abc",
            "after=99999999999999999999",
            "structure=a%20b",
        ] {
            let e = Filter::parse(q).expect_err(q);
            assert!(e.starts_with("L") || e.starts_with("F"), "{q}: {e}");
        }
    }
}
