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

/// The UTC time at which the Paris day `d` starts (00:00 in Paris): 22:00 UTC the day
/// before in summer, 23:00 in winter. A day `d` in Paris is `[start(d), start(d + 1))`.
pub fn paris_day_start(d: NaiveDate) -> NaiveDateTime {
    let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    let summer = midnight - Duration::hours(2);
    if paris(summer) == midnight {
        summer
    } else {
        midnight - Duration::hours(1)
    }
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

/// A birth date as FranceConnect gives it (`YYYY-MM-DD`, `00` for an unknown month or
/// day) in words: "24 août 1962", "mars 1985 (jour inconnu)", "1985 (jour et mois
/// inconnus)"; anything else is shown as given.
pub fn birthdate(s: &str) -> String {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return s.to_string();
    };
    let all_digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(y, 4) || !all_digits(m, 2) || !all_digits(d, 2) {
        return s.to_string();
    }
    let (year, month, day): (i32, u32, u32) = (
        y.parse().unwrap_or_default(),
        m.parse().unwrap_or_default(),
        d.parse().unwrap_or_default(),
    );
    match (month, day) {
        (0, _) => format!("{year} (jour et mois inconnus)"),
        (1..=12, 0) => format!("{} {year} (jour inconnu)", MONTHS[month as usize - 1]),
        _ => match NaiveDate::from_ymd_opt(year, month, day) {
            Some(_) if day == 1 => format!("1er {} {year}", MONTHS[month as usize - 1]),
            Some(_) => format!("{day} {} {year}", MONTHS[month as usize - 1]),
            None => s.to_string(),
        },
    }
}

/// The birth date after "née" or "né": "le 24 août 1962", "en août 1962 (jour inconnu)",
/// "en 1985 (jour et mois inconnus)" (FranceConnect's `00` for what is unknown).
pub fn on_birthdate(s: &str) -> String {
    let words = birthdate(s);
    let unknown_day = s.len() == 10 && s.ends_with("-00");
    if unknown_day {
        format!("en {words}")
    } else {
        format!("le {words}")
    }
}

/// "née", "né" or "née ou né", from FranceConnect's `gender` (`female`, `male`).
pub fn born(gender: &str) -> &'static str {
    match gender {
        "female" => "née",
        "male" => "né",
        _ => "née ou né",
    }
}

/// "Née", "Né" or "Née ou né" (at the start of a sentence).
pub fn born_capitalised(gender: &str) -> &'static str {
    match born(gender) {
        "née" => "Née",
        "né" => "Né",
        _ => "Née ou né",
    }
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

    #[test]
    fn a_birth_date_reads_after_born() {
        assert_eq!(on_birthdate("1962-08-24"), "le 24 août 1962");
        assert_eq!(on_birthdate("1962-08-00"), "en août 1962 (jour inconnu)");
        assert_eq!(
            on_birthdate("1985-00-00"),
            "en 1985 (jour et mois inconnus)"
        );
        assert_eq!(on_birthdate("1990-01-01"), "le 1er janvier 1990");
    }

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
    fn paris_days_start_at_paris_midnight() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("day");
        assert_eq!(paris_day_start(d("2026-07-02")), t("2026-07-01 22:00:00"));
        assert_eq!(paris_day_start(d("2026-01-15")), t("2026-01-14 23:00:00"));
        // The changes of time happen at 02:00 and 03:00 in Paris, after midnight.
        assert_eq!(paris_day_start(d("2026-03-29")), t("2026-03-28 23:00:00"));
        assert_eq!(paris_day_start(d("2026-03-30")), t("2026-03-29 22:00:00"));
        assert_eq!(paris_day_start(d("2026-10-25")), t("2026-10-24 22:00:00"));
        assert_eq!(paris_day_start(d("2026-10-26")), t("2026-10-25 23:00:00"));
        for s in ["2026-03-29", "2026-07-02", "2026-10-25", "2026-12-31"] {
            assert_eq!(
                paris(paris_day_start(d(s))),
                d(s).and_hms_opt(0, 0, 0).unwrap()
            );
        }
    }

    #[test]
    fn birth_dates_read_as_words() {
        assert_eq!(birthdate("1962-08-24"), "24 août 1962");
        assert_eq!(birthdate("1962-08-01"), "1er août 1962");
        assert_eq!(birthdate("1985-00-00"), "1985 (jour et mois inconnus)");
        assert_eq!(birthdate("1985-03-00"), "mars 1985 (jour inconnu)");
        for odd in [
            "",
            "1985",
            "1985-13-01",
            "1985-02-30",
            "85-01-01",
            "1985-1-1",
            "abcd-ef-gh",
        ] {
            assert_eq!(birthdate(odd), odd, "{odd:?} shown as given");
        }
        assert_eq!(
            (born("female"), born("male"), born("")),
            ("née", "né", "née ou né")
        );
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
