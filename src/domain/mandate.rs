//! Mandates: the démarche catalogue, durations, validity and the attestation text.

use chrono::{DateTime, Duration as Span, NaiveDateTime, Utc};

/// A démarche (mandate scope), from the fixed catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Demarche {
    /// Code (`papiers`, `famille`, …).
    pub code: &'static str,
    /// French label.
    pub label: &'static str,
    /// What the aidant may do under it, in plain French.
    pub description: &'static str,
}

/// The catalogue, in display order.
pub const DEMARCHES: [Demarche; 10] = [
    Demarche {
        code: "papiers",
        label: "Papiers - Citoyenneté - Élections",
        description:
            "état civil, passeport, carte d’identité, inscription sur les listes électorales",
    },
    Demarche {
        code: "famille",
        label: "Famille - Scolarité",
        description: "allocations familiales, naissance, mariage, scolarité",
    },
    Demarche {
        code: "social",
        label: "Social - Santé",
        description: "assurance maladie, aides sociales, handicap, retraite",
    },
    Demarche {
        code: "travail",
        label: "Travail - Formation",
        description: "recherche d’emploi, chômage, formation",
    },
    Demarche {
        code: "logement",
        label: "Logement",
        description: "aides au logement, logement social, travaux",
    },
    Demarche {
        code: "transports",
        label: "Transports - Mobilité",
        description: "permis de conduire, carte grise, stationnement",
    },
    Demarche {
        code: "argent",
        label: "Argent - Impôts - Consommation",
        description: "impôts, crédits, litiges de consommation",
    },
    Demarche {
        code: "justice",
        label: "Justice",
        description: "casier judiciaire, plaintes, aide juridictionnelle",
    },
    Demarche {
        code: "etranger",
        label: "Étranger - Europe",
        description: "titres de séjour, naturalisation, séjours en Europe",
    },
    Demarche {
        code: "loisirs",
        label: "Loisirs - Sport - Culture",
        description: "associations, chasse et pêche, culture",
    },
];

/// Finds a démarche by code.
pub fn demarche(code: &str) -> Option<&'static Demarche> {
    DEMARCHES.iter().find(|d| d.code == code)
}

/// Parses a list of codes: at least one, all known, deduplicated in catalogue order.
pub fn parse_demarches<S: AsRef<str>>(codes: &[S]) -> Result<Vec<&'static Demarche>, String> {
    if codes.is_empty() {
        return Err("Choisissez au moins une démarche.".into());
    }
    let mut out = Vec::new();
    for c in codes {
        let d = demarche(c.as_ref().trim())
            .ok_or_else(|| format!("Démarche inconnue : {:?}.", c.as_ref()))?;
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out.sort_by_key(|d| DEMARCHES.iter().position(|x| x.code == d.code));
    Ok(out)
}

/// The démarches something serves: every one, or some of the catalogue (a client's, a
/// structure's, what a request's `claims` asks for). Stored as NULL for every démarche,
/// or as a JSON array of codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemarcheSet {
    /// Every démarche of the catalogue.
    All,
    /// These démarches only (catalogue order, no repeat; possibly none).
    Only(Vec<&'static Demarche>),
}

impl DemarcheSet {
    /// The set of these codes (refuses an empty list and unknown codes).
    pub fn parse<S: AsRef<str>>(codes: &[S]) -> Result<Self, String> {
        parse_demarches(codes).map(DemarcheSet::Only)
    }

    /// Reads a stored value; unknown codes (from a later catalogue) are ignored.
    pub fn from_stored(stored: Option<&str>) -> Self {
        match stored {
            None => DemarcheSet::All,
            Some(text) => {
                let codes: Vec<String> = serde_json::from_str(text).unwrap_or_default();
                let mut out: Vec<&'static Demarche> =
                    codes.iter().filter_map(|c| demarche(c)).collect();
                out.sort_by_key(|d| DEMARCHES.iter().position(|x| x.code == d.code));
                out.dedup();
                DemarcheSet::Only(out)
            }
        }
    }

    /// The stored value.
    pub fn to_stored(&self) -> Option<String> {
        match self {
            DemarcheSet::All => None,
            DemarcheSet::Only(list) => Some(
                serde_json::to_string(&list.iter().map(|d| d.code).collect::<Vec<_>>())
                    .unwrap_or_else(|_| "[]".into()),
            ),
        }
    }

    /// True when the set holds this code.
    pub fn contains(&self, code: &str) -> bool {
        match self {
            DemarcheSet::All => demarche(code).is_some(),
            DemarcheSet::Only(list) => list.iter().any(|d| d.code == code),
        }
    }

    /// The démarches in both sets.
    pub fn intersect(&self, other: &DemarcheSet) -> DemarcheSet {
        match (self, other) {
            (DemarcheSet::All, x) | (x, DemarcheSet::All) => x.clone(),
            (DemarcheSet::Only(a), DemarcheSet::Only(b)) => {
                DemarcheSet::Only(a.iter().filter(|d| b.contains(d)).copied().collect())
            }
        }
    }

    /// The démarches of the set, in catalogue order.
    pub fn list(&self) -> Vec<&'static Demarche> {
        match self {
            DemarcheSet::All => DEMARCHES.iter().collect(),
            DemarcheSet::Only(list) => list.clone(),
        }
    }

    /// The codes of a restricted set (None: every démarche), for a query filter.
    pub fn codes(&self) -> Option<Vec<&'static str>> {
        match self {
            DemarcheSet::All => None,
            DemarcheSet::Only(list) => Some(list.iter().map(|d| d.code).collect()),
        }
    }

    /// True when no démarche is in the set.
    pub fn is_empty(&self) -> bool {
        matches!(self, DemarcheSet::Only(list) if list.is_empty())
    }

    /// For the journal and `--json`: `"*"` for every démarche, else the codes.
    pub fn describe(&self) -> serde_json::Value {
        match self {
            DemarcheSet::All => serde_json::Value::String("*".into()),
            DemarcheSet::Only(list) => list.iter().map(|d| d.code).collect::<Vec<_>>().into(),
        }
    }
}

/// When each démarche was last removed from a set (a structure's, a client's), stored as
/// a JSON object of code → time: a use issued before its démarche's removal stays invalid
/// when the démarche comes back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removals(std::collections::BTreeMap<String, chrono::NaiveDateTime>);

impl Removals {
    /// Reads a stored value (None or unreadable: nothing removed).
    pub fn from_stored(stored: Option<&str>) -> Self {
        Removals(
            stored
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default(),
        )
    }

    /// The stored value (None when nothing was ever removed).
    pub fn to_stored(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| serde_json::to_string(&self.0).unwrap_or_default())
    }

    /// Notes, at `at`, the démarches of `before` that `after` no longer holds; true when
    /// there was one.
    pub fn note(&mut self, before: &DemarcheSet, after: &DemarcheSet, at: NaiveDateTime) -> bool {
        let mut any = false;
        for d in before.list() {
            if !after.contains(d.code) {
                self.0.insert(d.code.to_string(), at);
                any = true;
            }
        }
        any
    }

    /// True when `code` was removed at or after `issued_at` (a use issued then is void).
    pub fn voids(&self, code: &str, issued_at: NaiveDateTime) -> bool {
        self.0
            .get(code)
            .is_some_and(|removed| *removed >= issued_at)
    }
}

/// Mandate durations, counted from creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MandateDuration {
    /// 1 day.
    Short,
    /// 31 days.
    Month,
    /// 182 days.
    Semester,
    /// 365 days.
    Long,
}

impl MandateDuration {
    /// Every duration.
    pub const ALL: [MandateDuration; 4] = [Self::Short, Self::Month, Self::Semester, Self::Long];

    /// Parses `SHORT`, `MONTH`, `SEMESTER` or `LONG`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.code() == s.trim())
    }

    /// The code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Short => "SHORT",
            Self::Month => "MONTH",
            Self::Semester => "SEMESTER",
            Self::Long => "LONG",
        }
    }

    /// Length in days.
    pub fn days(self) -> i64 {
        match self {
            Self::Short => 1,
            Self::Month => 31,
            Self::Semester => 182,
            Self::Long => 365,
        }
    }

    /// French label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Short => "1 jour (pour une démarche ponctuelle)",
            Self::Month => "1 mois (31 jours)",
            Self::Semester => "6 mois (182 jours)",
            Self::Long => "1 an (365 jours)",
        }
    }

    /// End of a mandate created at `created`.
    pub fn expires_at(self, created: DateTime<Utc>) -> DateTime<Utc> {
        created + Span::days(self.days())
    }
}

/// State of an authorisation (and, by extension, of a mandate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorisationState {
    /// Usable.
    Active,
    /// Past its end date.
    Expired,
    /// Revoked by an aidant, a manager or the usager.
    Revoked,
    /// Replaced by a newer mandate for the same démarche.
    Superseded,
}

impl AuthorisationState {
    /// Code used in filters.
    pub fn code(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Superseded => "superseded",
        }
    }

    /// French label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "actif",
            Self::Expired => "expiré",
            Self::Revoked => "révoqué",
            Self::Superseded => "remplacé",
        }
    }
}

/// Reason stored when an authorisation ends early.
pub const REVOKED: &str = "revoked";
/// Reason stored when a newer mandate replaced the authorisation.
pub const SUPERSEDED: &str = "superseded";

/// The state of an authorisation at `now`.
pub fn authorisation_state(
    revoked_at: Option<NaiveDateTime>,
    revoked_reason: Option<&str>,
    expires_at: NaiveDateTime,
    now: DateTime<Utc>,
) -> AuthorisationState {
    match (revoked_at, revoked_reason) {
        (Some(_), Some(SUPERSEDED)) => AuthorisationState::Superseded,
        (Some(_), _) => AuthorisationState::Revoked,
        (None, _) if expires_at <= now.naive_utc() => AuthorisationState::Expired,
        (None, _) => AuthorisationState::Active,
    }
}

/// The first attestation template: a text dump (mandates created before v2 keep it).
pub const ATTESTATION_V1: &str = "procura-attestation-v1";
/// The mandate document (docs/attestation.md), see [`super::attestation`].
pub const ATTESTATION_V2: &str = "procura-attestation-v2";
/// Version of the attestation template of new mandates; the text of a version never
/// changes, and each mandate stores the version it was made with.
pub const ATTESTATION_VERSION: &str = ATTESTATION_V2;

/// Everything the attestation states.
#[derive(Debug, Clone)]
pub struct AttestationFacts<'a> {
    /// Mandate id.
    pub mandate_id: &'a str,
    /// Usager's given names and family name, as FranceConnect returned them.
    pub usager_name: &'a str,
    /// Usager's birth date, as returned.
    pub usager_birthdate: &'a str,
    /// Usager's gender, as returned (`female`, `male`; v2 only).
    pub usager_gender: &'a str,
    /// Structure name and SIRET.
    pub structure: &'a str,
    /// Structure SIRET.
    pub siret: &'a str,
    /// Structure's postal address, possibly empty (v2 only).
    pub structure_address: &'a str,
    /// Name of the aidant who recorded the consent.
    pub aidant_name: &'a str,
    /// Démarches.
    pub demarches: Vec<&'static Demarche>,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// End.
    pub expires_at: NaiveDateTime,
}

/// The consent statement the usager confirms.
pub fn consent_statement(structure: &str) -> String {
    format!(
        "J’autorise les aidants habilités de la structure {structure} à réaliser en mon nom les démarches \
         administratives en ligne listées ci-dessus, jusqu’à la date de fin indiquée. Les aidants ne peuvent \
         agir que pour ces démarches ; ils ne peuvent ni modifier mes identifiants FranceConnect ni agir \
         pour d’autres démarches. Chaque utilisation est enregistrée. Je peux révoquer ce mandat à tout moment."
    )
}

/// The canonical text of the attestation of `version` (None for an unknown version); its
/// SHA-256 is the digest recorded in the journal.
pub fn attestation_text_of(version: &str, f: &AttestationFacts<'_>) -> Option<String> {
    match version {
        ATTESTATION_V1 => Some(attestation_text(f)),
        ATTESTATION_V2 => Some(super::attestation::text_v2(f)),
        _ => None,
    }
}

/// The canonical text of the attestation (version [`ATTESTATION_V1`]): UTF-8, LF line
/// ends, no trailing spaces. Its SHA-256 is the digest recorded in the journal.
pub fn attestation_text(f: &AttestationFacts<'_>) -> String {
    let mut lines = vec![
        format!("Modèle : {ATTESTATION_V1}"),
        "MANDAT POUR AGIR AU NOM D’UNE PERSONNE".to_string(),
        format!("Identifiant du mandat : {}", f.mandate_id),
        format!(
            "Personne représentée (usager) : {}, née ou né le {}",
            f.usager_name, f.usager_birthdate
        ),
        format!("Structure : {} (SIRET {})", f.structure, f.siret),
        format!("Consentement recueilli par : {}", f.aidant_name),
        format!(
            "Date de création : {} UTC",
            f.created_at.format("%Y-%m-%d %H:%M:%S")
        ),
        format!(
            "Date de fin : {} UTC",
            f.expires_at.format("%Y-%m-%d %H:%M:%S")
        ),
        "Démarches autorisées :".to_string(),
    ];
    for d in &f.demarches {
        lines.push(format!("- {} ({})", d.label, d.code));
    }
    lines.push(format!("Déclaration : {}", consent_statement(f.structure)));
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removal_voids_the_uses_issued_before_it_even_once_the_demarche_is_back() {
        let t = |m: i64| {
            DateTime::from_timestamp(1_700_000_000 + m * 60, 0)
                .unwrap()
                .naive_utc()
        };
        let all = DemarcheSet::All;
        let housing = DemarcheSet::parse(&["logement"]).unwrap();
        let mut r = Removals::default();
        assert!(!r.note(&housing, &all, t(1)), "widening removes nothing");
        assert_eq!(r.to_stored(), None);
        assert!(r.note(&all, &housing, t(5)));
        assert!(r.voids("social", t(4)) && r.voids("social", t(5)));
        assert!(!r.voids("social", t(6)), "issued after the removal");
        assert!(!r.voids("logement", t(4)), "kept");
        r.note(&housing, &all, t(7));
        assert!(r.voids("social", t(4)), "still void once social is back");
        assert_eq!(Removals::from_stored(r.to_stored().as_deref()), r);
    }

    #[test]
    fn demarche_sets_intersect_and_round_trip() {
        let a = DemarcheSet::parse(&["logement", "social", "social"]).expect("valid");
        assert_eq!(a.codes(), Some(vec!["social", "logement"]));
        assert!(DemarcheSet::parse::<&str>(&[]).is_err());
        assert!(DemarcheSet::parse(&["impots"]).is_err());
        let b = DemarcheSet::parse(&["logement", "argent"]).unwrap();
        assert_eq!(a.intersect(&b).codes(), Some(vec!["logement"]));
        assert_eq!(DemarcheSet::All.intersect(&b), b);
        assert_eq!(a.intersect(&DemarcheSet::All), a);
        let none = a.intersect(&DemarcheSet::parse(&["argent"]).unwrap());
        assert!(none.is_empty() && !none.contains("social"));
        assert!(DemarcheSet::All.contains("justice") && !DemarcheSet::All.contains("x"));
        assert!(!DemarcheSet::All.is_empty());
        assert_eq!(DemarcheSet::from_stored(a.to_stored().as_deref()), a);
        assert_eq!(DemarcheSet::from_stored(None), DemarcheSet::All);
        assert_eq!(DemarcheSet::All.to_stored(), None);
        assert_eq!(
            DemarcheSet::from_stored(Some(r#"["x","logement"]"#)).codes(),
            Some(vec!["logement"])
        );
        assert_eq!(DemarcheSet::All.list().len(), DEMARCHES.len());
        assert_eq!(DemarcheSet::All.describe(), serde_json::json!("*"));
        assert_eq!(b.describe(), serde_json::json!(["logement", "argent"]));
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn each_duration_ends_when_it_should() {
        let created = t("2026-03-01T10:00:00Z");
        for (duration, end) in [
            (MandateDuration::Short, "2026-03-02T10:00:00Z"),
            (MandateDuration::Month, "2026-04-01T10:00:00Z"),
            (MandateDuration::Semester, "2026-08-30T10:00:00Z"),
            (MandateDuration::Long, "2027-03-01T10:00:00Z"),
        ] {
            assert_eq!(duration.expires_at(created), t(end), "{duration:?}");
        }
        assert_eq!(MandateDuration::parse("LONG"), Some(MandateDuration::Long));
        assert_eq!(MandateDuration::parse("FOREVER"), None);
    }

    #[test]
    fn states() {
        let end = t("2026-03-02T10:00:00Z").naive_utc();
        let before = t("2026-03-02T09:59:59Z");
        let after = t("2026-03-02T10:00:00Z");
        assert_eq!(
            authorisation_state(None, None, end, before),
            AuthorisationState::Active
        );
        assert_eq!(
            authorisation_state(None, None, end, after),
            AuthorisationState::Expired
        );
        assert_eq!(
            authorisation_state(Some(end), Some(REVOKED), end, before),
            AuthorisationState::Revoked
        );
        assert_eq!(
            authorisation_state(Some(end), Some(SUPERSEDED), end, before),
            AuthorisationState::Superseded
        );
    }

    #[test]
    fn demarches_are_checked() {
        assert!(parse_demarches::<&str>(&[]).is_err());
        assert!(parse_demarches(&["papiers", "inconnue"]).is_err());
        let d = parse_demarches(&["social", "papiers", "social"]).expect("valid");
        assert_eq!(
            d.iter().map(|d| d.code).collect::<Vec<_>>(),
            vec!["papiers", "social"]
        );
    }
}
