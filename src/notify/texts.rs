//! The French texts of the notices (pure): subject and plain text body of each message.
//! No image, no tracking: the only links are the person's space, the attestation check
//! and, in use notices, the link that stops them.

use chrono::NaiveDateTime;

/// A message's subject and text.
pub type Message = (String, String);

pub use crate::domain::french::{day, day_and_time, paris};

/// "Camille M." ([`crate::domain::french::short_name`]), "un aidant" for an empty name.
pub fn short_name(full: &str) -> String {
    match crate::domain::french::short_name(full) {
        s if s.is_empty() => "un aidant".to_string(),
        s => s,
    }
}

/// Démarche labels as a French list: "« A », « B » et « C »".
pub fn labels(list: &[&str]) -> String {
    let quoted: Vec<String> = list.iter().map(|l| format!("« {l} »")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} et {last}", init.join(", ")),
    }
}

const SIGNATURE: &str = "Procura — service d’aide aux démarches en ligne\nCe message est envoyé automatiquement : n’y répondez pas.";

/// Links every message to the person carries.
#[derive(Debug, Clone)]
pub struct PersonLinks {
    /// The person's space (`/moi`): their mandates, their uses, revocation.
    pub space: String,
    /// The link that stops use notices (use notices only; None without a master key).
    pub stop: Option<String>,
}

/// A mandate just created.
#[derive(Debug, Clone)]
pub struct Created<'a> {
    /// Labels of the démarches consented to.
    pub demarches: Vec<&'a str>,
    /// Creation (UTC).
    pub created_at: NaiveDateTime,
    /// End (UTC).
    pub expires_at: NaiveDateTime,
    /// The structure's name.
    pub structure: &'a str,
    /// SHA-256 of the attestation.
    pub digest: &'a str,
    /// The public attestation check.
    pub verify: String,
}

/// To the person, when a mandate is created.
pub fn mandate_created(c: &Created<'_>, links: &PersonLinks) -> Message {
    let subject = "Vous avez donné un mandat à une structure d’aide".to_string();
    let text = format!(
        "Bonjour,\n\n\
         Le {created}, vous avez autorisé la structure « {structure} » à effectuer des démarches en ligne en votre nom.\n\n\
         Démarches concernées : {demarches}.\n\
         Fin du mandat : le {until} (heure de Paris).\n\n\
         Empreinte de l’attestation (SHA-256), pour vérifier l’attestation papier qui vous a été remise :\n{digest}\n\
         Vérification : {verify}\n\n\
         Les aidants de cette structure peuvent utiliser ce mandat pour ces démarches seulement, jusqu’à sa fin. Vous recevrez un avis à chaque utilisation.\n\n\
         Vous pouvez révoquer ce mandat à tout moment, auprès de la structure « {structure} » ou depuis votre espace (connexion avec FranceConnect) :\n{space}\n\n\
         {SIGNATURE}\n",
        created = day_and_time(c.created_at),
        structure = c.structure,
        demarches = labels(&c.demarches),
        until = day_and_time(c.expires_at),
        digest = c.digest,
        verify = c.verify,
        space = links.space,
    );
    (subject, text)
}

/// One use of a mandate, as the person reads it.
#[derive(Debug, Clone)]
pub struct Use {
    /// When (UTC).
    pub at: NaiveDateTime,
    /// Label of the démarche.
    pub demarche: String,
    /// Name of the site (the OpenID client).
    pub site: String,
    /// Name of the structure.
    pub structure: String,
    /// The aidant, as [`short_name`] gives it.
    pub aidant: String,
}

fn use_line(u: &Use) -> String {
    format!(
        "- le {} : démarche « {} » sur le site « {} », par {} de la structure « {} »",
        day_and_time(u.at),
        u.demarche,
        u.site,
        u.aidant,
        u.structure
    )
}

fn use_footer(links: &PersonLinks) -> String {
    let mut s = format!(
        "Si vous ne reconnaissez pas cette utilisation, contactez la structure ou révoquez le mandat depuis votre espace (connexion avec FranceConnect) :\n{}\n\n",
        links.space
    );
    if let Some(stop) = &links.stop {
        s.push_str(&format!(
            "Pour ne plus recevoir ces avis d’utilisation (les autres messages continueront) :\n{stop}\n\n"
        ));
    }
    s.push_str(SIGNATURE);
    s.push('\n');
    s
}

/// To the person, at the first use in a window; `window_ends` is when later uses are
/// summarised.
pub fn first_use(u: &Use, window_ends: NaiveDateTime, links: &PersonLinks) -> Message {
    let subject = format!("Votre mandat a été utilisé : {}", u.demarche);
    let text = format!(
        "Bonjour,\n\n\
         Un aidant a agi en votre nom (heure de Paris) :\n{line}\n\n\
         Les autres utilisations jusqu’au {until} vous seront résumées dans un seul message.\n\n\
         {footer}",
        line = use_line(u),
        until = day_and_time(window_ends),
        footer = use_footer(links),
    );
    (subject, text)
}

/// To the person, at the end of a window: the later uses (`more` not listed).
pub fn use_digest(uses: &[Use], more: usize, links: &PersonLinks) -> Message {
    let n = uses.len() + more;
    let subject = if n == 1 {
        "Votre mandat a été utilisé une autre fois".to_string()
    } else {
        format!("Votre mandat a été utilisé {n} autres fois")
    };
    let mut lines: Vec<String> = uses.iter().map(use_line).collect();
    if more > 0 {
        lines.push(format!("- et {more} autre(s), visibles dans votre espace"));
    }
    let text = format!(
        "Bonjour,\n\n\
         Depuis notre dernier avis, des aidants ont agi en votre nom (heure de Paris) :\n{}\n\n\
         {}",
        lines.join("\n"),
        use_footer(links),
    );
    (subject, text)
}

/// Who revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokedBy {
    /// The person, from their space.
    Person,
    /// An aidant or manager of the structure (short name).
    Helper(String),
    /// The structure, without a named person (an administrator or the service).
    Structure,
}

/// A revocation, as the person reads it.
#[derive(Debug, Clone)]
pub struct Revoked<'a> {
    /// Labels of the démarches that ended.
    pub demarches: Vec<&'a str>,
    /// Whether the whole mandate ended.
    pub whole: bool,
    /// When (UTC).
    pub at: NaiveDateTime,
    /// The structure's name.
    pub structure: &'a str,
    /// Who revoked.
    pub by: RevokedBy,
}

/// To the person, when a mandate or one of its démarches is revoked.
pub fn revoked(r: &Revoked<'_>, links: &PersonLinks) -> Message {
    let subject = if r.whole {
        "Votre mandat a été révoqué".to_string()
    } else {
        "Une démarche de votre mandat a été révoquée".to_string()
    };
    let by = match &r.by {
        RevokedBy::Person => "par vous-même, depuis votre espace".to_string(),
        RevokedBy::Helper(name) => format!("par {name} de la structure « {} »", r.structure),
        RevokedBy::Structure => format!("par la structure « {} »", r.structure),
    };
    let what = if r.whole {
        format!(
            "votre mandat donné à la structure « {} » a été révoqué {by}",
            r.structure
        )
    } else {
        format!(
            "l’autorisation donnée à la structure « {} » a été révoquée {by}",
            r.structure
        )
    };
    let text = format!(
        "Bonjour,\n\n\
         Le {at} (heure de Paris), {what}.\n\n\
         Démarches qui ne peuvent plus être faites en votre nom : {demarches}.\n\n\
         Vous pouvez consulter vos mandats depuis votre espace (connexion avec FranceConnect) :\n{space}\n\n\
         {SIGNATURE}\n",
        at = day_and_time(r.at),
        demarches = labels(&r.demarches),
        space = links.space,
    );
    (subject, text)
}

/// To the person, 7 days before a mandate ends.
pub fn expiry_reminder(
    demarches: &[&str],
    expires_at: NaiveDateTime,
    structure: &str,
    links: &PersonLinks,
) -> Message {
    let subject = format!("Votre mandat prend fin le {}", day(expires_at));
    let text = format!(
        "Bonjour,\n\n\
         Le mandat que vous avez donné à la structure « {structure} » prend fin le {until} (heure de Paris).\n\
         Démarches concernées : {demarches}.\n\n\
         Après cette date, les aidants ne pourront plus agir en votre nom pour ces démarches. Si vous souhaitez continuer, adressez-vous à la structure pour donner un nouveau mandat. Sinon, vous n’avez rien à faire.\n\n\
         Vos mandats : {space}\n\n\
         {SIGNATURE}\n",
        until = day_and_time(expires_at),
        demarches = labels(demarches),
        space = links.space,
    );
    (subject, text)
}

/// To an account, with its enrolment link.
pub fn enrolment(
    name: &str,
    link: &str,
    valid_hours: i64,
    structure: Option<&str>,
    purpose: LinkPurpose,
) -> Message {
    let place = structure
        .map(|s| format!(" pour la structure « {s} »"))
        .unwrap_or_default();
    let (subject, what) = match purpose {
        LinkPurpose::Activation => (
            "Activez votre compte Procura",
            format!("Un compte Procura vous attend{place}. Pour l’activer, choisissez votre mot de passe et configurez votre second facteur (application d’authentification) en suivant ce lien :"),
        ),
        LinkPurpose::NewPassword => (
            "Choisissez un nouveau mot de passe Procura",
            format!("Le responsable de votre structure{place} a réinitialisé votre mot de passe : l’ancien ne fonctionne plus. Choisissez-en un nouveau en suivant ce lien ; il vous sera demandé un code de votre application d’authentification ou de votre carte, qui ne changent pas :"),
        ),
        LinkPurpose::NewSecondFactor => (
            "Configurez votre nouveau second facteur Procura",
            format!("Le responsable de votre structure{place} a réinitialisé votre second facteur : votre ancienne application ou carte ne fonctionne plus. Configurez-en un nouveau en suivant ce lien :"),
        ),
    };
    let text = format!(
        "Bonjour {name},\n\n\
         {what}\n{link}\n\n\
         Ce lien est personnel, valable {valid_hours} heures et ne sert qu’une fois. Si vous n’attendiez pas ce message, ignorez-le et prévenez votre responsable de structure.\n\n\
         {SIGNATURE}\n"
    );
    (subject.to_string(), text)
}

/// What an account's link is for, as its e-mail says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// A new account: password and second factor.
    Activation,
    /// A password reset: a new password, confirmed with the second factor kept.
    NewPassword,
    /// A second-factor reset: a new app (the password is kept).
    NewSecondFactor,
}

/// A mandate ending soon, in an aidant's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// The structure's name.
    pub structure: String,
    /// The usager's name.
    pub usager: String,
    /// Labels of its active démarches.
    pub demarches: Vec<String>,
    /// End (UTC).
    pub expires_at: NaiveDateTime,
}

/// To an aidant, weekly: the structure's mandates ending within 30 days.
pub fn aidant_digest(name: &str, rows: &[Ending], home: &str) -> Message {
    let subject = if rows.len() == 1 {
        "1 mandat de votre structure prend fin dans les 30 jours".to_string()
    } else {
        format!(
            "{} mandats de votre structure prennent fin dans les 30 jours",
            rows.len()
        )
    };
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            let d: Vec<&str> = r.demarches.iter().map(String::as_str).collect();
            format!(
                "- {} ({}) : fin le {} ; {}",
                r.usager,
                r.structure,
                day_and_time(r.expires_at),
                labels(&d)
            )
        })
        .collect();
    let text = format!(
        "Bonjour {name},\n\n\
         Ces mandats prennent fin bientôt (heure de Paris) :\n{}\n\n\
         Pour continuer à aider ces personnes, proposez-leur un renouvellement. La liste complète est sur votre page d’accueil : {home}\n\n\
         Vous recevez ce résumé au plus une fois par semaine, quand des mandats arrivent à leur fin.\n\n\
         {SIGNATURE}\n",
        lines.join("\n"),
    );
    (subject, text)
}

/// To a manager, weekly: accounts of their structures without a second factor.
pub fn manager_digest(name: &str, accounts: &[(String, String)], page: &str) -> Message {
    let subject = if accounts.len() == 1 {
        "1 compte de votre structure n’est pas activé".to_string()
    } else {
        format!(
            "{} comptes de votre structure ne sont pas activés",
            accounts.len()
        )
    };
    let lines: Vec<String> = accounts
        .iter()
        .map(|(n, e)| format!("- {n} <{e}>"))
        .collect();
    let text = format!(
        "Bonjour {name},\n\n\
         Ces comptes n’ont pas encore de second facteur (activation non terminée) : ils ne peuvent pas se connecter.\n{}\n\n\
         Vous pouvez leur envoyer un nouveau lien d’activation ou leur attribuer une carte depuis la gestion de la structure : {page}\n\n\
         Vous recevez ce rappel au plus une fois par semaine, tant que de tels comptes existent.\n\n\
         {SIGNATURE}\n",
        lines.join("\n"),
    );
    (subject, text)
}

/// To an aidant without a login for months: log in before the account is deactivated.
pub fn inactivity_warning(name: &str, off_at: NaiveDateTime, login: &str) -> Message {
    let subject = "Votre compte Procura sera désactivé faute de connexion".to_string();
    let text = format!(
        "Bonjour {name},\n\n\
         Vous ne vous êtes pas connecté à Procura depuis plusieurs mois. Sans connexion de votre part, votre compte sera désactivé le {} (heure de Paris) : les comptes inutilisés sont fermés pour protéger les personnes accompagnées.\n\n\
         Pour le garder, il suffit de vous connecter avant cette date : {login}\n\n\
         Si vous n’accompagnez plus personne avec Procura, vous n’avez rien à faire.\n\n\
         {SIGNATURE}\n",
        crate::domain::french::day_and_time(off_at),
    );
    (subject, text)
}

/// To a manager: an aidant of their structure was deactivated after months without login.
pub fn inactivity_deactivated(name: &str, aidant: &str, email: &str, page: &str) -> Message {
    let subject = format!("Compte désactivé faute de connexion : {aidant}");
    let text = format!(
        "Bonjour {name},\n\n\
         Le compte de {aidant} <{email}> a été désactivé : il n’a pas été utilisé depuis plusieurs mois, et son titulaire avait été prévenu par courriel.\n\n\
         S’il doit reprendre son activité d’aidant, vous pouvez le réactiver depuis la gestion de la structure : {page}\n\n\
         {SIGNATURE}\n",
    );
    (subject, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn links() -> PersonLinks {
        PersonLinks {
            space: "https://procura.example/moi".into(),
            stop: Some("https://procura.example/notifications/arret?usager=u&jeton=t".into()),
        }
    }

    #[test]
    fn helpers_are_named_by_first_name_and_initial() {
        assert_eq!(short_name("Camille Martin"), "Camille M.");
        assert_eq!(
            short_name("  Jean-Pierre de la fontaine "),
            "Jean-Pierre F."
        );
        assert_eq!(short_name("Zoé"), "Zoé");
        assert_eq!(short_name(""), "un aidant");
        assert_eq!(short_name("Léa Élan"), "Léa É.");
    }

    #[test]
    fn lists_are_french() {
        assert_eq!(labels(&["A"]), "« A »");
        assert_eq!(labels(&["A", "B"]), "« A » et « B »");
        assert_eq!(labels(&["A", "B", "C"]), "« A », « B » et « C »");
    }

    #[test]
    fn the_creation_notice_says_what_until_when_by_whom_and_how_to_revoke() {
        let (subject, text) = mandate_created(
            &Created {
                demarches: vec!["Social - Santé", "Logement"],
                created_at: t("2026-12-01 09:00:00"),
                expires_at: t("2027-01-01 09:00:00"),
                structure: "France Services Nord",
                digest: "ab12",
                verify: "https://procura.example/verifier?seq=3&empreinte=ab12".into(),
            },
            &links(),
        );
        assert!(subject.contains("mandat"));
        for part in [
            "« Social - Santé » et « Logement »",
            "1er janvier 2027 à 10 h 00 (heure de Paris)",
            "« France Services Nord »",
            "ab12",
            "https://procura.example/moi",
            "révoquer",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        assert!(!text.contains("jeton"), "no stop link outside use notices");
    }

    #[test]
    fn use_notices_carry_the_stop_link_and_the_facts() {
        let u = Use {
            at: t("2026-12-01 09:00:00"),
            demarche: "Logement".into(),
            site: "Caf".into(),
            structure: "S".into(),
            aidant: "Camille M.".into(),
        };
        let (subject, text) = first_use(&u, t("2026-12-01 10:00:00"), &links());
        assert!(subject.contains("Logement"));
        for part in [
            "1er décembre 2026 à 10 h 00",
            "« Caf »",
            "Camille M.",
            "« S »",
            "11 h 00",
            "/notifications/arret?",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        let (subject, text) = use_digest(&[u.clone(), u], 3, &links());
        assert_eq!(subject, "Votre mandat a été utilisé 5 autres fois");
        assert_eq!(text.matches("- le ").count(), 2);
        assert!(text.contains("et 3 autre(s)"));
        let no_key = PersonLinks {
            stop: None,
            ..links()
        };
        assert!(!use_digest(&[], 1, &no_key).1.contains("ne plus recevoir"));
    }

    #[test]
    fn revocations_say_who_revoked() {
        let r = |by| Revoked {
            demarches: vec!["Logement"],
            whole: false,
            at: t("2026-12-01 09:00:00"),
            structure: "S",
            by,
        };
        assert!(revoked(&r(RevokedBy::Person), &links())
            .1
            .contains("par vous-même"));
        let (subject, text) = revoked(&r(RevokedBy::Helper("Camille M.".into())), &links());
        assert!(subject.contains("démarche"));
        assert!(
            text.contains("par Camille M. de la structure « S »"),
            "{text}"
        );
        assert!(text.contains("« Logement »"));
    }

    #[test]
    fn helper_digests_list_their_rows() {
        let row = Ending {
            structure: "S".into(),
            usager: "Angela DUBOIS".into(),
            demarches: vec!["Logement".into()],
            expires_at: t("2026-12-20 09:00:00"),
        };
        let (subject, text) = aidant_digest("Camille", &[row], "https://p/espace");
        assert!(subject.starts_with("1 mandat"));
        assert!(text.contains("Angela DUBOIS (S) : fin le 20 décembre 2026 à 10 h 00"));
        let (subject, text) = manager_digest(
            "Marie",
            &[
                ("Léo".into(), "leo@ex.fr".into()),
                ("Ana".into(), "ana@ex.fr".into()),
            ],
            "https://p/gestion",
        );
        assert!(subject.starts_with("2 comptes"));
        assert!(text.contains("- Léo <leo@ex.fr>"));
    }
}
