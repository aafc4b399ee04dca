//! The mandate document of template `procura-attestation-v2` (docs/attestation.md): a
//! list of blocks that the page, the PDF and the canonical text are all made from, so
//! that what is printed is what the digest covers.

use super::french;
use super::mandate::{AttestationFacts, ATTESTATION_V2};

/// One block of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// The document's title.
    Title(String),
    /// The line under the title (legal basis, reference, model).
    Subtitle(String),
    /// A section heading.
    Heading(String),
    /// A paragraph.
    Para(String),
    /// An item of a list.
    Item(String),
    /// "Fait à … le …".
    Place(String),
    /// A signature block: who signs (space to sign is left under it).
    Signature(String),
}

impl Block {
    /// The block's text.
    pub fn text(&self) -> &str {
        match self {
            Block::Title(t)
            | Block::Subtitle(t)
            | Block::Heading(t)
            | Block::Para(t)
            | Block::Item(t)
            | Block::Place(t)
            | Block::Signature(t) => t,
        }
    }
}

/// What is left to fill in by hand when the structure's city is not known.
pub const BLANK: &str = "________________________";

/// The city of a French postal address: the words after the last five-digit postal code
/// ("12 rue de la Paix, 75002 Paris" → "Paris"), up to a comma or the end; None when
/// there is no postal code followed by a name.
pub fn city(address: &str) -> Option<String> {
    let words: Vec<&str> = address
        .split(|c: char| c.is_whitespace() || c == ',')
        .collect();
    let at = words
        .iter()
        .rposition(|w| w.len() == 5 && w.bytes().all(|b| b.is_ascii_digit()))?;
    // The city runs to the next comma in the original text.
    let after_code = address.rfind(words[at])? + words[at].len();
    let rest = address[after_code..].split(',').next().unwrap_or("").trim();
    let rest = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    (!rest.is_empty()).then_some(rest)
}

/// One line, without line breaks or trailing spaces (names and addresses are typed in).
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The blocks of the v2 document.
pub fn blocks(f: &AttestationFacts<'_>) -> Vec<Block> {
    let name = flat(f.usager_name);
    let structure = flat(f.structure);
    let aidant = flat(f.aidant_name);
    let address = flat(f.structure_address);
    let mut b = vec![
        Block::Title("MANDAT POUR RÉALISER DES DÉMARCHES ADMINISTRATIVES".into()),
        Block::Subtitle(format!(
            "Mandat régi par les articles 1984 et suivants du Code civil. Référence du mandat : {}. Modèle : {ATTESTATION_V2}.",
            f.mandate_id
        )),
        Block::Heading("1. La personne représentée (le mandant)".into()),
        Block::Para(format!(
            "{name}, {} {}, dont l’identité a été vérifiée par FranceConnect.",
            french::born(f.usager_gender),
            french::on_birthdate(f.usager_birthdate)
        )),
        Block::Heading("2. La structure mandataire".into()),
        Block::Para(if address.is_empty() {
            format!("{structure}, SIRET {}.", f.siret)
        } else {
            format!("{structure}, SIRET {}, {address}.", f.siret)
        }),
        Block::Para(format!(
            "Les aidants habilités de cette structure agissent pour le compte de la personne. Consentement recueilli par {aidant}, aidant de la structure."
        )),
        Block::Heading("3. Les démarches confiées".into()),
    ];
    for d in &f.demarches {
        b.push(Block::Item(format!("{} : {}.", d.label, d.description)));
    }
    b.extend([
        Block::Heading("4. Durée".into()),
        Block::Para(format!(
            "Le mandat commence le {} et prend fin le {} (heure de Paris), sauf révocation avant cette date.",
            french::day_and_time(f.created_at),
            french::day_and_time(f.expires_at)
        )),
        Block::Heading("5. Ce que la personne déclare et accepte".into()),
        Block::Para(format!(
            "Je donne mandat à la structure {structure}, au sens des articles 1984 et suivants du Code civil, pour que ses aidants habilités réalisent en mon nom les démarches listées ci-dessus, jusqu’à la date de fin."
        )),
        Block::Para(
            "Je déclare ne faire l’objet d’aucune mesure de protection juridique : ni tutelle, ni curatelle, ni habilitation familiale, ni mandat de protection future en cours d’exécution."
                .into(),
        ),
        Block::Para(
            "Les aidants n’agissent que pour ces démarches et avec les informations que je leur donne. Ils ne peuvent ni modifier mes identifiants FranceConnect, ni agir pour d’autres démarches sans mon nouvel accord. Chaque utilisation du mandat est enregistrée dans un journal que je peux consulter."
                .into(),
        ),
        Block::Heading("6. Comment mettre fin au mandat".into()),
        Block::Para("Je peux révoquer ce mandat à tout moment, sans avoir à me justifier :".into()),
        Block::Item(if address.is_empty() {
            format!(
                "auprès de la structure {structure} : adressez-vous à elle directement, ou à l’aidant qui a recueilli votre accord ;"
            )
        } else {
            format!("auprès de la structure {structure}, {address} ;")
        }),
        Block::Item(
            "ou moi-même, en me connectant avec FranceConnect à mon espace personnel Procura (page /moi), où je vois aussi chaque utilisation du mandat."
                .into(),
        ),
        Block::Para(
            "La structure peut aussi y mettre fin. Un nouveau mandat pour une même démarche remplace celui-ci pour cette démarche."
                .into(),
        ),
        Block::Heading("7. Vos données personnelles".into()),
        Block::Para(format!(
            "La structure {structure} est responsable du traitement des données de ce mandat, nécessaire à son exécution (article 6.1.b du RGPD). Sont conservés : l’identité transmise par FranceConnect (noms, prénoms, sexe, date et lieu de naissance, adresse électronique si elle est transmise), les démarches confiées, les dates du mandat et chaque utilisation qui en est faite."
        )),
        Block::Para(
            "Ces données sont conservées pendant la durée du mandat, puis cinq ans après sa fin pour pouvoir prouver les démarches faites en votre nom (article 2224 du Code civil). Le journal des utilisations ne contient que des identifiants, jamais votre nom."
                .into(),
        ),
        Block::Para(format!(
            "Vous pouvez accéder à vos données, les faire rectifier ou effacer, en limiter l’usage ou vous y opposer : adressez-vous à la structure {structure}. Votre espace personnel (page /moi) vous les montre aussi. Si vous estimez que vos droits ne sont pas respectés, vous pouvez adresser une réclamation à la CNIL (www.cnil.fr)."
        )),
        Block::Place(format!(
            "Fait à {}, le {}.",
            city(&address).unwrap_or_else(|| BLANK.to_string()),
            french::day(f.created_at)
        )),
        Block::Signature(format!("La personne représentée : {name}")),
        Block::Signature(format!("Pour la structure {structure}, l’aidant : {aidant}")),
    ]);
    b
}

/// The canonical text of a list of blocks (docs/attestation.md): one line per block, an
/// empty line before each heading, before "Fait à" and before each signature, a "- "
/// before each item; UTF-8, LF, one final LF, no trailing space.
pub fn canonical(blocks: &[Block]) -> String {
    let mut out = String::new();
    for b in blocks {
        match b {
            Block::Heading(_) | Block::Place(_) | Block::Signature(_) => out.push('\n'),
            _ => {}
        }
        if let Block::Item(_) = b {
            out.push_str("- ");
        }
        out.push_str(b.text().trim_end());
        out.push('\n');
    }
    out
}

/// The canonical text of version v2.
pub fn text_v2(f: &AttestationFacts<'_>) -> String {
    canonical(&blocks(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::mandate::{attestation_text_of, demarche};

    fn facts<'a>(address: &'a str) -> AttestationFacts<'a> {
        let t = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        AttestationFacts {
            mandate_id: "m-1",
            usager_name: "Angela Claire  Louise DUBOIS",
            usager_birthdate: "1962-08-24",
            usager_gender: "female",
            structure: "Maison France Services",
            siret: "12345678901234",
            structure_address: address,
            aidant_name: "Marie Curie",
            demarches: vec![demarche("social").unwrap(), demarche("logement").unwrap()],
            created_at: t("2026-07-01 08:05:00"),
            expires_at: t("2026-12-01 08:05:00"),
        }
    }

    #[test]
    fn the_city_is_read_after_the_postal_code() {
        assert_eq!(
            city("12 rue de la Paix, 75002 Paris").as_deref(),
            Some("Paris")
        );
        assert_eq!(
            city("3 place du 8 mai, 97400  Saint-Denis, La Réunion").as_deref(),
            Some("Saint-Denis")
        );
        assert_eq!(city("Mairie, 1 rue Haute"), None);
        assert_eq!(city("75002"), None);
        assert_eq!(city(""), None);
    }

    #[test]
    fn the_v2_text_states_everything_in_french_formats() {
        let text = text_v2(&facts("12 rue de la Paix, 75002 Paris"));
        for s in [
            "articles 1984 et suivants du Code civil",
            "Angela Claire Louise DUBOIS, née le 24 août 1962",
            "Maison France Services, SIRET 12345678901234, 12 rue de la Paix, 75002 Paris.",
            "- Social - Santé : assurance maladie",
            "commence le 1er juillet 2026 à 10 h 05 et prend fin le 1er décembre 2026 à 9 h 05 (heure de Paris)",
            "ni tutelle, ni curatelle, ni habilitation familiale, ni mandat de protection future",
            "(page /moi)",
            "CNIL",
            "\nFait à Paris, le 1er juillet 2026.\n",
            "\nLa personne représentée : Angela Claire Louise DUBOIS\n",
            "\nPour la structure Maison France Services, l’aidant : Marie Curie\n",
            "Modèle : procura-attestation-v2.",
        ] {
            assert!(text.contains(s), "{s:?} missing from\n{text}");
        }
        assert!(!text.contains("UTC") && !text.contains("  "));
        assert!(text.ends_with("Marie Curie\n") && !text.ends_with("\n\n"));
        assert!(text.lines().all(|l| l == l.trim_end()));
        assert_eq!(
            attestation_text_of(ATTESTATION_V2, &facts("12 rue de la Paix, 75002 Paris")),
            Some(text)
        );
    }

    #[test]
    fn without_an_address_the_place_is_left_blank_and_the_structure_is_to_be_asked() {
        let text = text_v2(&facts(""));
        assert!(text.contains(&format!("Fait à {BLANK}, le 1er juillet 2026.")));
        assert!(text.contains("Maison France Services, SIRET 12345678901234.\n"));
        assert!(text.contains("adressez-vous à elle directement"));
    }
}
