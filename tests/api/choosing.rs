//! Issue 13 at the desk: choosing the person on a government site (birth dates, labels,
//! the end of the mandate, the filter script), what a new mandate replaces, a renewal
//! for another person, dead ends that keep the choices, a renewal that leaves revoked
//! démarches unticked, and the remote consent fields' errors.

use chrono::Duration;
use diesel::prelude::*;
use procura::clock::Clock;
use procura::domain::french;
use procura::domain::mandate::MandateDuration;
use procura::domain::roles::Role;
use procura::store::schema::{authorisations, consent_requests, mandates as mandates_t};

use crate::helpers::fc::*;
use crate::helpers::oidc::*;
use crate::helpers::*;

/// Angela DUBOIS under `sub`, born on `birthdate`.
fn angela(sub: &str, birthdate: &str) -> procura::domain::identity::Identity {
    procura::domain::identity::Identity {
        birthdate: birthdate.into(),
        ..identity(sub)
    }
}

/// The end of a mandate (UTC).
fn end_of(store: &procura::store::Store, mandate: &str) -> chrono::NaiveDateTime {
    let mut conn = store.conn().expect("conn");
    mandates_t::table
        .filter(mandates_t::id.eq(mandate))
        .select(mandates_t::expires_at)
        .first(&mut *conn)
        .expect("mandate")
}

/// The authorisation of `mandate` for `demarche`.
fn auth_id(store: &procura::store::Store, mandate: &str, demarche: &str) -> String {
    let mut conn = store.conn().expect("conn");
    authorisations::table
        .filter(authorisations::mandate_id.eq(mandate))
        .filter(authorisations::demarche.eq(demarche))
        .select(authorisations::id)
        .first(&mut *conn)
        .expect("authorisation")
}

/// The status of every consent request.
fn request_statuses(store: &procura::store::Store) -> Vec<String> {
    let mut conn = store.conn().expect("conn");
    consent_requests::table
        .select(consent_requests::status)
        .load(&mut *conn)
        .expect("statuses")
}

#[test]
fn the_chooser_tells_namesakes_apart_with_birth_dates_labels_and_ends() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "France Services Choix", 61);
    let aidant = account(
        &app.store,
        &clock,
        "choix@exemple.fr",
        &[Role::Aidant],
        Some(&s),
    );
    let first = seed_mandate_for(
        &app.store,
        &clock,
        &aidant,
        &s,
        &angela("sub-angela-1962", "1962-08-24"),
        &["social", "logement"],
        MandateDuration::Month,
    );
    seed_mandate_for(
        &app.store,
        &clock,
        &aidant,
        &s,
        &angela("sub-angela-1990", "1990-01-15"),
        &["travail"],
        MandateDuration::Long,
    );
    let rp = register(
        &app.store,
        &clock,
        "client_secret_basic",
        "https://site.example.fr/callback",
    );
    let web = Web::new(&app);
    assert_eq!(login(&web, &clock, &aidant).status, 303);
    let r = web.get(&authorize_path(&rp, &new_req(), "openid", &[]));
    assert_eq!(r.status, 303, "{}", r.body);
    let interaction = r.header("location").expect("interaction").to_string();
    let page = web.get(&interaction);
    assert_eq!(page.status, 200, "{}", page.body);
    // Both namesakes, each with their birth date in words.
    assert_eq!(
        page.body
            .matches("data-nom=\"Angela Claire Louise DUBOIS\"")
            .count(),
        2
    );
    assert!(page.body.contains("née le 24 août 1962"), "{}", page.body);
    assert!(
        page.body.contains("née le 15 janvier 1990"),
        "{}",
        page.body
    );
    // Labels, not codes, and the mandate's end.
    assert!(
        page.body.contains(&format!(
            "Démarches : Social - Santé, Logement ; mandat jusqu’au {}",
            french::day(first.mandate.expires_at)
        )),
        "{}",
        page.body
    );
    assert!(page.body.contains("Démarches : Travail - Formation ;"));
    assert!(!page.body.contains("Démarches : social"));
    // The filter: a hidden block the script shows, the script from /static, no inline one.
    assert!(page.body.contains("data-filtre hidden"));
    assert!(page
        .body
        .contains("<script src=\"/static/filtre-personnes.js\" defer></script>"));
    assert_eq!(page.body.matches("<script").count(), 1);
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let js = get(&app.url("/static/filtre-personnes.js"));
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(js.body.contains("data-filtre-statut") && js.body.contains("normalize(\"NFD\")"));
    // Without script, the server's search still narrows the list.
    let found = web.get(&format!("{interaction}?q=dubois"));
    assert_eq!(found.body.matches("data-nom=\"Angela").count(), 2);
    let none = web.get(&format!("{interaction}?q=belkacem"));
    assert!(!none.body.contains("Angela Claire Louise DUBOIS"));
    assert!(none.body.contains("Aucune personne ayant un mandat actif"));
}

#[test]
fn the_consent_page_says_what_the_new_mandate_replaces_and_by_when() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 31, "remplace@exemple.fr");
    let first = create(&app, &web, &["social", "logement"], "LONG", "0");
    let old_end = end_of(&app.store, &first);
    clock.advance(Duration::minutes(10));
    let consent = to_consent(&app, &web, &["social", "travail"], "SHORT", "0");
    let page = web.get(&consent);
    assert_eq!(page.status, 200, "{}", page.body);
    let new_end = MandateDuration::Short.expires_at(clock.now()).naive_utc();
    assert!(
        page.body.contains(&format!(
            "<strong>Social - Santé</strong> : autorisé jusqu’au {}, sera remplacé par ce mandat (fin le {})",
            french::day(old_end),
            french::day(new_end)
        )),
        "{}",
        page.body
    );
    assert!(page.body.contains(
        "Attention : ce nouveau mandat se termine plus tôt que l’autorisation actuelle."
    ));
    // Only what is replaced: "Logement" is not in the new mandate, "Travail" is new.
    assert!(!page.body.contains("<strong>Logement</strong> : autorisé"));
    assert!(!page
        .body
        .contains("<strong>Travail - Formation</strong> : autorisé"));
    // The deadline, in Paris time.
    let deadline = french::paris(clock.now().naive_utc() + Duration::minutes(15));
    assert!(
        page.body.contains(&format!(
            "Ce consentement doit être donné avant {} h {:02} (dans 15 minutes)",
            chrono::Timelike::hour(&deadline),
            chrono::Timelike::minute(&deadline)
        )),
        "{}",
        page.body
    );
    // What was announced is what the creation does.
    let r = web.submit(&consent, &consent, &[("consent", "oui")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let old = auth_states(&app.store, &first, &clock);
    assert!(
        old.contains(&("social".into(), "superseded"))
            && old.contains(&("logement".into(), "active")),
        "{old:?}"
    );
    // A first mandate replaces nothing: no such block.
    let other = to_consent(&app, &web, &["social"], "MONTH", "2");
    let page = web.get(&other);
    assert!(
        !page.body.contains("id=\"consent-replaces\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"consent-deadline\""));
}

#[test]
fn a_renewal_proven_for_another_person_is_refused_and_starts_again() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 32, "autre@exemple.fr");
    let first = create(&app, &web, &["social"], "MONTH", "0");
    clock.advance(Duration::minutes(5));
    let form = format!("/mandats/nouveau?renouveler={first}");
    let page = web.get(&form);
    assert!(page.body.contains(&format!(
        "<input type=\"hidden\" name=\"renouveler\" value=\"{first}\">"
    )));
    let r = web.submit(
        &form,
        "/mandats/nouveau",
        &[
            ("demarches", "social"),
            ("duration", "MONTH"),
            ("renouveler", &first),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(journal_has(&app.store, "mandate.consent_started", &first));
    // Karim is the one signed in at FranceConnect.
    let callback = simulator(
        &app,
        &web,
        r.header("location").expect("fc"),
        "1",
        "connexion",
    );
    let (mandates, superseded) = (
        count_rows(&app.store, "mandates"),
        journal_actions(&app.store)
            .iter()
            .filter(|a| *a == "authorisation.superseded")
            .count(),
    );
    let r = web.get(&app.local(&callback));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r
        .body
        .contains("Une autre personne est connectée à FranceConnect"));
    assert!(r.body.contains("Aucun mandat n’a été créé."));
    // In the session's layout, with a way to sign that person out and start again.
    assert!(r.body.contains("Se déconnecter"), "{}", r.body);
    let sign_out = between(&r.body, "id=\"fc-sign-out\" href=\"", "\"")
        .expect("a sign-out link")
        .replace("&amp;", "&");
    assert!(
        sign_out.starts_with(&app.url("/demo/franceconnect/logout?")),
        "{sign_out}"
    );
    assert!(r
        .body
        .contains(&format!("href=\"/mandats/nouveau?renouveler={first}\"")));
    // Nothing created, the request ended, journaled.
    assert_eq!(count_rows(&app.store, "mandates"), mandates);
    assert_eq!(
        journal_actions(&app.store)
            .iter()
            .filter(|a| *a == "authorisation.superseded")
            .count(),
        superseded
    );
    let last = last_journal_entry(&app.store);
    assert_eq!(last.action, "mandate.consent_failed");
    assert!(
        last.details.contains("renewal_other_person"),
        "{}",
        last.details
    );
    assert!(!request_statuses(&app.store)
        .iter()
        .any(|s| s == "pending_consent" || s == "callback"));
    assert!(usager_by_sub(&app.store, "demo-fc-karim").is_none());
    // Signing Karim out of FranceConnect leads back to the renewal form.
    let back = follow_until(&app, &web, &sign_out, "/mandats/nouveau");
    assert!(back.contains(&format!("renouveler={first}")), "{back}");
    let page = web.get(&back);
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains("La personne qui était connectée à FranceConnect en est déconnectée"));
    assert!(page.body.contains("Angela Claire Louise DUBOIS"));
    assert!(page.body.contains("value=\"social\" checked"));
    // The right person renews.
    let r = web.submit(
        &back,
        "/mandats/nouveau",
        &[
            ("demarches", "social"),
            ("duration", "MONTH"),
            ("renouveler", &first),
        ],
    );
    let callback = simulator(
        &app,
        &web,
        r.header("location").expect("fc"),
        "0",
        "connexion",
    );
    let r = web.get(&app.local(&callback));
    assert_eq!(r.status, 303, "{}", r.body);
    let consent = through_sign_out(&app, &web, r.header("location").expect("next"));
    assert_eq!(web.get(&consent).status, 200);
}

#[test]
fn a_renewal_of_a_mandate_of_another_structure_is_refused() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 33, "a33@exemple.fr");
    let (_, other) = aidant_of(&app, &clock, 34, "a34@exemple.fr");
    let theirs = create(&app, &other, &["social"], "MONTH", "0");
    let before = count_rows(&app.store, "consent_requests");
    let r = web.submit(
        "/mandats/nouveau",
        "/mandats/nouveau",
        &[
            ("demarches", "social"),
            ("duration", "MONTH"),
            ("renouveler", &theirs),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("Le mandat à renouveler est introuvable"));
    assert_eq!(count_rows(&app.store, "consent_requests"), before);
}

#[test]
fn a_cancel_at_franceconnect_returns_to_the_form_with_the_choices() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 35, "annule@exemple.fr");
    let first = create(&app, &web, &["social", "logement"], "MONTH", "0");
    let form = format!("/mandats/nouveau?renouveler={first}");
    let r = web.submit(
        &form,
        "/mandats/nouveau",
        &[
            ("demarches", "logement"),
            ("demarches", "travail"),
            ("duration", "SEMESTER"),
            ("renouveler", &first),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let callback = simulator(
        &app,
        &web,
        r.header("location").expect("fc"),
        "0",
        "annuler",
    );
    assert!(callback.contains("error=access_denied"));
    let before = count_rows(&app.store, "mandates");
    let r = web.get(&app.local(&callback));
    assert_eq!(r.status, 303, "{}", r.body);
    let back = r.header("location").expect("form").to_string();
    assert!(back.starts_with("/mandats/nouveau?reprendre="), "{back}");
    let page = web.get(&back);
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains("La personne a annulé la connexion à FranceConnect"));
    assert!(page.body.contains("value=\"logement\" checked"));
    assert!(page.body.contains("value=\"travail\" checked"));
    assert!(!page.body.contains("value=\"social\" checked"));
    assert!(page.body.contains("value=\"SEMESTER\" required checked"));
    assert!(page
        .body
        .contains(&format!("name=\"renouveler\" value=\"{first}\"")));
    assert_eq!(count_rows(&app.store, "mandates"), before);
    let last = last_journal_entry(&app.store);
    assert_eq!(last.action, "mandate.consent_failed");
    assert!(last.details.contains("access_denied"));
    // Another aidant given that address sees an empty form.
    let (_, other) = aidant_of(&app, &clock, 36, "autre36@exemple.fr");
    let theirs = other.get(&back);
    assert_eq!(theirs.status, 200);
    assert!(!theirs.body.contains("value=\"travail\" checked"));
    assert!(!theirs.body.contains("name=\"renouveler\""));
}

#[test]
fn a_reused_franceconnect_answer_returns_to_the_form() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 37, "rejoue@exemple.fr");
    let r = start(&web, &["famille"], "MONTH");
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
    assert_eq!(r.status, 303, "{}", r.body);
    let back = r.header("location").expect("form").to_string();
    assert!(back.contains("motif=deja-utilise"), "{back}");
    let page = web.get(&back);
    assert!(page.body.contains("Ce lien a déjà servi"));
    assert!(page.body.contains("value=\"famille\" checked"));
    assert!(page.body.contains("value=\"MONTH\" required checked"));
    assert_eq!(count_rows(&app.store, "mandates"), before);
    assert!(journal_mentions(&app.store, "replayed_state"));
    // A used consent page says so too.
    let consent = to_consent(&app, &web, &["social"], "MONTH", "0");
    assert_eq!(
        web.submit(&consent, &consent, &[("consent", "oui")]).status,
        303
    );
    let again = web.get(&consent);
    assert_eq!(again.status, 303);
    let back = again.header("location").expect("form").to_string();
    assert!(back.contains("motif=deja-utilise"), "{back}");
    // An unknown answer stays a refusal, in the session's layout, with the way back.
    let r = web.get("/franceconnect/callback?code=abc&state=never-issued");
    assert_eq!(r.status, 400);
    assert!(r
        .body
        .contains("id=\"back-to-form\" href=\"/mandats/nouveau\""));
    assert!(!r.body.contains(">Se connecter<"), "{}", r.body);
}

#[test]
fn the_fifteen_minutes_end_returns_to_the_form_journaled() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 38, "delai@exemple.fr");
    let consent = to_consent(&app, &web, &["social", "argent"], "SEMESTER", "0");
    clock.advance(Duration::minutes(16));
    let before = count_rows(&app.store, "mandates");
    let r = web.get(&consent);
    assert_eq!(r.status, 303, "{}", r.body);
    let back = r.header("location").expect("form").to_string();
    assert!(back.contains("motif=delai"), "{back}");
    let page = web.get(&back);
    assert!(page
        .body
        .contains("Le consentement n’a pas été donné dans les 15 minutes"));
    assert!(page.body.contains("value=\"social\" checked"));
    assert!(page.body.contains("value=\"argent\" checked"));
    assert!(page.body.contains("value=\"SEMESTER\" required checked"));
    // Consenting now creates nothing and leads to the form as well.
    let r = web.submit("/espace", &consent, &[("consent", "oui")]);
    assert_eq!(r.status, 303);
    assert!(r
        .header("location")
        .unwrap_or_default()
        .contains("motif=delai"));
    assert_eq!(count_rows(&app.store, "mandates"), before);
    // Journaled once.
    assert_eq!(
        journal_actions(&app.store)
            .iter()
            .filter(|a| *a == "mandate.consent_failed")
            .count(),
        1
    );
    assert!(journal_mentions(&app.store, "consent_expired"));
    // A late FranceConnect answer is the same dead end.
    let r = start(&web, &["logement"], "MONTH");
    let callback = simulator(
        &app,
        &web,
        r.header("location").expect("fc"),
        "0",
        "connexion",
    );
    clock.advance(Duration::minutes(16));
    let r = web.get(&app.local(&callback));
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r
        .header("location")
        .unwrap_or_default()
        .contains("motif=delai"));
}

#[test]
fn an_answer_for_another_session_is_refused_with_a_way_back() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 39, "session@exemple.fr");
    let (other_aidant, other) = aidant_of(&app, &clock, 40, "session2@exemple.fr");
    let r = start(&web, &["social"], "MONTH");
    let callback = simulator(
        &app,
        &web,
        r.header("location").expect("fc"),
        "0",
        "connexion",
    );
    let r = other.get(&app.local(&callback));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("autre session"), "{}", r.body);
    assert!(r
        .body
        .contains("id=\"back-to-form\" href=\"/mandats/nouveau\""));
    // The session's layout: the aidant's name in the header.
    assert!(r.body.contains(&other_aidant.user.name), "{}", r.body);
    assert!(journal_mentions(&app.store, "session_mismatch"));
}

#[test]
fn a_renewal_does_not_tick_again_a_revoked_demarche() {
    let (app, clock) = demo_app();
    let (aidant, web) = aidant_of(&app, &clock, 41, "revoque@exemple.fr");
    let id = create(&app, &web, &["social", "logement", "travail"], "LONG", "0");
    let one = format!(
        "/autorisations/{}/revoquer",
        auth_id(&app.store, &id, "logement")
    );
    assert_eq!(web.submit(&one, &one, &[]).status, 303);
    let page = web.get(&format!("/mandats/nouveau?renouveler={id}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("value=\"social\" checked"));
    assert!(page.body.contains("value=\"travail\" checked"));
    assert!(
        page.body.contains("value=\"logement\" >") || page.body.contains("value=\"logement\">")
    );
    assert!(!page.body.contains("value=\"logement\" checked"));
    // An expired mandate's démarches are ticked again (they were not revoked).
    clock.advance(Duration::days(366));
    assert_eq!(login(&web, &clock, &aidant).status, 303);
    let page = web.get(&format!("/mandats/nouveau?renouveler={id}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("value=\"social\" checked"));
    assert!(!page.body.contains("value=\"logement\" checked"));
}

#[test]
fn remote_consent_field_errors_are_tied_to_their_fields_and_keep_the_values() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 42, "distance@exemple.fr");
    let base = [
        ("demarches", "social"),
        ("duration", "MONTH"),
        ("consent_mode", "distance"),
    ];
    let cases: [(&str, [&str; 4]); 4] = [
        (
            "usager_email",
            ["pas-une-adresse", "DUBOIS", "Angela", "1962-08-24"],
        ),
        (
            "usager_family_name",
            ["angela@exemple.fr", "<b>DUBOIS</b>", "Angela", "1962-08-24"],
        ),
        (
            "usager_given_name",
            ["angela@exemple.fr", "DUBOIS", "", "1962-08-24"],
        ),
        (
            "usager_birthdate",
            ["angela@exemple.fr", "DUBOIS", "Angela", "2999-01-01"],
        ),
    ];
    let before = count_rows(&app.store, "remote_consents");
    for (field, values) in cases {
        let mut fields: Vec<(&str, &str)> = base.to_vec();
        for (name, v) in [
            "usager_email",
            "usager_family_name",
            "usager_given_name",
            "usager_birthdate",
        ]
        .iter()
        .zip(values)
        {
            fields.push((name, v));
        }
        let r = web.submit("/mandats/nouveau", "/mandats/nouveau", &fields);
        assert_eq!(r.status, 400, "{field}: {}", r.body);
        let input = between(&r.body, &format!("id=\"{field}\""), ">").unwrap_or_default();
        assert!(
            input.contains(&format!(
                "aria-invalid=\"true\" aria-describedby=\"{field}-error\""
            )),
            "{field}: {input}"
        );
        assert!(
            r.body.contains(&format!(
                "<p class=\"fr-message fr-message--error\" id=\"{field}-error\">"
            )),
            "{field}"
        );
        // Only that field is marked.
        assert_eq!(
            r.body.matches("aria-invalid=\"true\"").count(),
            1,
            "{field}"
        );
        // What was typed stays (escaped), and the mode stays "à distance".
        assert!(r.body.contains("value=\"distance\" checked"));
        if !values[1].contains('<') {
            assert!(
                r.body.contains(&format!("value=\"{}\"", values[1])),
                "{field}"
            );
        } else {
            assert!(
                r.body.contains("value=\"&lt;b&gt;DUBOIS&lt;/b&gt;\""),
                "{field}"
            );
        }
        assert!(r.body.contains(&format!("value=\"{}\"", values[0])));
        assert!(r.body.contains("value=\"social\" checked"));
    }
    assert_eq!(count_rows(&app.store, "remote_consents"), before);
}

/// The text between `start` and the next `end` in `s`.
fn between(s: &str, start: &str, end: &str) -> Option<String> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(s[from..from + len].to_string())
}

#[test]
fn the_remote_consent_page_says_what_the_new_mandate_replaces() {
    use crate::helpers::person::*;
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 43, "remplace.distance@exemple.fr");
    let first = create(&app, &web, &["logement"], "LONG", "0");
    let old_end = end_of(&app.store, &first);
    clock.advance(Duration::minutes(30));
    let r = remote_request(&web, &["logement"], "MONTH", ANGELA);
    assert_eq!(r.status, 303, "{}", r.body);
    let person = Web::new(&app);
    let link = remote_link(&app);
    let r = answer_link(&app, &person, &link, "0");
    assert_eq!(
        r.header("location"),
        Some("/moi/consentement"),
        "{}",
        r.body
    );
    let page = person.get("/moi/consentement");
    assert_eq!(page.status, 200, "{}", page.body);
    let new_end = MandateDuration::Month.expires_at(clock.now()).naive_utc();
    assert!(
        page.body.contains(&format!(
            "<strong>Logement</strong> : autorisé jusqu’au {}, sera remplacé par ce mandat (fin le {})",
            french::day(old_end),
            french::day(new_end)
        )),
        "{}",
        page.body
    );
    // No desk deadline on the person's own page.
    assert!(!page.body.contains("id=\"consent-deadline\""));
}
