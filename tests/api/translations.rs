//! Translations beside the French (issue 13): the consent page, at the desk and from a
//! remote request, and the attestation in English, Spanish, Portuguese and Arabic
//! (`langue`), the language recorded in the journal, a bad value handled.

use procura::domain::mandate::MandateDuration;

use crate::helpers::fc::*;
use crate::helpers::person::*;
use crate::helpers::*;

/// For each language: its code, a sentence of the consent page and one of the attestation
/// (from locales/<code>/procura.ftl).
const LANGS: [(&str, &str, &str); 4] = [
    (
        "en",
        "Only the French text has legal force",
        "I declare that I am not under any legal protection measure",
    ),
    (
        "es",
        "Solo el texto en francés tiene valor legal",
        "Declaro que no estoy bajo ninguna medida de protección jurídica",
    ),
    (
        "pt",
        "Só o texto em francês tem valor legal",
        "Declaro que não estou sujeito a nenhuma medida de proteção jurídica",
    ),
    (
        "ar",
        "النص الفرنسي وحده له قيمة قانونية",
        "أصرّح بأنني لا أخضع لأي تدبير من تدابير الحماية القانونية",
    ),
];

/// The translated block of a page (its opening tag and content).
fn translated_block(body: &str) -> String {
    let start = body
        .find("<section class=\"fr-translation")
        .expect("a translation");
    let rest = &body[start..];
    rest[..rest.find("</section>").expect("end")].to_string()
}

/// The `langue` detail of the last entry `action`.
fn langue_of_last(app: &TestApp, action: &str) -> String {
    let e = journal_entries(&app.store)
        .into_iter()
        .rfind(|e| e.action == action)
        .unwrap_or_else(|| panic!("no {action}"));
    let d: serde_json::Value = serde_json::from_str(&e.details).expect("json");
    d["langue"]
        .as_str()
        .unwrap_or_else(|| panic!("no langue in {d}"))
        .to_string()
}

#[test]
fn the_consent_page_is_translated_beside_the_french_and_the_choice_is_journaled() {
    let (app, clock) = demo_app();
    let (_a, web) = aidant_of(&app, &clock, 1, "aidante@exemple.fr");
    let consent = to_consent(&app, &web, &["social"], "MONTH", "0");
    let french = web.get(&consent);
    assert_eq!(french.status, 200);
    assert!(!french.body.contains("fr-translation"));
    // The chooser: links, no script.
    for code in ["en", "es", "pt", "ar"] {
        assert!(french
            .body
            .contains(&format!("href=\"?langue={code}\" lang=\"{code}\"")));
    }
    for (code, sentence, _) in LANGS {
        let page = web.get(&format!("{consent}?langue={code}"));
        assert_eq!(page.status, 200, "{code}: {}", page.body);
        let block = translated_block(&page.body);
        let dir = if code == "ar" { "rtl" } else { "ltr" };
        assert!(
            block.starts_with(&format!(
                "<section class=\"fr-translation no-print\" lang=\"{code}\" dir=\"{dir}\""
            )),
            "{block}"
        );
        assert!(html_unescape(&block).contains(sentence), "{code}: {block}");
        // The person's facts are in the translation too; the French stays, whole.
        assert!(block.contains("Angela Claire Louise DUBOIS") && block.contains("Structure 1"));
        assert!(page.body.contains("Mandat : à lire avec la personne"));
        assert!(html_unescape(&page.body)
            .contains("J’autorise les aidants habilités de la structure Structure 1"));
        assert!(page.body.contains(&format!(
            "<input type=\"hidden\" name=\"langue\" value=\"{code}\">"
        )));
        assert!(page.body.contains(&format!(
            "lang=\"{code}\" hreflang=\"{code}\" aria-current=\"true\""
        )));
    }
    // Arabic dates and démarches come from the catalogue.
    let ar = translated_block(&web.get(&format!("{consent}?langue=ar")).body);
    assert!(
        ar.contains("الشؤون الاجتماعية - الصحة") && ar.contains("بتوقيت باريس"),
        "{ar}"
    );
    // An unknown language: the French only, with a notice; never an error page.
    let bad = web.get(&format!("{consent}?langue=klingon"));
    assert_eq!(bad.status, 200);
    assert!(html_unescape(&bad.body).contains("Langue inconnue : « klingon »"));
    assert!(!bad.body.contains("fr-translation"));
    assert!(bad
        .body
        .contains("<input type=\"hidden\" name=\"langue\" value=\"\">"));
    // A refusal to tick the box keeps the language.
    let r = web.submit(&consent, &consent, &[("langue", "pt")]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("lang=\"pt\""));
    // The consent with the Spanish translation: recorded in mandate.created.
    let r = web.submit(&consent, &consent, &[("consent", "oui"), ("langue", "es")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(langue_of_last(&app, "mandate.created"), "es");
    // Without a translation (or with an unknown one, shown in French): "fr".
    for (i, langue) in ["", "xx"].into_iter().enumerate() {
        let consent = to_consent(&app, &web, &["logement"], "MONTH", &(i + 1).to_string());
        let r = web.submit(
            &consent,
            &consent,
            &[("consent", "oui"), ("langue", langue)],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(langue_of_last(&app, "mandate.created"), "fr", "{langue:?}");
    }
}

#[test]
fn the_attestation_is_translated_for_display_only() {
    let (app, clock, s, _manager, aidant) = team(62);
    let web = logged_in(&app, &clock, &aidant);
    let created = seed_mandate(
        &app.store,
        &clock,
        &aidant,
        &s,
        "fc-tr",
        &["social"],
        MandateDuration::Long,
    );
    let path = format!("/mandats/{}/attestation", created.mandate.id);
    let french = web.get(&path);
    let digest = between(&french.body, "id=\"attestation-digest\">", "<");
    for (code, _, sentence) in LANGS {
        let page = web.get(&format!("{path}?langue={code}"));
        assert_eq!(page.status, 200, "{code}: {}", page.body);
        let block = translated_block(&page.body);
        let dir = if code == "ar" { "rtl" } else { "ltr" };
        assert!(
            block.contains(&format!("lang=\"{code}\" dir=\"{dir}\"")),
            "{block}"
        );
        assert!(html_unescape(&block).contains(sentence), "{code}: {block}");
        assert!(html_unescape(&block).contains(LANGS.iter().find(|l| l.0 == code).expect("l").1));
        // The French document stays, with the same digest.
        assert!(page
            .body
            .contains("<article class=\"fr-mandate\" lang=\"fr\""));
        assert!(html_unescape(&page.body)
            .contains("Je déclare ne faire l’objet d’aucune mesure de protection juridique"));
        assert_eq!(
            between(&page.body, "id=\"attestation-digest\">", "<"),
            digest
        );
    }
    let bad = web.get(&format!("{path}?langue=de"));
    assert_eq!(bad.status, 200);
    assert!(html_unescape(&bad.body).contains("Langue inconnue : « de »"));
    assert!(!bad.body.contains("fr-translation"));
}

#[test]
fn the_remote_consent_page_is_translated_and_the_answer_records_the_language() {
    let (app, clock) = demo_app();
    let (_a, aidant) = aidant_of(&app, &clock, 1, "marie.curie@exemple.fr");
    let r = remote_request(&aidant, &["social"], "MONTH", ANGELA);
    assert_eq!(r.status, 303, "{}", r.body);
    let person = Web::new(&app);
    let link = remote_link(&app);
    let r = answer_link(&app, &person, &link, "0");
    assert_eq!(r.header("location"), Some("/moi/consentement"));
    let page = person.get("/moi/consentement?langue=ar");
    assert_eq!(page.status, 200, "{}", page.body);
    let block = translated_block(&page.body);
    assert!(block.contains("lang=\"ar\" dir=\"rtl\""));
    assert!(block.contains("النص الفرنسي وحده له قيمة قانونية"));
    assert!(page.body.contains("Je refuse"));
    // Both forms carry the language.
    assert_eq!(
        page.body
            .matches("<input type=\"hidden\" name=\"langue\" value=\"ar\">")
            .count(),
        2
    );
    let r = person.submit(
        "/moi/consentement",
        "/moi/consentement",
        &[("consent", "oui"), ("langue", "ar")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(langue_of_last(&app, "mandate.created"), "ar");
    assert_eq!(langue_of_last(&app, "mandate.remote_consent_given"), "ar");
}

#[test]
fn a_remote_refusal_records_the_language_too() {
    let (app, clock) = demo_app();
    let (_a, aidant) = aidant_of(&app, &clock, 1, "marie.curie@exemple.fr");
    remote_request(&aidant, &["social"], "MONTH", ANGELA);
    let person = Web::new(&app);
    let link = remote_link(&app);
    answer_link(&app, &person, &link, "0");
    let r = person.submit(
        "/moi/consentement?langue=en",
        "/moi/consentement/refus",
        &[("langue", "en")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(langue_of_last(&app, "mandate.remote_consent_refused"), "en");
}
