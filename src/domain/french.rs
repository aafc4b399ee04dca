//! French formats shared by pages and e-mails (pure): Europe/Paris local time, dates in
//! words, and helpers named by first name and initial.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Weekday};

/// Month names, January first.
pub const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// The last Sunday of `month` in `year`.
fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .unwrap_or_default();
    let mut d = first_next - Duration::days(1);
    while d.weekday() != Weekday::Sun {
        d -= Duration::days(1);
    }
    d
}

/// A UTC time as Europe/Paris local time: UTC+1, and UTC+2 from 01:00 UTC on the last
/// Sunday of March to 01:00 UTC on the last Sunday of October (the European rule since
/// 1996).
pub fn paris(at: NaiveDateTime) -> NaiveDateTime {
    let y = at.year();
    let at1 = |d: NaiveDate| d.and_hms_opt(1, 0, 0).unwrap_or_default();
    let summer = at >= at1(last_sunday(y, 3)) && at < at1(last_sunday(y, 10));
    at + Duration::hours(if summer { 2 } else { 1 })
}

/// "12 décembre 2026" (the Paris day of a UTC time; "1er" for the first).
pub fn day(at: NaiveDateTime) -> String {
    let l = paris(at);
    let d = if l.day() == 1 {
        "1er".to_string()
    } else {
        l.day().to_string()
    };
    format!("{d} {} {}", MONTHS[l.month0() as usize], l.year())
}

/// "12 décembre 2026 à 14 h 05" (the Paris time of a UTC time).
pub fn day_and_time(at: NaiveDateTime) -> String {
    let l = paris(at);
    format!("{} à {} h {:02}", day(at), l.hour(), l.minute())
}

/// A helper as a person sees them: the first given name and the initial of the family
/// name (the last word), "Marie Curie" → "Marie C."; empty for an empty name.
pub fn short_name(full: &str) -> String {
    let words: Vec<&str> = full.split_whitespace().collect();
    match words.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        [first, .., last] => {
            let initial: String = last.chars().take(1).flat_map(char::to_uppercase).collect();
            format!("{first} {initial}.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn times_are_said_in_paris_time() {
        assert_eq!(
            day_and_time(t("2026-12-12 13:05:00")),
            "12 décembre 2026 à 14 h 05"
        );
        assert_eq!(
            day_and_time(t("2026-07-01 08:00:00")),
            "1er juillet 2026 à 10 h 00"
        );
        // 23:30 UTC on 31 December is already the next year in Paris.
        assert_eq!(day(t("2026-12-31 23:30:00")), "1er janvier 2027");
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(paris(t("2026-03-29 00:59:59")), t("2026-03-29 01:59:59"));
        assert_eq!(paris(t("2026-03-29 01:00:00")), t("2026-03-29 03:00:00"));
        assert_eq!(paris(t("2026-10-25 00:59:59")), t("2026-10-25 02:59:59"));
        assert_eq!(paris(t("2026-10-25 01:00:00")), t("2026-10-25 02:00:00"));
    }

    #[test]
    fn helpers_are_named_by_first_name_and_initial() {
        assert_eq!(short_name("Marie Curie"), "Marie C.");
        assert_eq!(
            short_name("  Jean-Pierre de la fontaine "),
            "Jean-Pierre F."
        );
        assert_eq!(short_name("Zoé"), "Zoé");
        assert_eq!(short_name("Léa élise"), "Léa É.");
        assert_eq!(short_name(""), "");
    }
}
