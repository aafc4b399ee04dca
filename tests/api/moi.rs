//! The person's own space (`/moi`): FranceConnect login in a session of its own, their
//! mandates and uses only, revocation (confirmation, CSRF, managers told), data export,
//! logout, and the isolation from aidants' sessions.

use chrono::Duration;
use procura::domain::mandate::MandateDuration;
use procura::domain::roles::Role;

use crate::helpers::fc::*;
use crate::helpers::person::*;
use crate::helpers::*;

/// A demo app with two structures: Marie-Thérèse has a mandate in the first (social,
/// papiers) with one use; Karim has one in each, the second one used. (The demo's own
/// mandate is Angela's.)
struct World {
    app: TestApp,
    clock: procura::clock::FixedClock,
    a1: Account,
    s1: procura::accounts::structures::Structure,
    angela: procura::mandates::Created,
    karim1: procura::mandates::Created,
    karim2: procura::mandates::Created,
    client_name: String,
}

fn world() -> World {
    let (app, clock) = demo_app();
    let s1 = structure(&app.store, &clock, "Maison France Services Nord", 201);
    let s2 = structure(&app.store, &clock, "Centre social Sud", 202);
    let a1 = member(
        &app,
        &clock,
        "marie.curie@exemple.fr",
        AIDANT_AND_MANAGER,
        &s1,
    );
    let a2 = member(&app, &clock, "paul.sud@exemple.fr", AIDANT_AND_MANAGER, &s2);
    let angela = seed_mandate_for(
        &app.store,
        &clock,
        &a1,
        &s1,
        &sim_identity(2),
        &["social", "papiers"],
        MandateDuration::Month,
    );
    let karim1 = seed_mandate_for(
        &app.store,
        &clock,
        &a1,
        &s1,
        &sim_identity(1),
        &["logement"],
        MandateDuration::Month,
    );
    let karim2 = seed_mandate_for(
        &app.store,
        &clock,
        &a2,
        &s2,
        &sim_identity(1),
        &["travail"],
        MandateDuration::Month,
    );
    let client = DEMO_CLIENT;
    record_use(&app.store, &clock, &a1.user.id, &angela, client);
    record_use(&app.store, &clock, &a2.user.id, &karim2, client);
    let client_name = {
        let mut conn = app.store.conn().expect("conn");
        procura::federation::provider::clients::clients(&mut conn)
            .expect("clients")
            .into_iter()
            .find(|c| c.id == client)
            .expect("demo client")
            .name
    };
    World {
        app,
        clock,
        a1,
        s1,
        angela,
        karim1,
        karim2,
        client_name,
    }
}

#[test]
fn a_person_sees_only_their_own_mandates_and_uses() {
    let w = world();
    let web = Web::new(&w.app);
    let r = moi_login(&w.app, &web, "2");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/moi"));
    let page = web.get("/moi");
    assert_eq!(page.status, 200);
    let b = &page.body;
    assert!(b.contains("Marie-Thérèse NGUYEN"), "{b}");
    assert!(b.contains("Maison France Services Nord"));
    assert!(b.contains("Social - Santé") && b.contains("Papiers - Citoyenneté - Élections"));
    // The use: who (first name and initial), where, which site, which démarche.
    assert!(b.contains("Compte M."), "{b}");
    assert!(b.contains(&w.client_name), "{b}");
    // Nothing of Karim's mandates, in either structure.
    assert!(!b.contains("Centre social Sud"));
    assert!(!b.contains(&w.karim1.mandate.id) && !b.contains(&w.karim2.mandate.id));
    assert!(!b.contains("Logement") && !b.contains("Travail - Formation"));
    // Karim sees his two mandates and his use, not Angela's.
    let karim = Web::new(&w.app);
    assert_eq!(moi_login(&w.app, &karim, "1").status, 303);
    let k = karim.get("/moi").body;
    assert!(k.contains("Centre social Sud") && k.contains("Maison France Services Nord"));
    assert!(k.contains("Travail - Formation") && k.contains("Logement"));
    assert!(!k.contains(&w.angela.mandate.id) && !k.contains("Social - Santé"));
    // The export: attachment, their data only, journaled.
    let before = journal_actions(&w.app.store).len();
    let r = web.get("/moi/donnees");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment")));
    let data = r.json();
    assert_eq!(data["identity"]["family_name"], "NGUYEN");
    let ids: Vec<&str> = data["mandates"]
        .as_array()
        .expect("mandates")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [w.angela.mandate.id.as_str()]);
    assert_eq!(
        data["mandates"][0]["authorisations"]
            .as_array()
            .expect("a")
            .len(),
        2
    );
    assert_eq!(data["uses"].as_array().expect("uses").len(), 1);
    assert_eq!(data["uses"][0]["site"], w.client_name.as_str());
    assert!(!r.body.contains(&w.karim1.mandate.id) && !r.body.contains("BELKACEM"));
    let actions = &journal_actions(&w.app.store)[before..];
    assert_eq!(actions, ["usager.data_exported"]);
    let e = last_journal_entry(&w.app.store);
    assert_eq!(
        e.actor.as_deref(),
        Some(format!("usager:{}", w.angela.mandate.usager_id).as_str())
    );
    assert!(!e.details.contains("NGUYEN"));
}

#[test]
fn another_persons_mandate_or_authorisation_is_404_and_unchanged() {
    let w = world();
    let web = Web::new(&w.app);
    assert_eq!(moi_login(&w.app, &web, "2").status, 303);
    let before = journal_actions(&w.app.store).len();
    for path in [
        format!("/moi/mandats/{}/revoquer", w.karim1.mandate.id),
        format!("/moi/mandats/{}/revoquer", w.karim2.mandate.id),
        format!(
            "/moi/autorisations/{}/revoquer",
            w.karim1.authorisations[0].id
        ),
        format!(
            "/moi/autorisations/{}/revoquer",
            w.karim2.authorisations[0].id
        ),
        "/moi/mandats/inconnu/revoquer".to_string(),
    ] {
        assert_eq!(web.get(&path).status, 404, "{path}");
        let r = web.submit("/moi", &path, &[]);
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    for m in [&w.karim1, &w.karim2] {
        assert_eq!(
            auth_states(&w.app.store, &m.mandate.id, &w.clock)[0].1,
            "active"
        );
    }
    assert_eq!(
        journal_actions(&w.app.store).len(),
        before,
        "nothing journaled"
    );
    assert!(mails(&w.app.store, "structure.usager_revoked").is_empty());
}

#[test]
fn revoking_asks_for_confirmation_needs_csrf_and_tells_the_managers() {
    let w = world();
    // A second manager, a plain aidant and a deactivated manager of the structure.
    let m2 = member(
        &w.app,
        &w.clock,
        "gerante@exemple.fr",
        &[Role::Manager],
        &w.s1,
    );
    member(
        &w.app,
        &w.clock,
        "aidant.seul@exemple.fr",
        &[Role::Aidant],
        &w.s1,
    );
    let gone = member(
        &w.app,
        &w.clock,
        "partie@exemple.fr",
        &[Role::Manager],
        &w.s1,
    );
    exec_sql(
        &w.app.store,
        &format!(
            "UPDATE users SET active = false WHERE id = '{}'",
            gone.user.id
        ),
    );
    let web = Web::new(&w.app);
    assert_eq!(moi_login(&w.app, &web, "2").status, 303);
    let social = w
        .angela
        .authorisations
        .iter()
        .find(|a| a.demarche == "social")
        .expect("social")
        .id
        .clone();
    let path = format!("/moi/autorisations/{social}/revoquer");
    let confirm = web.get(&path);
    assert_eq!(confirm.status, 200);
    assert!(
        confirm
            .body
            .contains("Révoquer la démarche « Social - Santé »"),
        "{}",
        confirm.body
    );
    assert!(confirm.body.contains(&format!("action=\"{path}\"")));
    // Without the CSRF token, or with an aidant's: refused, nothing changed.
    assert_eq!(web.post(&path, &[]).status, 403);
    let aidant = logged_in(&w.app, &w.clock, &w.a1);
    let aidant_token = aidant.csrf("/espace");
    assert_eq!(
        web.post(&path, &[("csrf_token", &aidant_token)]).status,
        403
    );
    assert_eq!(
        aidant.post(&path, &[("csrf_token", &aidant_token)]).status,
        403
    );
    assert!(auth_states(&w.app.store, &w.angela.mandate.id, &w.clock)
        .iter()
        .all(|(_, s)| *s == "active"));
    assert!(mails(&w.app.store, "structure.usager_revoked").is_empty());
    // Confirmed: the démarche ends, journaled as the person's act; managers are told.
    let r = web.submit(&path, &path, &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/moi?fait=demarche"));
    let states = auth_states(&w.app.store, &w.angela.mandate.id, &w.clock);
    assert!(states.contains(&("social".into(), "revoked")), "{states:?}");
    assert!(states.contains(&("papiers".into(), "active")));
    let actor = format!("usager:{}", w.angela.mandate.usager_id);
    let e = journal_entries(&w.app.store)
        .into_iter()
        .find(|e| e.action == "authorisation.revoked")
        .expect("journaled");
    assert_eq!(e.actor.as_deref(), Some(actor.as_str()));
    assert_eq!(e.structure_id.as_deref(), Some(w.s1.id.as_str()));
    let mut to: Vec<String> = mails(&w.app.store, "structure.usager_revoked")
        .into_iter()
        .map(|m| m.recipient)
        .collect();
    to.sort();
    assert_eq!(to, [m2.email.clone(), w.a1.email.clone()]);
    let notice = &mails(&w.app.store, "structure.usager_revoked")[0];
    assert!(notice.body_text.contains("Marie-Thérèse NGUYEN"));
    assert!(notice.body_text.contains("Social - Santé"));
    assert!(notice.body_text.contains(
        &w.app
            .url(&format!("/usagers/{}", w.angela.mandate.usager_id))
    ));
    assert!(web
        .get("/moi?fait=demarche")
        .body
        .contains("La démarche est révoquée"));
    // The whole mandate.
    let path = format!("/moi/mandats/{}/revoquer", w.angela.mandate.id);
    assert!(web.get(&path).body.contains("Révoquer tout le mandat"));
    let r = web.submit(&path, &path, &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(auth_states(&w.app.store, &w.angela.mandate.id, &w.clock)
        .iter()
        .all(|(_, s)| *s == "revoked"));
    let e = last_journal_entry(&w.app.store);
    assert_eq!(e.action, "mail.queued");
    let revoked = journal_entries(&w.app.store)
        .into_iter()
        .find(|e| e.action == "mandate.revoked")
        .expect("journaled");
    assert_eq!(revoked.actor.as_deref(), Some(actor.as_str()));
    assert_eq!(mails(&w.app.store, "structure.usager_revoked").len(), 4);
    // Nothing left to revoke.
    assert_eq!(web.submit("/moi", &path, &[]).status, 400);
    assert!(web.get("/moi").body.contains("Mes mandats terminés"));
}

#[test]
fn an_aidants_session_gives_no_access_to_moi_and_back() {
    let w = world();
    let aidant = logged_in(&w.app, &w.clock, &w.a1);
    let page = aidant.get("/moi");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Se connecter avec FranceConnect"));
    assert!(!page.body.contains("NGUYEN") && !page.body.contains("Mes mandats en cours"));
    let r = aidant.get("/moi/donnees");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/moi"));
    assert_eq!(
        aidant
            .get(&format!("/moi/mandats/{}/revoquer", w.angela.mandate.id))
            .status,
        303
    );
    // And the person's session opens nothing of the aidants'.
    let web = Web::new(&w.app);
    assert_eq!(moi_login(&w.app, &web, "2").status, 303);
    let r = web.get("/espace");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/connexion"));
    assert_eq!(
        web.get(&format!("/mandats/{}/attestation", w.angela.mandate.id))
            .status,
        303
    );
}

#[test]
fn the_login_is_single_use_bound_to_the_browser_and_rotates_the_session() {
    let w = world();
    let web = Web::new(&w.app);
    let callback = moi_login_callback(&w.app, &web, "2");
    // Another browser bringing the answer back is refused, and the answer is spent.
    let other = Web::new(&w.app);
    let r = other.get(&callback);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("autre navigateur"), "{}", r.body);
    let r = web.get(&callback);
    assert_eq!(r.status, 400, "replayed");
    assert!(r.body.contains("déjà utilisé"), "{}", r.body);
    assert!(!web.get("/moi").body.contains("NGUYEN"));
    assert_eq!(
        journal_count(&w.app.store, "usager.login_failed", "session_mismatch"),
        1
    );
    // A fresh login works, with a new session id.
    let before = count_rows(&w.app.store, "usager_sessions");
    let callback = moi_login_callback(&w.app, &web, "2");
    let r = web.get(&callback);
    assert_eq!(r.status, 303);
    let cookie = r.header("set-cookie").expect("cookie").to_string();
    assert!(cookie.starts_with("procura_moi="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    assert!(web.get("/moi").body.contains("NGUYEN"));
    assert_eq!(
        count_rows(&w.app.store, "usager_sessions"),
        before,
        "rotated, not added"
    );
    assert!(journal_has(&w.app.store, "usager.logged_in", ""));
}

#[test]
fn logout_and_timeouts_end_the_session() {
    let w = world();
    let web = Web::new(&w.app);
    assert_eq!(moi_login(&w.app, &web, "2").status, 303);
    let page = web.get("/moi");
    let token = csrf_in(&page.body).expect("logout form");
    assert_eq!(web.post("/moi/deconnexion", &[]).status, 403, "CSRF needed");
    assert!(web.get("/moi").body.contains("Mes mandats en cours"));
    let r = web.post("/moi/deconnexion", &[("csrf_token", &token)]);
    assert_eq!(r.status, 303);
    assert!(web
        .get("/moi")
        .body
        .contains("Se connecter avec FranceConnect"));
    assert!(journal_has(&w.app.store, "usager.logged_out", ""));
    // Idle for more than 30 minutes; then 2 hours in all, however active.
    assert_eq!(moi_login(&w.app, &web, "2").status, 303);
    w.clock.advance(Duration::minutes(31));
    assert!(web
        .get("/moi")
        .body
        .contains("Se connecter avec FranceConnect"));
    assert_eq!(moi_login(&w.app, &web, "2").status, 303);
    for _ in 0..4 {
        w.clock.advance(Duration::minutes(25));
        assert!(web.get("/moi").body.contains("Mes mandats en cours"));
    }
    w.clock.advance(Duration::minutes(21));
    assert!(web
        .get("/moi")
        .body
        .contains("Se connecter avec FranceConnect"));
}

#[test]
fn a_person_without_mandate_has_nothing_to_see_and_no_session() {
    let (app, _clock) = demo_app();
    let web = Web::new(&app);
    let r = moi_login(&app, &web, "1");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Aucun mandat"), "{}", r.body);
    assert!(web
        .get("/moi")
        .body
        .contains("Se connecter avec FranceConnect"));
    assert!(
        usager_by_sub(&app.store, "demo-fc-karim").is_none(),
        "no usager created"
    );
}

#[test]
fn the_consent_page_points_to_the_persons_space() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 5, "a5@exemple.fr");
    let consent = to_consent(&app, &web, &["social"], "SHORT", "1");
    let page = web.get(&consent);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!("href=\"{}\"", app.url("/moi"))),
        "{}",
        page.body
    );
}

#[test]
fn a_person_erases_their_own_data_after_confirming() {
    let w = world();
    let web = Web::new(&w.app);
    assert_eq!(moi_login(&w.app, &web, "2").status, 303);
    assert!(web.get("/moi").body.contains("href=\"/moi/effacement\""));
    let ask = web.get("/moi/effacement");
    assert_eq!(ask.status, 200);
    assert!(ask.body.contains("Effacer mes données ?"), "{}", ask.body);
    // Without the form's token nothing happens.
    assert_eq!(web.post("/moi/effacement", &[]).status, 403);
    let usager = w.angela.mandate.usager_id.clone();
    let before = journal_actions(&w.app.store).len();
    assert_eq!(journal_actions(&w.app.store).len(), before);
    let done = web.submit("/moi/effacement", "/moi/effacement", &[]);
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("Vos données sont effacées"),
        "{}",
        done.body
    );
    // The session ended with the identity; the mandate ended first.
    assert!(!web.get("/moi").body.contains("Effacer mes données"));
    let entries = journal_entries(&w.app.store);
    let erased = entries
        .iter()
        .find(|e| e.action == "usager.erased")
        .expect("usager.erased");
    assert_eq!(
        erased.actor.as_deref(),
        Some(format!("usager:{usager}").as_str())
    );
    assert!(entries.iter().any(|e| e.action == "mandate.revoked"
        && e.mandate_id.as_deref() == Some(w.angela.mandate.id.as_str())));
    let manager = logged_in(&w.app, &w.clock, &w.a1);
    let page = manager.get(&format!("/usagers/{usager}"));
    assert!(page.body.contains("Identité effacée"), "{}", page.body);
    // Karim, another person, keeps everything.
    let karim = manager.get(&format!("/usagers/{}", w.karim1.mandate.usager_id));
    assert!(!karim.body.contains("Identité effacée"));
}
