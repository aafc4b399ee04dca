//! Mandates (`/mandats`, `/franceconnect/callback`, `/autorisations`): creation through
//! FranceConnect (the demo simulator over real HTTP), consent, attestation, validity rules,
//! revocation, renewal, isolation, CSRF, atomicity.

use chrono::Duration;
use diesel::prelude::*;
use procura::clock::Clock;
use procura::store::schema::{authorisations, consent_requests, usagers};
use procura::store::Store;

use crate::helpers::fc::*;
use crate::helpers::*;

#[test]
fn a_mandate_is_created_through_franceconnect_and_consent() {
    let (app, clock) = demo_app();
    let (a, web) = aidant_of(&app, &clock, 1, "aidante@exemple.fr");
    let before = journal_actions(&app.store).len();
    let id = create(&app, &web, &["social", "papiers"], "MONTH", "1");
    // The identity is kept exactly as sent: presumed birth date, empty birthplace.
    let u = usager_by_sub(&app.store, "demo-fc-karim").expect("usager created");
    assert_eq!(u.birthdate, "1985-00-00");
    assert_eq!(u.birthplace, "");
    assert_eq!(u.preferred_username, None);
    let page = web.get(&format!("/mandats/{id}/attestation"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Karim BELKACEM"));
    assert!(
        page.body.contains("Social - Santé")
            && page.body.contains("Papiers - Citoyenneté - Élections")
    );
    // The digest shown is the one in the journal entry, and rendering again gives it again.
    let digest = between(&page.body, "id=\"attestation-digest\">", "<");
    let seq: i64 = between(&page.body, "id=\"journal-seq\">", "<")
        .parse()
        .expect("seq");
    let mut conn = app.store.conn().expect("conn");
    let entries = procura::journal::entries_after(&mut conn, seq - 1, 1).expect("entry");
    assert_eq!(entries[0].action, "mandate.created");
    assert!(
        entries[0].details.contains(&digest),
        "{}",
        entries[0].details
    );
    assert!(
        !entries[0].details.contains("BELKACEM"),
        "no personal data in the journal"
    );
    drop(conn);
    let again = web.get(&format!("/mandats/{id}/attestation"));
    assert_eq!(
        between(&again.body, "id=\"attestation-digest\">", "<"),
        digest
    );
    let text = html_unescape(&between(&again.body, "id=\"attestation-text\">", "</pre>"));
    assert_eq!(
        procura::crypto::sha256_hex(text.as_bytes()),
        digest,
        "the printed text hashes to the digest"
    );
    let actions = &journal_actions(&app.store)[before..];
    for x in [
        "mandate.consent_started",
        "usager.created",
        "mandate.created",
    ] {
        assert!(actions.contains(&x.to_string()), "{x} in {actions:?}");
    }
    // The aidant's home lists the usager; the search filters by name.
    let home = web.get("/espace");
    assert!(home.body.contains("Karim BELKACEM"), "{}", home.body);
    assert!(!web.get("/espace?q=dubois").body.contains("Karim BELKACEM"));
    assert!(web.get("/espace?q=belka").body.contains("Karim BELKACEM"));
    assert!(
        !home.body.contains("moins de 30 jours"),
        "a MONTH mandate lasts 31 days"
    );
    clock.advance(Duration::days(2));
    let web = logged_in(&app, &clock, &a);
    assert!(
        web.get("/espace").body.contains("moins de 30 jours"),
        "29 days left"
    );
}

#[test]
fn bad_creation_input_is_refused_with_nothing_created() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 2, "a2@exemple.fr");
    let before = count_rows(&app.store, "consent_requests");
    for (demarches, duration) in [
        (vec![], "MONTH"),
        (vec!["inconnue"], "MONTH"),
        (vec!["social"], "FOREVER"),
        (vec!["social"], ""),
    ] {
        let r = start(&web, &demarches, duration);
        assert_eq!(r.status, 400, "{demarches:?} {duration}");
    }
    assert_eq!(count_rows(&app.store, "consent_requests"), before);
}

#[test]
fn creation_form_errors_are_tied_to_their_fields() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 2, "a2@exemple.fr");
    // The empty form: the duration radios are required, the démarches group says one is.
    let form = web.get("/mandats/nouveau");
    assert_eq!(form.status, 200);
    assert!(form
        .body
        .contains("<p class=\"fr-hint-text\" id=\"demarches-hint\">Au moins une démarche est obligatoire.</p>"));
    assert!(form.body.contains("aria-describedby=\"demarches-hint\""));
    let radios = form.body.matches("name=\"duration\"").count();
    assert!(radios >= 2);
    for line in form
        .body
        .lines()
        .filter(|l| l.contains("name=\"duration\""))
    {
        assert!(line.contains(" required"), "{line}");
    }
    assert!(!form.body.contains("aria-invalid"));
    // No démarche: the checkboxes point to the message beside them; the summary stays.
    let r = start(&web, &[], "MONTH");
    assert_eq!(r.status, 400);
    assert!(r
        .body
        .contains("role=\"alert\"><p>Choisissez au moins une démarche.</p>"));
    assert!(r.body.contains(
        "<p class=\"fr-message fr-message--error\" id=\"demarches-error\">Choisissez au moins une démarche.</p>"
    ));
    let checkboxes = r.body.matches("name=\"demarches\"").count();
    assert!(checkboxes >= 2);
    assert_eq!(
        r.body
            .matches("aria-invalid=\"true\" aria-describedby=\"demarches-error\"")
            .count(),
        checkboxes
    );
    assert!(!r.body.contains("duration-error"));
    // No duration: each radio points to the message beside the group.
    let r = start(&web, &["social"], "");
    assert_eq!(r.status, 400);
    assert!(r.body.contains(
        "<p class=\"fr-message fr-message--error\" id=\"duration-error\">Choisissez une durée.</p>"
    ));
    assert_eq!(
        r.body
            .matches("required aria-invalid=\"true\" aria-describedby=\"duration-error\"")
            .count(),
        radios
    );
    assert!(!r.body.contains("demarches-error"));
}

#[test]
fn cancelling_at_franceconnect_creates_nothing_and_is_journaled() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 3, "a3@exemple.fr");
    let mandates_before = count_rows(&app.store, "mandates");
    let r = start(&web, &["social"], "SHORT");
    let callback = simulator(
        &app,
        &web,
        r.header("location").expect("loc"),
        "0",
        "annuler",
    );
    assert!(callback.contains("error=access_denied"));
    let r = web.get(&app.local(&callback));
    // Back to the form, with the choices and why (tests/api/choosing.rs).
    assert_eq!(r.status, 303);
    let back = web.get(r.header("location").expect("form"));
    assert!(back.body.contains("annulé la connexion"), "{}", back.body);
    assert_eq!(count_rows(&app.store, "mandates"), mandates_before);
    let last = last_journal_entry(&app.store);
    assert_eq!(last.action, "mandate.consent_failed");
    assert!(last.details.contains("access_denied"));
}

#[test]
fn a_replayed_or_unknown_state_creates_nothing() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 4, "a4@exemple.fr");
    let r = start(&web, &["social"], "SHORT");
    let callback = app.local(&simulator(
        &app,
        &web,
        r.header("location").expect("loc"),
        "0",
        "connexion",
    ));
    assert_eq!(web.get(&callback).status, 303);
    let before = count_rows(&app.store, "mandates");
    let r = web.get(&callback);
    assert_eq!(r.status, 303, "replay: back to the form");
    assert!(r
        .header("location")
        .unwrap_or_default()
        .contains("motif=deja-utilise"));
    let r = web.get("/franceconnect/callback?code=abc&state=never-issued");
    assert_eq!(r.status, 400);
    assert_eq!(count_rows(&app.store, "mandates"), before);
    assert!(journal_mentions(&app.store, "replayed_state"));
}

#[test]
fn unknown_or_missing_states_are_counted_not_journaled() {
    let (app, _clock) = demo_app();
    const COUNTER: &str = "procura_fc_callback_unknown_state_total";
    let before = journal_actions(&app.store).len();
    let counted = metric_total(&app, COUNTER);
    // Anyone, without a session: each answer is refused and the journal does not grow.
    for path in [
        "/franceconnect/callback?code=abc&state=never-issued",
        "/franceconnect/callback?state=another",
        "/franceconnect/callback?code=abc",
        "/franceconnect/callback",
    ] {
        let r = get(&app.url(path));
        assert_eq!(r.status, 400, "{path}: {}", r.body);
    }
    assert_eq!(journal_actions(&app.store).len(), before);
    assert!(!journal_mentions(&app.store, "unknown_state"));
    assert!(!journal_mentions(&app.store, "missing_state"));
    assert!(metric_total(&app, COUNTER) >= counted + 4);
}

#[test]
fn a_wrong_nonce_is_refused() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 5, "a5@exemple.fr");
    let r = start(&web, &["social"], "SHORT");
    let authorize = r.header("location").expect("loc").to_string();
    // Ask the simulator for a code bound to another nonce than the one Procura sent.
    let forged = authorize.replace(
        &format!(
            "nonce={}",
            query_param(&authorize, "nonce").unwrap_or_default()
        ),
        "nonce=forged-nonce-value",
    );
    let callback = simulator(&app, &web, &forged, "0", "connexion");
    let before = count_rows(&app.store, "mandates");
    let r = web.get(&app.local(&callback));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("nonce"), "{}", r.body);
    assert_eq!(count_rows(&app.store, "mandates"), before);
    let last = last_journal_entry(&app.store);
    assert!(last.details.contains("nonce_mismatch"), "{}", last.details);
}

#[test]
fn an_unconfirmed_consent_expires_after_15_minutes() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 6, "a6@exemple.fr");
    let consent = to_consent(&app, &web, &["social"], "SHORT", "0");
    // Without the box ticked, nothing is created.
    let r = web.submit(&consent, &consent, &[]);
    assert_eq!(r.status, 400);
    clock.advance(Duration::minutes(16));
    let before = count_rows(&app.store, "mandates");
    // Both lead back to the form, with the choices (tests/api/choosing.rs).
    assert_eq!(web.get(&consent).status, 303);
    let r = web.submit("/espace", &consent, &[("consent", "oui")]);
    assert_eq!(r.status, 303);
    assert_eq!(count_rows(&app.store, "mandates"), before);
}

#[test]
fn durations_end_when_they_should() {
    for (duration, days) in [
        ("SHORT", 1),
        ("MONTH", 31),
        ("SEMESTER", 182),
        ("LONG", 365),
    ] {
        let (app, clock) = demo_app();
        let (_, web) = aidant_of(&app, &clock, 7, "a7@exemple.fr");
        let id = create(&app, &web, &["logement"], duration, "2");
        let created = clock.now();
        clock.set(created + Duration::days(days) - Duration::seconds(1));
        assert_eq!(
            auth_states(&app.store, &id, &clock),
            vec![("logement".to_string(), "active")],
            "{duration}"
        );
        clock.set(created + Duration::days(days));
        assert_eq!(
            auth_states(&app.store, &id, &clock),
            vec![("logement".to_string(), "expired")],
            "{duration}"
        );
    }
}

#[test]
fn revoking_one_authorisation_or_the_whole_mandate() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 8, "a8@exemple.fr");
    let id = create(&app, &web, &["social", "logement", "travail"], "LONG", "0");
    let auth_id = |demarche: &str| -> String {
        let mut conn = app.store.conn().expect("conn");
        authorisations::table
            .filter(authorisations::mandate_id.eq(&id))
            .filter(authorisations::demarche.eq(demarche))
            .select(authorisations::id)
            .first(&mut *conn)
            .expect("auth")
    };
    let one = format!("/autorisations/{}/revoquer", auth_id("social"));
    assert!(
        web.get(&one).body.contains("Révoquer la démarche"),
        "confirmation first"
    );
    let r = web.submit(&one, &one, &[]);
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location").map(String::from),
        Some(format!("/mandats/{id}/revocation"))
    );
    let states = auth_states(&app.store, &id, &clock);
    assert!(
        states.contains(&("social".into(), "revoked"))
            && states.contains(&("logement".into(), "active")),
        "{states:?}"
    );
    // Revoking it again is refused, nothing changes.
    assert_eq!(web.submit("/espace", &one, &[]).status, 400);
    let whole = format!("/mandats/{id}/revoquer");
    let r = web.submit(&whole, &whole, &[]);
    assert_eq!(r.status, 303);
    let states = auth_states(&app.store, &id, &clock);
    assert!(states.iter().all(|(_, s)| *s == "revoked"), "{states:?}");
    let page = web.get(&format!("/mandats/{id}/revocation"));
    assert!(page.body.contains("Attestation de révocation"));
    let actions = journal_actions(&app.store);
    assert_eq!(count_of(&actions, "authorisation.revoked"), 1);
    assert_eq!(count_of(&actions, "mandate.revoked"), 1);
}

#[test]
fn a_new_mandate_supersedes_older_authorisations_and_renewal_prefills() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 9, "a9@exemple.fr");
    let first = create(&app, &web, &["social", "logement"], "LONG", "0");
    clock.advance(Duration::minutes(10));
    let page = web.get(&format!("/mandats/nouveau?renouveler={first}"));
    assert!(
        page.body.contains("Renouveler"),
        "{}: {}",
        page.status,
        page.body
    );
    assert!(
        page.body.contains("value=\"social\" checked")
            && page.body.contains("value=\"logement\" checked")
    );
    assert!(page.body.contains("value=\"LONG\" required checked"));
    let second = create(&app, &web, &["social"], "MONTH", "0");
    let old = auth_states(&app.store, &first, &clock);
    assert!(
        old.contains(&("social".into(), "superseded"))
            && old.contains(&("logement".into(), "active")),
        "{old:?}"
    );
    assert_eq!(
        auth_states(&app.store, &second, &clock),
        vec![("social".to_string(), "active")]
    );
    assert!(journal_actions(&app.store).contains(&"authorisation.superseded".to_string()));
    // Same usager: one row, found by FranceConnect sub.
    let mut conn = app.store.conn().expect("conn");
    let n: i64 = usagers::table
        .filter(usagers::fc_sub.eq("demo-fc-angela"))
        .count()
        .get_result(&mut *conn)
        .expect("n");
    assert_eq!(n, 1);
}

#[test]
fn another_structures_usagers_and_mandates_are_invisible() {
    let (app, clock) = demo_app();
    let (_, web_a) = aidant_of(&app, &clock, 10, "a10@exemple.fr");
    let (_, web_b) = aidant_of(&app, &clock, 11, "b11@exemple.fr");
    let id = create(&app, &web_a, &["social"], "LONG", "2");
    let usager = usager_by_sub(&app.store, "demo-fc-marie").expect("usager");
    let auth = first_authorisation(&app.store, &id);
    for path in [
        format!("/usagers/{}", usager.id),
        format!("/mandats/{id}/attestation"),
        format!("/mandats/{id}/revocation"),
        format!("/mandats/{id}/revoquer"),
        format!("/autorisations/{auth}/revoquer"),
        format!("/mandats/nouveau?renouveler={id}"),
    ] {
        assert_eq!(web_b.get(&path).status, 404, "GET {path}");
    }
    for path in [
        format!("/mandats/{id}/revoquer"),
        format!("/autorisations/{auth}/revoquer"),
    ] {
        assert_eq!(
            web_b.submit("/espace", &path, &[]).status,
            404,
            "POST {path}"
        );
    }
    assert!(!web_b.get("/espace").body.contains("NGUYEN"));
    assert!(!web_b.get("/gestion/mandats").body.contains("NGUYEN"));
    assert_eq!(
        auth_states(&app.store, &id, &clock),
        vec![("social".to_string(), "active")]
    );
    assert!(web_a.get("/gestion/mandats").body.contains("NGUYEN"));
}

#[test]
fn every_mandate_form_needs_its_csrf_token() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 12, "a12@exemple.fr");
    let id = create(&app, &web, &["social"], "LONG", "0");
    let auth = first_authorisation(&app.store, &id);
    let consent = to_consent(&app, &web, &["papiers"], "SHORT", "1");
    let before = journal_actions(&app.store).len();
    for (path, fields) in [
        (
            "/mandats/nouveau".to_string(),
            vec![("demarches", "social"), ("duration", "SHORT")],
        ),
        (consent.clone(), vec![("consent", "oui")]),
        (format!("/mandats/{id}/revoquer"), vec![]),
        (format!("/autorisations/{auth}/revoquer"), vec![]),
    ] {
        assert_eq!(web.post(&path, &fields).status, 403, "{path} without token");
        let mut wrong = fields.clone();
        wrong.push(("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        assert_eq!(
            web.post(&path, &wrong).status,
            403,
            "{path} with a wrong token"
        );
    }
    assert_eq!(journal_actions(&app.store).len(), before);
    assert_eq!(
        auth_states(&app.store, &id, &clock),
        vec![("social".to_string(), "active")]
    );
    // The consent is still pending and can be confirmed with the token.
    assert_eq!(
        web.submit(&consent, &consent, &[("consent", "oui")]).status,
        303
    );
}

#[test]
fn a_failure_after_the_mandate_insert_leaves_neither_mandate_nor_entry() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 13, "a13@exemple.fr");
    let consent = to_consent(&app, &web, &["social"], "SHORT", "0");
    // Inject a failure in the database: inserting an authorisation (after the mandate
    // row) raises an error inside the creation transaction.
    inject_insert_failure(&app.store, "authorisations");
    let mandates_before = count_rows(&app.store, "mandates");
    let journal_before = journal_actions(&app.store).len();
    let r = web.submit(&consent, &consent, &[("consent", "oui")]);
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(
        count_rows(&app.store, "mandates"),
        mandates_before,
        "no mandate"
    );
    assert_eq!(
        journal_actions(&app.store).len(),
        journal_before,
        "no journal entry"
    );
    let mut conn = app.store.conn().expect("conn");
    let status: String = consent_requests::table
        .filter(consent_requests::id.eq(consent.trim_start_matches("/mandats/consentement/")))
        .select(consent_requests::status)
        .first(&mut *conn)
        .expect("request");
    assert_eq!(status, "pending_consent", "the consent can be retried");
    assert!(procura::journal::verify(&mut conn).expect("verify").intact);
}

/// The id of the first authorisation of mandate `id`.
fn first_authorisation(store: &Store, id: &str) -> String {
    let mut conn = store.conn().expect("conn");
    authorisations::table
        .filter(authorisations::mandate_id.eq(id))
        .select(authorisations::id)
        .first(&mut *conn)
        .expect("a")
}
