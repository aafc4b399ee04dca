//! Public statistics (`/statistiques`): aggregate counts only, never a name, an id or a
//! structure's own figures. Read in one transaction from live tables and from the
//! journal's `mandate.used` entries (each carries its démarche).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::domain::french;
use crate::domain::mandate::{Demarche, DEMARCHES};
use crate::domain::roles::{Role, Roles};
use crate::error::Error;
use crate::store::schema::{
    journal_entries, mandates, memberships, structures, totp_cards, usagers, users,
};
use crate::store::{read_tx, DbConn};

/// How many calendar months of uses the page shows (the current one included).
pub const MONTHS_SHOWN: u32 = 12;

/// Uses of one calendar month (Paris time), by démarche.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Month {
    /// First day of the month.
    pub first_day: NaiveDate,
    /// Uses by démarche, in the order of [`DEMARCHES`].
    pub uses: Vec<i64>,
}

impl Month {
    /// "novembre 2026".
    pub fn label(&self) -> String {
        format!(
            "{} {}",
            french::MONTHS[self.first_day.month0() as usize],
            self.first_day.year()
        )
    }

    /// "nov. 2026" (the usual French abbreviations).
    pub fn short_label(&self) -> String {
        const SHORT: [&str; 12] = [
            "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
            "nov.", "déc.",
        ];
        format!(
            "{} {}",
            SHORT[self.first_day.month0() as usize],
            self.first_day.year()
        )
    }

    /// "2026-11".
    pub fn key(&self) -> String {
        self.first_day.format("%Y-%m").to_string()
    }

    /// All uses of the month.
    pub fn total(&self) -> i64 {
        self.uses.iter().sum()
    }
}

/// The figures of the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statistics {
    /// When they were read (UTC).
    pub at: NaiveDateTime,
    /// Active structures.
    pub structures: i64,
    /// Active aidant accounts with a second factor and an accreditation in force, in at
    /// least one active structure.
    pub aidants: i64,
    /// Mandates neither revoked nor past their end.
    pub active_mandates: i64,
    /// People who ever had a mandate.
    pub people_helped: i64,
    /// The last [`MONTHS_SHOWN`] months, oldest first.
    pub months: Vec<Month>,
}

impl Statistics {
    /// The démarches, in the order of each month's `uses`.
    pub fn demarches(&self) -> &'static [Demarche] {
        &DEMARCHES
    }

    /// Uses over the months shown, by démarche.
    pub fn totals(&self) -> Vec<i64> {
        (0..DEMARCHES.len())
            .map(|i| self.months.iter().map(|m| m.uses[i]).sum())
            .collect()
    }

    /// The same figures as CSV (RFC 4180, comma, CRLF): one `indicateur,valeur` block,
    /// then one row per month and démarche.
    pub fn csv(&self) -> String {
        let mut out = String::from("indicateur,valeur\r\n");
        for (name, value) in [
            ("structures_actives", self.structures),
            ("aidants_habilites", self.aidants),
            ("mandats_actifs", self.active_mandates),
            ("personnes_accompagnees", self.people_helped),
        ] {
            out.push_str(&format!("{name},{value}\r\n"));
        }
        out.push_str("\r\nmois,demarche,libelle,utilisations\r\n");
        for m in &self.months {
            for (d, n) in DEMARCHES.iter().zip(&m.uses) {
                out.push_str(&format!(
                    "{},{},{},{n}\r\n",
                    m.key(),
                    d.code,
                    csv_field(d.label)
                ));
            }
        }
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The first day (Paris) of the month `back` months before the Paris month of `now`.
fn month_start(now: NaiveDateTime, back: u32) -> NaiveDate {
    let today = french::paris(now).date();
    let first = today.with_day(1).unwrap_or(today);
    first.checked_sub_months(Months::new(back)).unwrap_or(first)
}

/// Reads the figures at `now`.
pub fn read(conn: &mut DbConn, now: DateTime<Utc>) -> Result<Statistics, Error> {
    let now = now.naive_utc();
    read_tx(conn, |c| {
        let structures: i64 = structures::table
            .filter(structures::active.eq(true))
            .count()
            .get_result(c)?;
        let aidants = aidants(c, now)?;
        let active_mandates: i64 = mandates::table
            .filter(mandates::revoked_at.is_null())
            .filter(mandates::expires_at.gt(now))
            .count()
            .get_result(c)?;
        let people_helped: i64 = usagers::table
            .filter(usagers::id.eq_any(mandates::table.select(mandates::usager_id)))
            .count()
            .get_result(c)?;
        let months = uses_by_month(c, now)?;
        Ok::<_, Error>(Statistics {
            at: now,
            structures,
            aidants,
            active_mandates,
            people_helped,
            months,
        })
    })
}

fn aidants(c: &mut DbConn, now: NaiveDateTime) -> Result<i64, Error> {
    let active_structures = structures::table
        .filter(structures::active.eq(true))
        .select(structures::id);
    let members = memberships::table
        .filter(memberships::structure_id.eq_any(active_structures))
        .select(memberships::user_id);
    let rows: Vec<(String, String, bool)> = users::table
        .filter(users::active.eq(true))
        .filter(users::accredited_until.gt(now))
        .filter(users::id.eq_any(members))
        .select((
            users::id,
            users::roles,
            users::totp_secret_enc.is_not_null(),
        ))
        .load(c)?;
    let with_card: HashSet<String> = totp_cards::table
        .filter(totp_cards::user_id.is_not_null())
        .select(totp_cards::user_id.assume_not_null())
        .load::<String>(c)?
        .into_iter()
        .collect();
    Ok(rows
        .iter()
        .filter(|(id, roles, app)| {
            Roles::parse(roles).has(Role::Aidant) && (*app || with_card.contains(id))
        })
        .count() as i64)
}

fn uses_by_month(c: &mut DbConn, now: NaiveDateTime) -> Result<Vec<Month>, Error> {
    let first = month_start(now, MONTHS_SHOWN - 1);
    // A day early in UTC: the Paris month starts up to two hours before UTC midnight.
    let since = first.and_hms_opt(0, 0, 0).unwrap_or_default() - chrono::Duration::days(1);
    let rows: Vec<(NaiveDateTime, String)> = journal_entries::table
        .filter(journal_entries::action.eq("mandate.used"))
        .filter(journal_entries::at.ge(since))
        .select((journal_entries::at, journal_entries::details))
        .load(c)?;
    let mut counts: BTreeMap<NaiveDate, Vec<i64>> = (0..MONTHS_SHOWN)
        .map(|back| (month_start(now, back), vec![0; DEMARCHES.len()]))
        .collect();
    for (at, details) in rows {
        let local = french::paris(at).date();
        let Some(month) = local.with_day(1) else {
            continue;
        };
        let Some(slot) = counts.get_mut(&month) else {
            continue;
        };
        let demarche = serde_json::from_str::<serde_json::Value>(&details)
            .ok()
            .and_then(|v| v["demarche"].as_str().map(str::to_string));
        if let Some(i) = demarche.and_then(|d| DEMARCHES.iter().position(|x| x.code == d)) {
            slot[i] += 1;
        }
    }
    Ok(counts
        .into_iter()
        .map(|(first_day, uses)| Month { first_day, uses })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn months_are_paris_months() {
        // 31 October 23:30 UTC is already November in Paris (UTC+1 in winter), and
        // 22:30 UTC still October.
        assert_eq!(
            month_start(at("2026-10-31 23:30:00"), 0).to_string(),
            "2026-11-01"
        );
        assert_eq!(
            month_start(at("2026-10-31 22:30:00"), 0).to_string(),
            "2026-10-01"
        );
        assert_eq!(
            month_start(at("2026-10-31 23:30:00"), 11).to_string(),
            "2025-12-01"
        );
        assert_eq!(
            month_start(at("2026-03-31 12:00:00"), 1).to_string(),
            "2026-02-01"
        );
    }

    #[test]
    fn the_csv_quotes_labels_and_lists_every_month_and_demarche() {
        let s = Statistics {
            at: at("2026-11-29 10:00:00"),
            structures: 2,
            aidants: 5,
            active_mandates: 7,
            people_helped: 9,
            months: vec![Month {
                first_day: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
                uses: (0..DEMARCHES.len() as i64).collect(),
            }],
        };
        let csv = s.csv();
        assert!(csv.starts_with("indicateur,valeur\r\nstructures_actives,2\r\n"));
        assert!(csv.contains("personnes_accompagnees,9\r\n"));
        assert_eq!(csv.matches("\r\n2026-11,").count(), DEMARCHES.len());
        assert_eq!(s.totals()[1], 1);
        assert_eq!(s.months[0].label(), "novembre 2026");
    }
}
