//! The aidant's space (`/espace`): switching between the structures one belongs to.

use chrono::Duration;
use procura::domain::mandate::MandateDuration;
use procura::domain::roles::Role;

use crate::helpers::fc::*;
use crate::helpers::*;

#[test]
fn switching_structure_is_journaled_and_limited_to_memberships() {
    let (app, clock) = app_with_clock(&[]);
    let s1 = structure(&app.store, &clock, "Première", 15);
    let s2 = structure(&app.store, &clock, "Seconde", 16);
    let s3 = structure(&app.store, &clock, "Étrangère", 17);
    let a = member(&app, &clock, "a@exemple.fr", &[Role::Aidant], &s1);
    add_membership(&app.store, &a.user.id, &s2.id);
    let web = logged_in(&app, &clock, &a);
    let home = web.get("/espace");
    assert!(home.body.contains("Structure actuelle : Première"));
    assert_eq!(
        web.submit("/espace", "/espace/structure", &[("structure", &s2.id)])
            .status,
        303
    );
    assert!(web
        .get("/espace")
        .body
        .contains("Structure actuelle : Seconde"));
    let r = web.submit("/espace", "/espace/structure", &[("structure", &s3.id)]);
    assert_eq!(r.status, 404, "not a member");
    assert!(web
        .get("/espace")
        .body
        .contains("Structure actuelle : Seconde"));
    // Switching to the structure one already works for changes nothing.
    let r = web.submit("/espace", "/espace/structure", &[("structure", &s2.id)]);
    assert_eq!(r.status, 303);
    let actions = journal_actions(&app.store);
    assert_eq!(count_of(&actions, "account.structure_switched"), 1);
}

#[test]
fn switching_structure_during_creation_voids_the_consent() {
    let (app, clock) = demo_app();
    let (a, web) = aidant_of(&app, &clock, 14, "a14@exemple.fr");
    let other = structure(&app.store, &clock, "Autre structure", 214);
    add_membership(&app.store, &a.user.id, &other.id);
    let consent = to_consent(&app, &web, &["social"], "SHORT", "0");
    assert_eq!(
        web.submit("/espace", "/espace/structure", &[("structure", &other.id)])
            .status,
        303
    );
    let before = count_rows(&app.store, "mandates");
    let page = web.get(&consent);
    assert_eq!(page.status, 400, "the page would name another structure");
    assert_eq!(
        web.submit("/espace", &consent, &[("consent", "oui")])
            .status,
        400
    );
    assert_eq!(count_rows(&app.store, "mandates"), before);
}

/// The home's tabs list expired and revoked mandates, and the search finds every person
/// of the structure whatever the state of their mandates, never another structure's.
#[test]
fn space_tabs_and_search_keep_people_whose_mandate_ended() {
    let (app, clock) = app_with_clock(&[]);
    let s1 = structure(&app.store, &clock, "Première", 31);
    let s2 = structure(&app.store, &clock, "Seconde", 32);
    let a = member(&app, &clock, "a@exemple.fr", &[Role::Aidant], &s1);
    let b = member(&app, &clock, "b@exemple.fr", &[Role::Aidant], &s2);
    let short = MandateDuration::Short;
    let month = MandateDuration::Month;
    let emile = person_named("sub-emile", "Emile", "ANCIEN");
    let expired = seed_mandate_for(&app.store, &clock, &a, &s1, &emile, &["social"], short);
    let elsewhere = person_named("sub-oscar", "Oscar", "ANCIEN");
    seed_mandate_for(&app.store, &clock, &b, &s2, &elsewhere, &["social"], short);
    clock.advance(Duration::days(2));
    let anne = person_named("sub-anne", "Anne", "ACTUELLE");
    seed_mandate_for(&app.store, &clock, &a, &s1, &anne, &["social"], month);
    let remi = person_named("sub-remi", "Remi", "RETIRE");
    let revoked = seed_mandate_for(&app.store, &clock, &a, &s1, &remi, &["social"], month);
    revoke_seeded(&app.store, &clock, &s1, &revoked.mandate.id);
    let web = logged_in(&app, &clock, &a);

    let renew = |id: &str| format!("/mandats/nouveau?renouveler={id}");
    let home = web.get("/espace");
    assert!(home.body.contains("Anne ACTUELLE"), "{}", home.body);
    assert!(!home.body.contains("Emile ANCIEN"));
    assert!(!home.body.contains("Remi RETIRE"));
    assert!(home
        .body
        .contains("href=\"/espace?onglet=actifs#usagers\" aria-current=\"page\""));

    let tab = web.get("/espace?onglet=expires");
    assert_eq!(tab.status, 200);
    assert!(tab.body.contains("Emile ANCIEN"), "{}", tab.body);
    assert!(tab.body.contains(&renew(&expired.mandate.id)));
    assert!(tab
        .body
        .contains(&format!("/usagers/{}", expired.mandate.usager_id)));
    assert!(tab
        .body
        .contains("href=\"/espace?onglet=expires#usagers\" aria-current=\"page\""));
    assert!(!tab.body.contains("Anne ACTUELLE"));
    assert!(!tab.body.contains("Remi RETIRE"));
    assert!(!tab.body.contains("Oscar"), "another structure's person");

    let tab = web.get("/espace?onglet=revoques");
    assert!(tab.body.contains("Remi RETIRE"), "{}", tab.body);
    assert!(!tab.body.contains("Emile ANCIEN"));
    assert!(!tab.body.contains("Anne ACTUELLE"));

    // A bad tab is the default one, without an error.
    let bad = web.get("/espace?onglet=%3Cx%3E");
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("Anne ACTUELLE"));
    assert!(bad
        .body
        .contains("href=\"/espace?onglet=actifs#usagers\" aria-current=\"page\""));

    // The search covers every state, case-insensitively, in this structure only.
    let found = web.get("/espace?q=ancien");
    assert!(found.body.contains("Emile ANCIEN"), "{}", found.body);
    assert!(found.body.contains(&renew(&expired.mandate.id)));
    assert!(!found.body.contains("Oscar"), "another structure's person");
    assert!(!found.body.contains("Anne ACTUELLE"));
    let found = web.get("/espace?q=remi");
    assert!(found.body.contains("Remi RETIRE"));
    assert!(web.get("/espace?q=oscar").body.contains("Aucun mandat"));
}

/// Logged-in pages carry a main navigation by role, the current section marked, after
/// the skip link; a visitor's pages have none.
#[test]
fn main_navigation_follows_roles_and_marks_the_current_section() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "Navigation", 33);
    let a = member(&app, &clock, "a@exemple.fr", &[Role::Aidant], &s);
    let m = member(&app, &clock, "m@exemple.fr", &[Role::Manager], &s);
    let nav = |href: &str, current: bool| {
        format!(
            "class=\"fr-nav__link\" href=\"{href}\"{}",
            if current {
                " aria-current=\"page\""
            } else {
                ">"
            }
        )
    };
    let anonymous = Web::new(&app).get("/connexion");
    assert!(!anonymous.body.contains("Menu principal"));

    let web = logged_in(&app, &clock, &a);
    let home = web.get("/espace");
    assert!(home.body.contains(&nav("/espace", true)), "{}", home.body);
    assert!(home.body.contains(&nav("/mandats/nouveau", false)));
    assert!(!home.body.contains("href=\"/gestion\""));
    assert!(!home.body.contains("class=\"fr-nav__link\" href=\"/audit\""));
    let skip = home.body.find("Aller au contenu").expect("skip link");
    assert!(skip < home.body.find("Menu principal").expect("nav"));
    let new = web.get("/mandats/nouveau");
    assert!(
        new.body.contains(&nav("/mandats/nouveau", true)),
        "{}",
        new.body
    );
    assert!(new.body.contains(&nav("/espace", false)));

    let web = logged_in(&app, &clock, &m);
    let page = web.get("/gestion");
    assert!(page.body.contains(&nav("/gestion", true)), "{}", page.body);
    assert!(!page.body.contains(&nav("/mandats/nouveau", false)));
    let page = web.get("/gestion/mandats");
    assert!(page.body.contains(&nav("/gestion", true)));
}
