//! Terms of use (`/conditions`): accepted once per version after the second factor and
//! before anything else, journaled with the version and the text's digest; readable by
//! anyone.

use chrono::Duration;
use procura::accounts::terms::{self, Accepted, Terms};
use procura::clock::Clock;
use procura::domain::roles::Role;

use crate::helpers::*;

/// The code step's answer for `a` (password and code), without going further.
fn login_steps(web: &Web, clock: &procura::clock::FixedClock, a: &Account) -> Resp {
    clock.advance(Duration::seconds(30));
    let r = submit_password(web, &a.email, &a.password);
    assert_eq!(r.header("location"), Some("/connexion/code"), "{}", r.body);
    let c = code(&a.secret, clock, 0);
    web.submit("/connexion/code", "/connexion/code", &[("otp", &c)])
}

fn details(e: &procura::journal::Entry) -> serde_json::Value {
    serde_json::from_str(&e.details).expect("details are JSON")
}

#[test]
fn the_first_login_leads_to_the_terms_and_accepting_them_opens_the_service() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "France Services Sud", 1);
    let a = account_before_terms(
        &app.store,
        &clock,
        "a@exemple.fr",
        AIDANT_AND_MANAGER,
        Some(&s),
    );
    let web = Web::new(&app);
    let r = login_steps(&web, &clock, &a);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/conditions"));

    // Every page of the session leads to the terms, pages for anyone included.
    for path in [
        "/espace",
        "/mandats/nouveau",
        "/gestion",
        "/gestion/journal",
        "/audit",
        "/",
        "/connexion",
    ] {
        let r = web.get(path);
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.header("location"), Some("/conditions"), "{path}");
    }
    let csrf = web.csrf("/conditions");
    let r = web.post(
        "/gestion/aidants",
        &[
            ("csrf_token", &csrf),
            ("email", "b@exemple.fr"),
            ("name", "B"),
        ],
    );
    assert_eq!(r.header("location"), Some("/conditions"), "a form too");
    assert_eq!(count_rows(&app.store, "users"), 1, "nothing was done");

    // The page: the text, its version and digest, the box and the button, the name.
    let page = web.get("/conditions");
    assert_eq!(page.status, 200);
    let t = terms::current();
    assert!(
        page.body.contains("Votre compte est personnel"),
        "{}",
        page.body
    );
    assert!(page.body.contains(t.version) && page.body.contains(&t.digest()));
    assert!(page.body.contains("name=\"accepte\""));
    assert!(page.body.contains("Accepter et continuer"));
    assert!(
        page.body.contains("Compte a@exemple.fr"),
        "the header names the account"
    );

    // Refused without the form's token, then without the box: nothing written.
    let before = journal_actions(&app.store);
    let r = web.post("/conditions", &[("accepte", "oui")]);
    assert_eq!(r.status, 403);
    let r = web.post("/conditions", &[("csrf_token", "x"), ("accepte", "oui")]);
    assert_eq!(r.status, 403);
    let r = web.submit("/conditions", "/conditions", &[]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("cochez la case"), "{}", r.body);
    assert!(r.body.contains("aria-invalid=\"true\""));
    let r = web.submit("/conditions", "/conditions", &[("accepte", "non")]);
    assert_eq!(r.status, 400);
    assert_eq!(journal_actions(&app.store), before, "nothing journaled");
    assert_eq!(count_rows(&app.store, "terms_acceptances"), 0);
    assert_eq!(web.get("/espace").header("location"), Some("/conditions"));

    // Accepted: journaled with the version and digest, then the service opens.
    let r = accept_terms_form(&web);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/espace"));
    let e = last_journal_entry(&app.store);
    assert_eq!(e.action, "account.terms_accepted");
    assert_eq!(
        e.actor.as_deref(),
        Some(format!("user:{}", a.user.id).as_str())
    );
    assert_eq!(e.structure_id.as_deref(), Some(s.id.as_str()));
    let d = details(&e);
    assert_eq!(d["version"], t.version);
    assert_eq!(d["digest"], t.digest());
    {
        let mut conn = app.store.conn().expect("conn");
        let rows = terms::acceptances(&mut conn, &a.user.id).expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].version, t.version);
        assert_eq!(rows[0].digest, t.digest());
        assert_eq!(rows[0].accepted_at, clock.now().naive_utc());
    }
    assert_eq!(web.get("/espace").status, 200);
    assert_eq!(web.get("/gestion").status, 200);
    let page = web.get("/conditions");
    assert!(page.body.contains("Vous avez accepté cette version"));
    assert!(
        !page.body.contains("name=\"accepte\""),
        "no form once accepted"
    );
    // Posting again changes nothing.
    let r = web.post(
        "/conditions",
        &[("csrf_token", &web.csrf("/espace")), ("accepte", "oui")],
    );
    assert_eq!(r.header("location"), Some("/espace"));
    assert_eq!(journal_count(&app.store, "account.terms_accepted", ""), 1);

    // The next login does not ask again.
    let r = web.submit("/espace", "/deconnexion", &[]);
    assert_eq!(r.header("location"), Some("/connexion"));
    let web = Web::new(&app);
    let r = login_steps(&web, &clock, &a);
    assert_eq!(r.header("location"), Some("/espace"));
    assert_eq!(journal_count(&app.store, "account.terms_accepted", ""), 1);
}

#[test]
fn the_aidant_may_log_out_instead_of_accepting() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "S", 2);
    let a = account_before_terms(
        &app.store,
        &clock,
        "a@exemple.fr",
        &[Role::Aidant],
        Some(&s),
    );
    let web = Web::new(&app);
    assert_eq!(
        login_steps(&web, &clock, &a).header("location"),
        Some("/conditions")
    );
    let r = web.submit("/conditions", "/deconnexion", &[]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/connexion"));
    let e = last_journal_entry(&app.store);
    assert_eq!(e.action, "logout");
    assert_eq!(
        e.actor.as_deref(),
        Some(format!("user:{}", a.user.id).as_str())
    );
    assert_eq!(web.get("/espace").header("location"), Some("/connexion"));
    assert_eq!(count_rows(&app.store, "terms_acceptances"), 0);
    // Not logged in, the form is refused.
    let r = web.submit("/connexion", "/conditions", &[("accepte", "oui")]);
    assert_eq!(r.header("location"), Some("/connexion"));
    assert_eq!(count_rows(&app.store, "terms_acceptances"), 0);
}

#[test]
fn anyone_can_read_the_terms_linked_from_the_login_page_and_the_footer() {
    let app = TestApp::spawn();
    let page = get(&app.url("/conditions"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Conditions générales d’utilisation"));
    assert!(page.body.contains("Sanctions"));
    assert!(page.body.contains(terms::current().version));
    assert!(
        !page.body.contains("name=\"accepte\""),
        "no form without a login"
    );
    assert!(!page.body.contains("Vous avez accepté"));
    for path in ["/connexion", "/"] {
        let p = get(&app.url(path));
        assert!(p.body.contains("href=\"/conditions\""), "{path}");
    }
    // Not logged in, posting is a login matter.
    let web = Web::new(&app);
    let r = web.submit("/connexion", "/conditions", &[("accepte", "oui")]);
    assert_eq!(r.header("location"), Some("/connexion"));
    assert_eq!(count_rows(&app.store, "terms_acceptances"), 0);
}

/// A later release with a new version asks every account again; accepting one version
/// is recorded once, with that version's own digest.
#[test]
fn a_new_version_is_accepted_again() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "S", 3);
    let a = member(&app, &clock, "a@exemple.fr", &[Role::Aidant], &s);
    let next = Terms {
        version: "2027-06-01",
        label: "1er juin 2027",
        text: "Une autre version.\n\n## 1. Changement\n\n- Nouveau point.\n",
    };
    let mut conn = app.store.conn().expect("conn");
    assert!(terms::has_accepted(&mut conn, &a.user.id, terms::current()).expect("q"));
    assert!(!terms::has_accepted(&mut conn, &a.user.id, &next).expect("q"));
    // Not ticked: refused, nothing written.
    let before = journal_actions(&app.store).len();
    let refused = terms::accept(&mut conn, clock.now(), &a.user.id, &next, false);
    assert!(refused.is_err());
    assert_eq!(journal_actions(&app.store).len(), before);
    assert!(!terms::has_accepted(&mut conn, &a.user.id, &next).expect("q"));
    // Accepted: its own version and digest.
    assert_eq!(
        terms::accept(&mut conn, clock.now(), &a.user.id, &next, true).expect("accepted"),
        Accepted::Recorded
    );
    assert!(terms::has_accepted(&mut conn, &a.user.id, &next).expect("q"));
    let e = last_journal_entry(&app.store);
    assert_eq!(e.action, "account.terms_accepted");
    assert_eq!(details(&e)["version"], "2027-06-01");
    assert_eq!(details(&e)["digest"], next.digest());
    assert_ne!(next.digest(), terms::current().digest());
    // Once only.
    assert_eq!(
        terms::accept(&mut conn, clock.now(), &a.user.id, &next, true).expect("again"),
        Accepted::Already
    );
    assert_eq!(journal_actions(&app.store).len(), before + 1);
    let versions: Vec<String> = terms::acceptances(&mut conn, &a.user.id)
        .expect("rows")
        .into_iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(versions.len(), 2);
    assert!(versions.contains(&"2027-06-01".to_string()));

    // An account that accepted only an earlier version is asked at its login.
    let b = account_before_terms(
        &app.store,
        &clock,
        "b@exemple.fr",
        &[Role::Aidant],
        Some(&s),
    );
    let old = Terms {
        version: "2025-01-01",
        label: "1er janvier 2025",
        text: "Ancienne version.\n",
    };
    terms::accept(&mut conn, clock.now(), &b.user.id, &old, true).expect("old accepted");
    drop(conn);
    let web = Web::new(&app);
    assert_eq!(
        login_steps(&web, &clock, &b).header("location"),
        Some("/conditions")
    );
    assert_eq!(web.get("/espace").header("location"), Some("/conditions"));
    assert_eq!(accept_terms_form(&web).header("location"), Some("/espace"));
    assert_eq!(web.get("/espace").status, 200);
}

/// An aidant logging in during an authorization request (the demo site) accepts the
/// terms, then comes back to the request and ends it.
#[test]
fn an_openid_interaction_resumes_after_the_terms() {
    let (app, clock) = demo_app();
    let a = demo_account(&app, 0);
    let web = Web::new(&app);
    let r = web.get("/demo/site/connexion");
    let authorize = r.header("location").expect("authorize").to_string();
    let r = web.get(&authorize);
    let interaction = r.header("location").expect("interaction").to_string();
    assert_eq!(web.get(&interaction).header("location"), Some("/connexion"));
    let r = login_steps(&web, &clock, &a);
    assert_eq!(r.header("location"), Some("/conditions"), "{}", r.body);
    // The interaction itself waits for the terms (through the login page).
    let r = web.get(&interaction);
    assert_eq!(r.header("location"), Some("/connexion"));
    assert_eq!(
        web.get("/connexion").header("location"),
        Some("/conditions")
    );
    let r = accept_terms_form(&web);
    assert_eq!(r.header("location"), Some(interaction.as_str()));
    let page = web.get(&interaction);
    assert_eq!(page.status, 200, "{}", page.body);
    let usager = between(&page.body, "name=\"usager\" value=\"", "\"");
    let r = web.submit(
        &interaction,
        &format!("{interaction}/usager"),
        &[("usager", &usager)],
    );
    assert_eq!(r.status, 303);
    let r = web.submit(
        &interaction,
        &format!("{interaction}/demarche"),
        &[("demarche", "social")],
    );
    assert_eq!(r.status, 302);
    let page = web.get(&app.local(r.header("location").expect("callback")));
    assert!(page.body.contains("DUBOIS"), "{}", page.body);
}
