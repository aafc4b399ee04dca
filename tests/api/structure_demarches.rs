//! The démarches a structure offers: `procura structure update`, the manager's page
//! `/gestion/demarches`, mandate creation limited to them, and the provider's refusal of
//! mandates for a démarche the structure stopped offering.

use procura::clock::Clock;
use procura::domain::mandate::MandateDuration;
use procura::domain::roles::Role;
use serde_json::json;

use crate::helpers::fc;
use crate::helpers::oidc::*;
use crate::helpers::*;

/// The démarches stored for a structure, as `--json` describes them.
fn offered(db: &TestDb, id: &str) -> serde_json::Value {
    structure_row(&db.store(1), id).demarches().describe()
}

#[test]
fn structure_update_sets_the_demarches_and_journals_each_change() {
    let db = TestDb::new();
    let id = structure_by_cli(&db);
    let update =
        |flags: &str| procura_run(&db, &words(&format!("structure update --id {id} {flags}")));

    let v = json_of(&update("--demarche logement --demarche social --json"));
    assert_eq!(v, json!({"id": id, "demarches": ["social", "logement"]}));
    assert_eq!(offered(&db, &id), json!(["social", "logement"]));
    let entry = last_journal_entry(&db.store(1));
    assert_eq!(entry.action, "structure.updated");
    assert_eq!(entry.actor.as_deref(), Some("cli"));
    assert_eq!(entry.structure_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&entry.details).expect("details")["demarches"],
        json!(["social", "logement"])
    );

    // The same set again: nothing written, nothing journaled.
    let before = journal_actions(&db.store(1)).len();
    json_of(&update("--demarche social --demarche logement --json"));
    assert_eq!(journal_actions(&db.store(1)).len(), before);

    // Text output, then every démarche again.
    let out = update("--demarche papiers");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("papiers"));
    let v = json_of(&update("--all-demarches --json"));
    assert_eq!(v, json!({"id": id, "demarches": "*"}));
    assert_eq!(structure_row(&db.store(1), &id).demarches, None);
    assert!(journal_has(&db.store(1), "structure.updated", "\"*\""));
}

#[test]
fn structure_update_refuses_bad_input_and_changes_nothing() {
    let db = TestDb::new();
    let id = structure_by_cli(&db);
    json_of(&procura_run(
        &db,
        &words(&format!(
            "structure update --id {id} --demarche social --json"
        )),
    ));
    let before = journal_actions(&db.store(1));
    for (flags, says) in [
        (
            "--id 00000000-0000-0000-0000-000000000000 --demarche social --json".to_string(),
            "n’existe pas",
        ),
        (format!("--id {id} --demarche inconnue --json"), "inconnue"),
        (
            format!("--id {id} --demarche social --demarche nope --json"),
            "nope",
        ),
        (format!("--id {id} --json"), "--all-demarches"),
        (
            format!("--id {id} --demarche papiers --all-demarches"),
            "--all-demarches",
        ),
        ("--demarche social".to_string(), "--id"),
    ] {
        let out = procura_run(&db, &words(&format!("structure update {flags}")));
        assert_eq!(out.status.code(), Some(2), "{flags}");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains(says), "{flags}: {said}");
        if flags.ends_with("--json") {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
            assert!(v["error"].is_string(), "{flags}: {v}");
        }
    }
    assert_eq!(offered(&db, &id), json!(["social"]));
    assert_eq!(journal_actions(&db.store(1)), before, "nothing journaled");
}

#[test]
fn the_manager_chooses_the_structures_demarches() {
    let (app, clock, s, manager, _) = team(40);
    let web = logged_in(&app, &clock, &manager);
    // Linked from the accounts page; every démarche offered and ticked at first.
    let home = web.get("/gestion");
    assert!(
        home.body.contains("href=\"/gestion/demarches\""),
        "{}",
        home.body
    );
    let page = web.get("/gestion/demarches");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<legend"));
    for d in procura::domain::mandate::DEMARCHES.iter() {
        assert!(
            page.body.contains(&format!(
                "id=\"demarche-{0}\" name=\"demarches\" value=\"{0}\" checked",
                d.code
            )),
            "{} ticked",
            d.code
        );
        assert!(page.body.contains(&format!("for=\"demarche-{}\"", d.code)));
    }
    assert!(
        page.body.contains("immédiatement"),
        "the effect is explained"
    );

    let r = post_demarches(&web, &["social", "logement"]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/gestion/demarches"));
    assert_eq!(
        structure_row(&app.store, &s.id).demarches().describe(),
        json!(["social", "logement"])
    );
    let entry = last_journal_entry(&app.store);
    assert_eq!(entry.action, "structure.updated");
    assert_eq!(
        entry.actor.as_deref(),
        Some(format!("user:{}", manager.user.id).as_str())
    );
    assert_eq!(entry.structure_id.as_deref(), Some(s.id.as_str()));
    assert!(
        entry.details.contains("[\"social\",\"logement\"]"),
        "{}",
        entry.details
    );
    let page = web.get("/gestion/demarches");
    assert!(page.body.contains("sont enregistrées"), "flash shown");
    assert!(page.body.contains("value=\"social\" checked"));
    assert!(!page.body.contains("value=\"papiers\" checked"));

    // Nothing ticked, or an unknown code: refused on the page, nothing changed.
    let before = journal_actions(&app.store).len();
    for codes in [&[][..], &["inconnue"][..]] {
        let r = post_demarches(&web, codes);
        assert_eq!(r.status, 400, "{codes:?}");
        assert!(r.body.contains("fr-alert--error"), "{}", r.body);
    }
    assert!(post_demarches(&web, &[])
        .body
        .contains("au moins une démarche"));
    // Without or with a wrong CSRF token: refused.
    for token in ["", "faux"] {
        let r = web.post(
            "/gestion/demarches",
            &[("demarches", "papiers"), ("csrf_token", token)],
        );
        assert_eq!(r.status, 403, "csrf {token:?}: {}", r.body);
    }
    assert_eq!(journal_actions(&app.store).len(), before);
    assert_eq!(
        structure_row(&app.store, &s.id).demarches().describe(),
        json!(["social", "logement"])
    );

    // Every box ticked: every démarche (stored as such, so later ones are included).
    let all: Vec<&str> = procura::domain::mandate::DEMARCHES
        .iter()
        .map(|d| d.code)
        .collect();
    assert_eq!(post_demarches(&web, &all).status, 303);
    assert_eq!(structure_row(&app.store, &s.id).demarches, None);
}

#[test]
fn only_a_manager_changes_and_only_their_own_structure() {
    let (app, clock, s, _, aidant) = team(41);
    let other = structure(&app.store, &clock, "Autre", 42);
    let other_manager = member(&app, &clock, "om@exemple.fr", &[Role::Manager], &other);
    let aidant_web = logged_in(&app, &clock, &aidant);
    assert_eq!(aidant_web.get("/gestion/demarches").status, 403);
    let r = aidant_web.submit("/espace", "/gestion/demarches", &[("demarches", "social")]);
    assert_eq!(r.status, 403);
    assert_eq!(
        get(&app.url("/gestion/demarches")).status,
        303,
        "to the login page"
    );

    // The other structure's manager changes their structure only, whatever the form says.
    let web = logged_in(&app, &clock, &other_manager);
    let r = web.submit(
        "/gestion/demarches",
        "/gestion/demarches",
        &[
            ("demarches", "papiers"),
            ("structure", &s.id),
            ("id", &s.id),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        structure_row(&app.store, &other.id).demarches().describe(),
        json!(["papiers"])
    );
    assert_eq!(structure_row(&app.store, &s.id).demarches, None);
    assert_eq!(
        count_of(&journal_actions(&app.store), "structure.updated"),
        1
    );
}

#[test]
fn mandate_creation_offers_and_accepts_only_the_structures_demarches() {
    let (app, clock) = demo_app();
    let s = structure(&app.store, &clock, "Structure restreinte", 43);
    let a = member(&app, &clock, "ar@exemple.fr", AIDANT_AND_MANAGER, &s);
    let web = logged_in(&app, &clock, &a);
    assert!(web
        .get("/mandats/nouveau")
        .body
        .contains("value=\"papiers\""));
    assert_eq!(post_demarches(&web, &["social", "logement"]).status, 303);

    let form = web.get("/mandats/nouveau");
    assert_eq!(form.status, 200);
    assert!(form.body.contains("value=\"social\""));
    assert!(form.body.contains("value=\"logement\""));
    assert!(
        !form.body.contains("value=\"papiers\""),
        "an excluded démarche is not offered"
    );
    let space = web.get("/espace");
    assert!(
        space.body.contains("Démarches proposées par la structure"),
        "{}",
        space.body
    );

    let before = count_rows(&app.store, "consent_requests");
    let started = count_of(&journal_actions(&app.store), "mandate.consent_started");
    for chosen in [&["papiers"][..], &["social", "papiers"][..]] {
        let r = fc::start(&web, chosen, "MONTH");
        assert_eq!(r.status, 400, "{chosen:?}: {}", r.body);
        assert!(r.body.contains("ne propose pas"), "{}", r.body);
    }
    assert_eq!(count_rows(&app.store, "consent_requests"), before);
    assert_eq!(
        count_of(&journal_actions(&app.store), "mandate.consent_started"),
        started
    );
    // An offered démarche still goes to FranceConnect.
    let r = fc::start(&web, &["social"], "MONTH");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(count_rows(&app.store, "consent_requests"), before + 1);
}

#[test]
fn start_request_refuses_a_demarche_the_structure_does_not_offer() {
    let (app, clock, s, _, aidant) = team(44);
    offer_only(&app.store, &clock, &s.id, &["social"]);
    let request = |codes: &[&str]| procura::mandates::NewRequest {
        session_hash: "h".into(),
        by: procura::accounts::Acting::new(&aidant.user.id, &s.id),
        demarches: procura::domain::mandate::parse_demarches(codes).expect("codes"),
        duration: MandateDuration::Month,
        state: procura::crypto::new_token(),
        flow: procura::domain::identity::FlowSecrets {
            nonce: "n".into(),
            pkce_verifier: "v".into(),
        },
    };
    let secrets = procura::crypto::SecretBox::new(Some(TEST_KEY));
    let mut conn = app.store.conn().expect("conn");
    let e =
        procura::mandates::start_request(&mut conn, clock.now(), &secrets, &request(&["famille"]))
            .expect_err("refused");
    assert!(e.is_refusal() && e.to_string().contains("Famille"), "{e}");
    assert_eq!(count_rows(&app.store, "consent_requests"), 0);
    procura::mandates::start_request(&mut conn, clock.now(), &secrets, &request(&["social"]))
        .expect("an offered démarche");
    assert_eq!(count_rows(&app.store, "consent_requests"), 1);
}

#[test]
fn a_restriction_stops_at_once_the_use_of_mandates_for_the_excluded_demarches() {
    let w = world(&[]);
    let manager_web = w.logged_in_member("m.op@exemple.fr", &[Role::Manager]);
    let s = structure_row(&w.app.store, &w.structure_id);
    // A second usager whose only authorisation is for "logement".
    let only_logement = seed_mandate(
        &w.app.store,
        &w.clock,
        &w.aidant,
        &s,
        "fc-sub-logement",
        &["logement"],
        MandateDuration::Month,
    )
    .mandate
    .usager_id;
    let offered_usagers = || {
        let r = w.web.get(&authorize_path(&w.rp, &new_req(), "openid", &[]));
        assert_eq!(r.status, 303, "{}", r.body);
        let page = w.web.get(r.header("location").expect("interaction"));
        assert_eq!(page.status, 200, "{}", page.body);
        page.body
    };
    assert!(offered_usagers().contains(&format!("value=\"{only_logement}\"")));
    let logement = tokens(&w, "openid", "logement");
    let social = tokens(&w, "openid", "social");
    let access = |t: &serde_json::Value| t["access_token"].as_str().expect("at").to_string();
    assert_eq!(userinfo(&w, &access(&logement)).status, 200);

    assert_eq!(post_demarches(&manager_web, &["social"]).status, 303);

    let page = offered_usagers();
    assert!(
        !page.contains(&format!("value=\"{only_logement}\"")),
        "{page}"
    );
    assert!(
        page.contains(&format!("value=\"{}\"", w.usager_id)),
        "still offered for social"
    );
    let r = userinfo(&w, &access(&logement));
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(userinfo(&w, &access(&social)).status, 200);
}

#[test]
fn a_consent_pending_when_a_demarche_is_unticked_creates_no_mandate() {
    let (app, clock) = demo_app();
    let s = structure(&app.store, &clock, "Structure en cours", 45);
    let a = member(&app, &clock, "ac@exemple.fr", &[Role::Aidant], &s);
    let web = logged_in(&app, &clock, &a);
    let consent = fc::to_consent(&app, &web, &["social", "papiers"], "MONTH", "0");
    offer_only(&app.store, &clock, &s.id, &["social"]);
    let mandates = count_rows(&app.store, "mandates");
    let created = count_of(&journal_actions(&app.store), "mandate.created");
    let r = web.submit(&consent, &consent, &[("consent", "oui")]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("ne propose pas"), "{}", r.body);
    assert_eq!(count_rows(&app.store, "mandates"), mandates);
    assert_eq!(
        count_of(&journal_actions(&app.store), "mandate.created"),
        created,
        "nothing journaled"
    );
}
