//! The aidant's space (`/espace`): switching between the structures one belongs to.

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
