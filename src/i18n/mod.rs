//! Translations of the consent page and the attestation for people who do not read
//! French: Fluent catalogues (`locales/<lang>/*.ftl`, embedded in the binary), shown beside
//! the French text, which stays the legal one. The language is the query parameter
//! `langue` (`en`, `es`, `pt`, `ar`; absent: French only).

use std::sync::OnceLock;

use chrono::{Datelike, NaiveDateTime, Timelike};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

use crate::domain::french;
use crate::domain::mandate::Demarche;

/// A language a translation is offered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Spanish.
    Es,
    /// Portuguese.
    Pt,
    /// Arabic (right to left).
    Ar,
}

impl Lang {
    /// Every language, in the order of the chooser.
    pub const ALL: [Lang; 4] = [Lang::En, Lang::Es, Lang::Pt, Lang::Ar];

    /// The code of `langue` and of the HTML `lang` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::Pt => "pt",
            Lang::Ar => "ar",
        }
    }

    /// The language of a code.
    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The writing direction (`dir` attribute).
    pub fn dir(self) -> &'static str {
        match self {
            Lang::Ar => "rtl",
            _ => "ltr",
        }
    }

    /// The language's name in itself.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Es => "Español",
            Lang::Pt => "Português",
            Lang::Ar => "العربية",
        }
    }

    fn catalogue(self) -> &'static str {
        match self {
            Lang::En => include_str!("../../locales/en/procura.ftl"),
            Lang::Es => include_str!("../../locales/es/procura.ftl"),
            Lang::Pt => include_str!("../../locales/pt/procura.ftl"),
            Lang::Ar => include_str!("../../locales/ar/procura.ftl"),
        }
    }
}

/// The `langue` detail of the journal: the code, or `fr` when only French was shown.
pub fn journal_code(langue: Option<Lang>) -> &'static str {
    langue.map(Lang::code).unwrap_or("fr")
}

/// What a page was asked for: French only, a translation, or an unknown `langue` (shown
/// in French only, with a notice).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Choice {
    /// No `langue` (or an empty one).
    #[default]
    French,
    /// A translation beside the French.
    Lang(Lang),
    /// An unknown value (at most 20 characters kept, for the notice).
    Unknown(String),
}

impl Choice {
    /// The choice of a `langue` value.
    pub fn of(value: &str) -> Choice {
        let v = value.trim();
        if v.is_empty() {
            return Choice::French;
        }
        Lang::parse(v)
            .map(Choice::Lang)
            .unwrap_or_else(|| Choice::Unknown(v.chars().take(20).collect()))
    }

    /// The choice of a query string's `langue` (the last one given).
    pub fn from_query(query: &str) -> Choice {
        url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "langue")
            .last()
            .map(|(_, v)| Choice::of(&v))
            .unwrap_or_default()
    }

    /// The translation shown (None: French only).
    pub fn lang(&self) -> Option<Lang> {
        match self {
            Choice::Lang(l) => Some(*l),
            _ => None,
        }
    }

    /// The code to carry in links and forms (empty: French only).
    pub fn code(&self) -> &'static str {
        self.lang().map(Lang::code).unwrap_or("")
    }

    /// The notice for an unknown value, in French.
    pub fn notice(&self) -> Option<String> {
        match self {
            Choice::Unknown(v) => Some(format!(
                "Langue inconnue : « {v} ». Les traductions proposées sont l’anglais (en), l’espagnol (es), le portugais (pt) et l’arabe (ar) ; le texte est affiché en français seulement."
            )),
            _ => None,
        }
    }
}

/// A link of the language chooser.
pub struct LangLink {
    /// `langue` value (empty: French only).
    pub code: &'static str,
    /// Name in the language itself.
    pub name: &'static str,
    /// True for the language shown.
    pub current: bool,
}

/// The chooser's links: French only, then each translation.
pub fn links(choice: &Choice) -> Vec<LangLink> {
    let mut out = vec![LangLink {
        code: "",
        name: "Français seulement",
        current: choice.lang().is_none(),
    }];
    out.extend(Lang::ALL.into_iter().map(|l| LangLink {
        code: l.code(),
        name: l.name(),
        current: choice.lang() == Some(l),
    }));
    out
}

/// A section of a translated text.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Its heading (possibly empty).
    pub heading: String,
    /// Its paragraphs.
    pub paras: Vec<String>,
    /// Its list items.
    pub items: Vec<String>,
}

/// A translated text shown beside the French.
#[derive(Debug, Clone)]
pub struct Translation {
    /// `lang` attribute.
    pub lang: &'static str,
    /// `dir` attribute.
    pub dir: &'static str,
    /// Title.
    pub title: String,
    /// That the French text is the legal one, in this language.
    pub note: String,
    /// The sections.
    pub sections: Vec<Section>,
}

fn bundles() -> &'static Vec<(Lang, FluentBundle<FluentResource>)> {
    static BUNDLES: OnceLock<Vec<(Lang, FluentBundle<FluentResource>)>> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        Lang::ALL
            .into_iter()
            .map(|l| {
                let id = l.code().parse().unwrap_or_default();
                let mut b = FluentBundle::new_concurrent(vec![id]);
                // Names and dates inside Arabic (right-to-left) text are isolated with
                // Unicode's invisible FSI/PDI marks, so that a Latin name keeps its order;
                // left-to-right translations need none (their blocks carry `dir`).
                b.set_use_isolating(l == Lang::Ar);
                let res = FluentResource::try_new(l.catalogue().to_string())
                    .unwrap_or_else(|(res, _)| res);
                let _ = b.add_resource(res);
                (l, b)
            })
            .collect()
    })
}

/// The message `id` of `lang` with `args` (the id itself when missing: a test checks
/// that every catalogue has every message).
pub fn message(lang: Lang, id: &str, args: &[(&str, &str)]) -> String {
    let Some((_, bundle)) = bundles().iter().find(|(l, _)| *l == lang) else {
        return id.to_string();
    };
    let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
        return id.to_string();
    };
    let mut fa = FluentArgs::new();
    for (k, v) in args {
        fa.set(*k, FluentValue::from(*v));
    }
    let mut errors = Vec::new();
    bundle
        .format_pattern(pattern, Some(&fa), &mut errors)
        .into_owned()
}

/// Every message id the French-independent code uses (the catalogues must all hold them).
pub fn message_ids() -> Vec<String> {
    let mut ids: Vec<String> = [
        "translation-note",
        "date",
        "date-time",
        "birth-no-day",
        "birth-no-month",
        "consent-title",
        "consent-person-heading",
        "consent-person",
        "consent-who-heading",
        "consent-who",
        "consent-demarches-heading",
        "consent-until-heading",
        "consent-until",
        "consent-rules-heading",
        "consent-can",
        "consent-cannot",
        "consent-logged",
        "consent-revoke",
        "consent-moi",
        "consent-statement-heading",
        "consent-statement",
        "consent-how",
        "attestation-title",
        "attestation-legal",
        "attestation-person-heading",
        "attestation-person",
        "attestation-structure-heading",
        "attestation-structure",
        "attestation-demarches-heading",
        "attestation-duration-heading",
        "attestation-duration",
        "attestation-declare-heading",
        "attestation-mandate",
        "attestation-protection",
        "attestation-limits",
        "attestation-revoke-heading",
        "attestation-revoke",
        "attestation-data-heading",
        "attestation-data-kept",
        "attestation-data-time",
        "attestation-data-rights",
        "attestation-sign",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for m in 1..=12 {
        ids.push(format!("month-{m}"));
    }
    for d in crate::domain::mandate::DEMARCHES {
        ids.push(format!("demarche-{}", d.code));
        ids.push(format!("demarche-{}-desc", d.code));
    }
    ids
}

/// A Paris day in words ("1 July 2026").
fn date(lang: Lang, at: NaiveDateTime) -> String {
    let l = french::paris(at);
    date_parts(lang, l.day(), l.month(), l.year())
}

fn date_parts(lang: Lang, day: u32, month: u32, year: i32) -> String {
    let month = message(lang, &format!("month-{month}"), &[]);
    message(
        lang,
        "date",
        &[
            ("day", &day.to_string()),
            ("month", &month),
            ("year", &year.to_string()),
        ],
    )
}

/// A Paris day and time ("1 July 2026 at 10:05 (Paris time)").
fn date_time(lang: Lang, at: NaiveDateTime) -> String {
    let l = french::paris(at);
    message(
        lang,
        "date-time",
        &[
            ("date", &date(lang, at)),
            ("time", &format!("{}:{:02}", l.hour(), l.minute())),
        ],
    )
}

/// A birth date as FranceConnect gives it (`00` for an unknown day or month).
fn birthdate(lang: Lang, s: &str) -> String {
    let parts: Vec<u32> = s.split('-').filter_map(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [y, 0, _] => message(lang, "birth-no-month", &[("year", &y.to_string())]),
        [y, m @ 1..=12, 0] => message(
            lang,
            "birth-no-day",
            &[
                ("month", &message(lang, &format!("month-{m}"), &[])),
                ("year", &y.to_string()),
            ],
        ),
        [y, m @ 1..=12, d @ 1..=31] => date_parts(lang, *d, *m, *y as i32),
        _ => s.to_string(),
    }
}

/// "Label: description" of a démarche.
fn demarche(lang: Lang, d: &Demarche) -> String {
    format!(
        "{}: {}",
        message(lang, &format!("demarche-{}", d.code), &[]),
        message(lang, &format!("demarche-{}-desc", d.code), &[])
    )
}

fn section(heading: String, paras: Vec<String>, items: Vec<String>) -> Section {
    Section {
        heading,
        paras,
        items,
    }
}

/// What the consent page states, for its translation.
pub struct ConsentFacts<'a> {
    /// The person's names.
    pub name: &'a str,
    /// Birth date as FranceConnect gave it.
    pub birthdate: &'a str,
    /// The structure's name.
    pub structure: &'a str,
    /// The aidant's name.
    pub aidant: &'a str,
    /// The démarches.
    pub demarches: &'a [&'static Demarche],
    /// The end of the mandate if consented now (UTC).
    pub end: NaiveDateTime,
    /// The address of the person's space.
    pub moi_url: &'a str,
}

/// The consent page in `lang`.
pub fn consent(lang: Lang, f: &ConsentFacts<'_>) -> Translation {
    let m = |id: &str, args: &[(&str, &str)]| message(lang, id, args);
    let structure = ("structure", f.structure);
    Translation {
        lang: lang.code(),
        dir: lang.dir(),
        title: m("consent-title", &[]),
        note: m("translation-note", &[]),
        sections: vec![
            section(
                m("consent-person-heading", &[]),
                vec![m(
                    "consent-person",
                    &[
                        ("name", f.name),
                        ("birthdate", &birthdate(lang, f.birthdate)),
                    ],
                )],
                vec![],
            ),
            section(
                m("consent-who-heading", &[]),
                vec![m("consent-who", &[structure, ("aidant", f.aidant)])],
                vec![],
            ),
            section(
                m("consent-demarches-heading", &[]),
                vec![],
                f.demarches.iter().map(|d| demarche(lang, d)).collect(),
            ),
            section(
                m("consent-until-heading", &[]),
                vec![m("consent-until", &[("end", &date_time(lang, f.end))])],
                vec![],
            ),
            section(
                m("consent-rules-heading", &[]),
                vec![m("consent-moi", &[("url", f.moi_url)])],
                vec![
                    m("consent-can", &[]),
                    m("consent-cannot", &[]),
                    m("consent-logged", &[]),
                    m("consent-revoke", &[]),
                ],
            ),
            section(
                m("consent-statement-heading", &[]),
                vec![m("consent-statement", &[structure]), m("consent-how", &[])],
                vec![],
            ),
        ],
    }
}

/// What the attestation states, for its translation.
pub struct AttestationFacts<'a> {
    /// The person's names.
    pub name: &'a str,
    /// Birth date as FranceConnect gave it.
    pub birthdate: &'a str,
    /// The structure's name.
    pub structure: &'a str,
    /// Its SIRET.
    pub siret: &'a str,
    /// The aidant's name.
    pub aidant: &'a str,
    /// The démarches.
    pub demarches: &'a [&'static Demarche],
    /// Start (UTC).
    pub start: NaiveDateTime,
    /// End (UTC).
    pub end: NaiveDateTime,
}

/// The attestation in `lang` (display only: the digest covers the French text).
pub fn attestation(lang: Lang, f: &AttestationFacts<'_>) -> Translation {
    let m = |id: &str, args: &[(&str, &str)]| message(lang, id, args);
    let structure = ("structure", f.structure);
    Translation {
        lang: lang.code(),
        dir: lang.dir(),
        title: m("attestation-title", &[]),
        note: m("translation-note", &[]),
        sections: vec![
            section(String::new(), vec![m("attestation-legal", &[])], vec![]),
            section(
                m("attestation-person-heading", &[]),
                vec![m(
                    "attestation-person",
                    &[
                        ("name", f.name),
                        ("birthdate", &birthdate(lang, f.birthdate)),
                    ],
                )],
                vec![],
            ),
            section(
                m("attestation-structure-heading", &[]),
                vec![m(
                    "attestation-structure",
                    &[structure, ("siret", f.siret), ("aidant", f.aidant)],
                )],
                vec![],
            ),
            section(
                m("attestation-demarches-heading", &[]),
                vec![],
                f.demarches.iter().map(|d| demarche(lang, d)).collect(),
            ),
            section(
                m("attestation-duration-heading", &[]),
                vec![m(
                    "attestation-duration",
                    &[
                        ("start", &date_time(lang, f.start)),
                        ("end", &date_time(lang, f.end)),
                    ],
                )],
                vec![],
            ),
            section(
                m("attestation-declare-heading", &[]),
                vec![
                    m("attestation-mandate", &[structure]),
                    m("attestation-protection", &[]),
                    m("attestation-limits", &[]),
                ],
                vec![],
            ),
            section(
                m("attestation-revoke-heading", &[]),
                vec![m("attestation-revoke", &[structure])],
                vec![],
            ),
            section(
                m("attestation-data-heading", &[]),
                vec![
                    m("attestation-data-kept", &[structure]),
                    m("attestation-data-time", &[]),
                    m("attestation-data-rights", &[structure]),
                    m("attestation-sign", &[]),
                ],
                vec![],
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_holds_every_message_without_error() {
        for l in Lang::ALL {
            let (_, b) = bundles().iter().find(|(x, _)| *x == l).expect("bundle");
            for id in message_ids() {
                let msg = b.get_message(&id);
                assert!(
                    msg.as_ref().and_then(|m| m.value()).is_some(),
                    "{id} missing in {}",
                    l.code()
                );
            }
            // The catalogue parses whole.
            assert!(FluentResource::try_new(l.catalogue().to_string()).is_ok());
        }
    }

    #[test]
    fn names_inside_arabic_text_are_isolated_and_others_are_not() {
        let args = [("name", "Angela DUBOIS"), ("birthdate", "24")];
        let ar = message(Lang::Ar, "consent-person", &args);
        assert!(ar.contains("\u{2068}Angela DUBOIS\u{2069}"), "{ar:?}");
        let en = message(Lang::En, "consent-person", &args);
        assert!(en.starts_with("Angela DUBOIS, born on 24."), "{en:?}");
    }

    #[test]
    fn dates_and_choices() {
        let at = NaiveDateTime::parse_from_str("2026-07-01 08:05:00", "%Y-%m-%d %H:%M:%S")
            .expect("time");
        assert_eq!(date_time(Lang::En, at), "1 July 2026 at 10:05 (Paris time)");
        assert_eq!(birthdate(Lang::Es, "1962-08-24"), "24 de agosto de 1962");
        assert_eq!(
            birthdate(Lang::En, "1985-00-00"),
            "1985 (day and month unknown)"
        );
        assert_eq!(Choice::from_query("a=1&langue=ar"), Choice::Lang(Lang::Ar));
        assert_eq!(Choice::from_query(""), Choice::French);
        assert_eq!(Choice::from_query("langue="), Choice::French);
        let bad = Choice::from_query("langue=klingon");
        assert_eq!(bad.lang(), None);
        assert!(bad.notice().unwrap().contains("klingon"));
        assert_eq!(journal_code(None), "fr");
        assert_eq!(journal_code(Some(Lang::Pt)), "pt");
    }
}
