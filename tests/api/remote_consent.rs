//! Remote consent (`consent_mode=distance` on `/mandats/nouveau`, `/consentement/<token>`,
//! `/moi/consentement`): the request and its e-mail, the person's FranceConnect login and
//! answer, the identity check, single use, expiry, and the aidant's view of each state.

use chrono::Duration;

use crate::helpers::fc::*;
use crate::helpers::person::*;
use crate::helpers::*;

/// A demo app and a logged-in aidant (and manager) of "Structure 1".
fn desk() -> (TestApp, procura::clock::FixedClock, Account, Web) {
    let (app, clock) = demo_app();
    let (a, web) = aidant_of(&app, &clock, 1, "marie.curie@exemple.fr");
    (app, clock, a, web)
}

fn state_on_space(web: &Web) -> String {
    let body = web.get("/espace").body;
    between(&body, "data-state=\"", "\"")
}

#[test]
fn a_remote_consent_creates_the_mandate_once_the_person_consents() {
    let (app, _clock, a, aidant) = desk();
    let (requests_before, mandates_before) = (
        count_rows(&app.store, "consent_requests"),
        count_rows(&app.store, "mandates"),
    );
    let r = remote_request(&aidant, &["social", "logement"], "SEMESTER", ANGELA);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some("/espace"),
        "no FranceConnect for the aidant"
    );
    assert_eq!(count_rows(&app.store, "consent_requests"), requests_before);
    assert_eq!(remote_statuses(&app.store), ["pending"]);
    // Journaled with ids only; the e-mail carries the link.
    let e = journal_entries(&app.store)
        .into_iter()
        .find(|e| e.action == "mandate.remote_consent_requested")
        .expect("journaled");
    assert_eq!(
        e.actor.as_deref(),
        Some(format!("user:{}", a.user.id).as_str())
    );
    for personal in ["angela", "Angela", "Dubois", "1962"] {
        assert!(!e.details.contains(personal), "{}", e.details);
    }
    let mail = &mails(&app.store, "usager.remote_consent")[0];
    assert_eq!(mail.recipient, "angela.dubois@exemple.fr");
    assert!(mail.body_text.contains("Structure 1") && mail.body_text.contains("Social - Santé"));
    let link = remote_link(&app);
    assert!(!journal_mentions(
        &app.store,
        link.trim_start_matches("/consentement/")
    ));
    // The aidant sees it waiting; no mandate exists yet.
    let space = aidant.get("/espace").body;
    assert!(
        space.contains("Angela Dubois") && space.contains("en attente"),
        "{space}"
    );
    assert_eq!(count_rows(&app.store, "mandates"), mandates_before);
    // The person: the link, FranceConnect, the consent page as at the desk.
    let person = Web::new(&app);
    let landing = person.get(&link);
    assert!(
        landing.body.contains("Structure 1")
            && landing.body.contains("Compte marie.curie@exemple.fr")
    );
    let r = answer_link(&app, &person, &link, "0");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/moi/consentement"));
    let page = person.get("/moi/consentement");
    assert_eq!(page.status, 200, "{}", page.body);
    for text in [
        "Angela Claire Louise DUBOIS",
        "Structure 1",
        "Consentement recueilli par Compte marie.curie@exemple.fr",
        "Social - Santé",
        "Logement",
        &app.url("/moi"),
        "Je refuse",
    ] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }
    // The box must be ticked; CSRF is needed.
    assert_eq!(
        person
            .post("/moi/consentement", &[("consent", "oui")])
            .status,
        403
    );
    assert_eq!(
        person
            .submit("/moi/consentement", "/moi/consentement", &[])
            .status,
        400
    );
    assert_eq!(count_rows(&app.store, "mandates"), mandates_before);
    let r = person.submit(
        "/moi/consentement",
        "/moi/consentement",
        &[("consent", "oui")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/moi?fait=consenti"));
    assert_eq!(count_rows(&app.store, "mandates"), mandates_before + 1);
    assert_eq!(remote_statuses(&app.store), ["consented"]);
    let created = journal_entries(&app.store)
        .into_iter()
        .rfind(|e| e.action == "mandate.created")
        .expect("mandate.created");
    assert!(
        created.details.contains("\"consent\":\"distance\""),
        "{}",
        created.details
    );
    assert_eq!(
        created.actor.as_deref(),
        Some(format!("user:{}", a.user.id).as_str())
    );
    // The person's space shows it; the aidant sees "consenti" and the mandate.
    let mine = person.get("/moi?fait=consenti").body;
    assert!(
        mine.contains("votre mandat est créé") && mine.contains("Structure 1"),
        "{mine}"
    );
    assert_eq!(state_on_space(&aidant), "consented");
    assert!(aidant
        .get("/espace")
        .body
        .contains("Angela Claire Louise DUBOIS"));
    // The link is spent.
    let again = Web::new(&app).get(&link);
    assert_eq!(again.status, 410);
    assert!(
        again.body.contains("déjà été utilisé") || again.body.contains("déjà donné"),
        "{}",
        again.body
    );
}

#[test]
fn a_refusal_creates_nothing_and_the_aidant_sees_it() {
    let (app, _clock, _a, aidant) = desk();
    let mandates_before = count_rows(&app.store, "mandates");
    assert_eq!(
        remote_request(&aidant, &["social"], "MONTH", ANGELA).status,
        303
    );
    let link = remote_link(&app);
    let person = Web::new(&app);
    assert_eq!(answer_link(&app, &person, &link, "0").status, 303);
    let token = csrf_in(&person.get("/moi/consentement").body).expect("form");
    assert_eq!(
        person.post("/moi/consentement/refus", &[]).status,
        403,
        "CSRF"
    );
    let r = person.submit("/moi/consentement", "/moi/consentement/refus", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("aucun mandat n’a été créé"), "{}", r.body);
    assert_eq!(count_rows(&app.store, "mandates"), mandates_before);
    assert_eq!(remote_statuses(&app.store), ["refused"]);
    assert!(journal_has(
        &app.store,
        "mandate.remote_consent_refused",
        ""
    ));
    assert_eq!(state_on_space(&aidant), "refused");
    assert!(aidant.get("/espace").body.contains("refusé"));
    // No second answer.
    let r = person.post(
        "/moi/consentement",
        &[("consent", "oui"), ("csrf_token", &token)],
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(count_rows(&app.store, "mandates"), mandates_before);
}

#[test]
fn the_wrong_person_at_franceconnect_gets_no_mandate() {
    let (app, _clock, _a, aidant) = desk();
    let mandates_before = count_rows(&app.store, "mandates");
    // The aidant entered Angela; Karim logs in.
    assert_eq!(
        remote_request(&aidant, &["social"], "MONTH", ANGELA).status,
        303
    );
    let link = remote_link(&app);
    let person = Web::new(&app);
    let r = answer_link(&app, &person, &link, "1");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("Identité différente"), "{}", r.body);
    assert!(
        r.body.contains("Contactez la structure"),
        "says what to do next"
    );
    assert_eq!(count_rows(&app.store, "mandates"), mandates_before);
    assert!(usager_by_sub(&app.store, "demo-fc-karim").is_none());
    assert_eq!(remote_statuses(&app.store), ["identity_mismatch"]);
    let e = journal_entries(&app.store)
        .into_iter()
        .find(|e| e.action == "mandate.remote_consent_identity_mismatch")
        .expect("journaled");
    assert!(!e.details.contains("BELKACEM") && !e.details.contains("Dubois"));
    assert!(aidant.get("/espace").body.contains("identité différente"));
    // No consent page, and the link stays spent.
    assert_ne!(person.get("/moi/consentement").status, 200);
    assert_eq!(Web::new(&app).get(&link).status, 410);
}

#[test]
fn a_close_spelling_of_the_identity_is_accepted() {
    let (app, _clock, _a, aidant) = desk();
    let typed = [
        "Angela.Dubois@Exemple.fr",
        "  dûbois ",
        "ANGÉLA  claire",
        "1962-08-24",
    ];
    assert_eq!(
        remote_request(&aidant, &["papiers"], "SHORT", typed).status,
        303
    );
    let person = Web::new(&app);
    let r = answer_link(&app, &person, &remote_link(&app), "0");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(remote_statuses(&app.store), ["identified"]);
}

#[test]
fn expired_and_reused_links_are_refused_and_expiry_is_journaled() {
    let (app, clock, a, aidant) = desk();
    let mandates_before = count_rows(&app.store, "mandates");
    assert_eq!(
        remote_request(&aidant, &["social"], "MONTH", ANGELA).status,
        303
    );
    let link = remote_link(&app);
    // A link used once: the second use is refused, with nothing changed.
    let person = Web::new(&app);
    let token = csrf_in(&person.get(&link).body).expect("the landing page's form");
    assert_eq!(person.post(&link, &[]).status, 403, "CSRF");
    assert_eq!(remote_statuses(&app.store), ["pending"]);
    assert_eq!(person.post(&link, &[("csrf_token", &token)]).status, 303);
    let r = person.post(&link, &[("csrf_token", &token)]);
    assert_eq!(r.status, 410, "used once: {}", r.body);
    assert_eq!(remote_statuses(&app.store), ["opened"]);
    let r = Web::new(&app).get(&link);
    assert_eq!(r.status, 410);
    assert!(
        r.body.contains("déjà été utilisé") && r.body.contains("nouvelle demande"),
        "{}",
        r.body
    );
    // Unknown links.
    assert_eq!(Web::new(&app).get("/consentement/inconnu").status, 404);
    // A second request left 24 hours: expired when opened, journaled once.
    clock.advance(Duration::minutes(1));
    assert_eq!(
        remote_request(&aidant, &["logement"], "MONTH", ANGELA).status,
        303
    );
    let late = remote_link(&app);
    assert_ne!(late, link);
    clock.advance(Duration::hours(24) + Duration::seconds(1));
    let aidant = logged_in(&app, &clock, &a);
    assert!(aidant.get("/espace").body.contains("expiré"));
    let r = Web::new(&app).get(&late);
    assert_eq!(r.status, 410);
    assert!(
        r.body.contains("expiré") && r.body.contains("nouvelle demande"),
        "{}",
        r.body
    );
    assert_eq!(Web::new(&app).get(&late).status, 410);
    assert_eq!(
        count_of(
            &journal_actions(&app.store),
            "mandate.remote_consent_expired"
        ),
        1
    );
    // The housekeeping closes the other open one (opened, never answered).
    housekeeping(&app, &clock);
    assert_eq!(remote_statuses(&app.store), ["expired", "expired"]);
    assert_eq!(
        count_of(
            &journal_actions(&app.store),
            "mandate.remote_consent_expired"
        ),
        2
    );
    assert_eq!(count_rows(&app.store, "mandates"), mandates_before);
    // Closed requests (and the identity entered, sealed) go after 30 days.
    clock.advance(Duration::days(30) - Duration::minutes(5));
    housekeeping(&app, &clock);
    assert_eq!(count_rows(&app.store, "remote_consents"), 2);
    clock.advance(Duration::minutes(10));
    housekeeping(&app, &clock);
    assert_eq!(count_rows(&app.store, "remote_consents"), 0);
    assert!(journal_has(
        &app.store,
        "maintenance.purged",
        "\"remote_consents\":2"
    ));
}

#[test]
fn a_consent_after_the_deadline_creates_nothing() {
    let (app, clock, _a, aidant) = desk();
    let mandates_before = count_rows(&app.store, "mandates");
    assert_eq!(
        remote_request(&aidant, &["social"], "MONTH", ANGELA).status,
        303
    );
    clock.advance(Duration::hours(23) + Duration::minutes(50));
    let person = Web::new(&app);
    assert_eq!(
        answer_link(&app, &person, &remote_link(&app), "0").status,
        303
    );
    let token = csrf_in(&person.get("/moi/consentement").body).expect("form");
    clock.advance(Duration::minutes(11));
    let r = person.post(
        "/moi/consentement",
        &[("consent", "oui"), ("csrf_token", &token)],
    );
    assert_eq!(r.status, 410, "{}", r.body);
    assert!(r.body.contains("expiré"));
    assert_eq!(count_rows(&app.store, "mandates"), mandates_before);
    assert_eq!(remote_statuses(&app.store), ["expired"]);
    assert!(journal_has(
        &app.store,
        "mandate.remote_consent_expired",
        ""
    ));
}

#[test]
fn bad_remote_input_is_refused_beside_the_form_with_nothing_created() {
    let (app, _clock, _a, aidant) = desk();
    let before = journal_actions(&app.store).len();
    for (person, word) in [
        (
            ["", "Dubois", "Angela", "1962-08-24"],
            "adresse électronique",
        ),
        (
            ["pas une adresse", "Dubois", "Angela", "1962-08-24"],
            "adresse électronique",
        ),
        (
            ["a@exemple.fr", "", "Angela", "1962-08-24"],
            "nom de naissance",
        ),
        (["a@exemple.fr", "Dubois", "", "1962-08-24"], "prénoms"),
        (
            ["a@exemple.fr", "Dubois", "Angela", ""],
            "date de naissance",
        ),
        (
            ["a@exemple.fr", "Dubois", "Angela", "24/08/1962"],
            "date de naissance",
        ),
        (
            ["a@exemple.fr", "Dubois", "Angela", "2999-01-01"],
            "date de naissance",
        ),
    ] {
        let r = remote_request(&aidant, &["social"], "MONTH", person);
        assert_eq!(r.status, 400, "{person:?}");
        assert!(html_unescape(&r.body).contains(word), "{word}: {}", r.body);
        assert!(
            r.body.contains("value=\"distance\" checked"),
            "the form keeps the choice"
        );
    }
    let r = aidant.submit(
        "/mandats/nouveau",
        "/mandats/nouveau",
        &[
            ("demarches", "social"),
            ("duration", "MONTH"),
            ("consent_mode", "ailleurs"),
        ],
    );
    assert_eq!(r.status, 400);
    // CSRF missing.
    let r = aidant.post(
        "/mandats/nouveau",
        &[
            ("demarches", "social"),
            ("duration", "MONTH"),
            ("consent_mode", "distance"),
            ("usager_email", ANGELA[0]),
            ("usager_family_name", ANGELA[1]),
            ("usager_given_name", ANGELA[2]),
            ("usager_birthdate", ANGELA[3]),
        ],
    );
    assert_eq!(r.status, 403);
    assert_eq!(count_rows(&app.store, "remote_consents"), 0);
    assert!(mails(&app.store, "usager.remote_consent").is_empty());
    assert_eq!(journal_actions(&app.store).len(), before);
}
