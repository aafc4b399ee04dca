//! Places of birth in words (pure): INSEE commune and country codes, as FranceConnect
//! gives them (`birthplace`, `birthcountry`), become names.
//!
//! The two tables are written by `scripts/insee-data` from published packages (their
//! header lines name the source, version and licence) and embedded in the binary: one
//! sorted line `code<TAB>name[<TAB>department]` a place, looked up by a binary search
//! on the text itself, so nothing is parsed at start-up and nothing is allocated.
//!
//! Communes: current communes, municipal arrondissements (Paris, Lyon, Marseille),
//! communes déléguées and associées, overseas departments and collectivities, and every
//! commune merged or deleted since 1943 (FranceConnect gives the code at the time of
//! birth). Where a code had several names, the table keeps the most recent one. A name
//! shared by several codes carries its department's name ("Saint-Denis", La Réunion).

/// `data/insee/communes.tsv`.
const COMMUNES: &str = include_str!("../../data/insee/communes.tsv");
/// `data/insee/pays.tsv`.
const COUNTRIES: &str = include_str!("../../data/insee/pays.tsv");

/// The INSEE code of France among countries.
pub const FRANCE: &str = "99100";

/// The table after its `#` header lines.
fn body(table: &'static str) -> &'static str {
    let mut rest = table;
    while rest.starts_with('#') {
        rest = rest.find('\n').map_or("", |i| &rest[i + 1..]);
    }
    rest
}

/// An INSEE code: five ASCII letters or digits (Corsica's are 2A… and 2B…).
fn well_formed(code: &str) -> bool {
    code.len() == 5 && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The fields after the code on the line of `code`, by binary search over the sorted
/// lines of `table`.
fn lookup(table: &'static str, code: &str) -> Option<&'static str> {
    if !well_formed(code) {
        return None;
    }
    let text = body(table);
    let bytes = text.as_bytes();
    let (mut lo, mut hi) = (0, bytes.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = bytes[..mid]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
            .max(lo);
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| start + i);
        let line = &text[start..end];
        let (key, rest) = line.split_once('\t').unwrap_or((line, ""));
        match key.cmp(code) {
            std::cmp::Ordering::Equal => return Some(rest),
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    None
}

/// A commune's name and, for a namesake, its department's name.
pub fn commune_and_department(code: &str) -> Option<(&'static str, Option<&'static str>)> {
    let rest = lookup(COMMUNES, code)?;
    Some(match rest.split_once('\t') {
        Some((name, dep)) if !dep.is_empty() => (name, Some(dep)),
        Some((name, _)) => (name, None),
        None => (rest, None),
    })
}

/// The name of the commune of INSEE code `code` (the most recent name that code had).
pub fn commune(code: &str) -> Option<&'static str> {
    commune_and_department(code).map(|(name, _)| name)
}

/// The name of the country of INSEE code `code` (99xxx, historic countries included).
pub fn country(code: &str) -> Option<&'static str> {
    lookup(COUNTRIES, code)
}

/// "à Lyon", "au Havre", "aux Abymes": the preposition before a place's name.
fn at(name: &str) -> String {
    if let Some(rest) = name.strip_prefix("Le ") {
        format!("au {rest}")
    } else if let Some(rest) = name.strip_prefix("Les ") {
        format!("aux {rest}")
    } else {
        format!("à {name}")
    }
}

/// Where a person was born, in French words to follow "Née le 3 mars 1980":
/// "à Paris 7e Arrondissement", "à Saint-Denis (La Réunion)", "à l’étranger (Maroc)";
/// "dans la commune de code INSEE 12345" for an unknown code. `commune` is FranceConnect's
/// `birthplace` (empty for a birth abroad), `country` its `birthcountry`.
pub fn birthplace(commune: &str, country: &str) -> String {
    let (commune, country) = (commune.trim(), country.trim());
    if !commune.is_empty() {
        return match commune_and_department(commune) {
            Some((name, Some(dep))) => format!("{} ({dep})", at(name)),
            Some((name, None)) => at(name),
            None => format!("dans la commune de code INSEE {commune}"),
        };
    }
    match (country, self::country(country)) {
        ("", _) => "en un lieu non communiqué".into(),
        (FRANCE, _) => "en France".into(),
        (_, Some(name)) => format!("à l’étranger ({name})"),
        (code, None) => format!("à l’étranger (pays de code INSEE {code})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_communes_and_arrondissements_have_their_names() {
        assert_eq!(commune("69123"), Some("Lyon"));
        assert_eq!(birthplace("69123", FRANCE), "à Lyon");
        assert_eq!(commune("75107"), Some("Paris 7e Arrondissement"));
        assert_eq!(birthplace("75107", FRANCE), "à Paris 7e Arrondissement");
        assert_eq!(commune("69381"), Some("Lyon 1er Arrondissement"));
        assert_eq!(commune("13201"), Some("Marseille 1er Arrondissement"));
        // Corsica's codes sort after the digits.
        assert_eq!(commune("2A004"), Some("Ajaccio"));
        assert_eq!(commune("2B033"), Some("Bastia"));
        // The first and last lines of the table.
        assert_eq!(commune("01001"), Some("L'Abergement-Clémenciat"));
        assert_eq!(commune("98901"), Some("Île de Clipperton"));
        assert_eq!(birthplace("76351", FRANCE), "au Havre");
    }

    #[test]
    fn overseas_communes_carry_their_department_when_a_namesake_exists() {
        assert_eq!(commune("97411"), Some("Saint-Denis"));
        assert_eq!(birthplace("97411", FRANCE), "à Saint-Denis (La Réunion)");
        assert_eq!(
            birthplace("93066", FRANCE),
            "à Saint-Denis (Seine-Saint-Denis)"
        );
        assert_eq!(birthplace("97209", FRANCE), "à Fort-de-France");
        assert_eq!(commune("97611"), Some("Mamoudzou"));
        // Collectivities: Saint-Pierre-et-Miquelon, Polynésie française.
        assert_eq!(
            birthplace("97502", FRANCE),
            "à Saint-Pierre (Saint-Pierre-et-Miquelon)"
        );
        assert_eq!(commune("98735"), Some("Papeete"));
    }

    #[test]
    fn historic_communes_keep_a_name() {
        // Saint-Martin-de-Fresnay (Calvados), merged into L'Oudon in 1973, then a commune
        // associée until 2017: no longer in the current list.
        assert_eq!(commune("14624"), Some("Saint-Martin-de-Fresnay"));
        // Voisinlieu (Oise), merged into Beauvais in 1943.
        assert_eq!(commune("60696"), Some("Voisinlieu"));
        // A commune déléguée keeps its own name: Arbignieu, in Arboys en Bugey since 2016,
        // shares its code 01015 with the new commune, whose name is the current one.
        assert_eq!(commune("01015"), Some("Arboys en Bugey"));
    }

    #[test]
    fn countries_have_their_names() {
        assert_eq!(country("99350"), Some("Maroc"));
        assert_eq!(country("99109"), Some("Allemagne"));
        assert_eq!(country("99404"), Some("États-Unis"));
        assert_eq!(country("99352"), Some("Algérie"));
        // A country that no longer exists.
        assert_eq!(country("99115"), Some("Tchecoslovaquie"));
        assert_eq!(birthplace("", "99350"), "à l’étranger (Maroc)");
        assert_eq!(birthplace("", "99404"), "à l’étranger (États-Unis)");
        assert_eq!(birthplace("", FRANCE), "en France");
    }

    #[test]
    fn unknown_or_malformed_codes_fall_back_to_the_code() {
        assert_eq!(commune("00000"), None);
        assert_eq!(commune("99999"), None);
        assert_eq!(commune("7510"), None);
        assert_eq!(commune("751077"), None);
        assert_eq!(commune("75 07"), None);
        assert_eq!(commune(""), None);
        assert_eq!(country("99999"), None);
        assert_eq!(country("#"), None);
        assert_eq!(
            birthplace("00000", FRANCE),
            "dans la commune de code INSEE 00000"
        );
        assert_eq!(
            birthplace("", "99998"),
            "à l’étranger (pays de code INSEE 99998)"
        );
        assert_eq!(birthplace("", ""), "en un lieu non communiqué");
    }

    #[test]
    fn every_line_of_the_tables_is_found_by_the_search() {
        for table in [COMMUNES, COUNTRIES] {
            let mut previous = "";
            for line in body(table).lines() {
                let code = line.split('\t').next().unwrap_or_default();
                assert!(well_formed(code), "{line}");
                assert!(code > previous, "not sorted at {code}");
                assert!(lookup(table, code).is_some(), "{code}");
                previous = code;
            }
        }
    }
}
