//! Demo mode (`serve --demo`): seeded accounts and usager, the demo relying site.

use diesel::prelude::*;
use procura::store::schema::mandates as mandates_t;

use crate::helpers::fc::*;
use crate::helpers::*;

#[test]
fn the_demo_seeds_a_usager_with_an_active_mandate() {
    let (app, _clock) = demo_app();
    let mut conn = app.store.conn().expect("conn");
    let u = usager_by_sub(&app.store, "demo-fc-angela").expect("seeded usager");
    let n: i64 = mandates_t::table
        .filter(mandates_t::usager_id.eq(&u.id))
        .count()
        .get_result(&mut *conn)
        .expect("n");
    assert_eq!(n, 1);
    drop(conn);
    // The demo aidant sees her on the home page.
    let a = demo_account(&app, 0);
    let web = Web::new(&app);
    assert_eq!(login(&web, &_clock, &a).status, 303);
    assert!(web.get("/espace").body.contains("DUBOIS"));
}

#[test]
fn the_demo_site_acts_on_behalf_of_the_seeded_usager() {
    let (app, clock) = demo_app();
    let a = demo_account(&app, 0);
    let web = logged_in(&app, &clock, &a);
    assert_eq!(web.get("/demo/site").status, 200);
    let r = web.get("/demo/site/connexion");
    assert_eq!(r.status, 303);
    let authorize = r.header("location").expect("authorize").to_string();
    let r = web.get(&authorize);
    let interaction = r.header("location").expect("interaction").to_string();
    let page = web.get(&interaction);
    let usager = between(&page.body, "name=\"usager\" value=\"", "\"");
    assert_eq!(
        web.submit(
            &interaction,
            &format!("{interaction}/usager"),
            &[("usager", &usager)]
        )
        .status,
        303
    );
    let r = web.submit(
        &interaction,
        &format!("{interaction}/demarche"),
        &[("demarche", "social")],
    );
    assert_eq!(r.status, 302);
    let back = app.local(r.header("location").expect("callback"));
    let page = web.get(&back);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("DUBOIS") && page.body.contains("act.sub"),
        "{}",
        page.body
    );
}

/// Started logged out, the demo site's flow survives the aidant's login (password and
/// code): the first try ends on the identity, not on "Réponse inattendue (state)".
#[test]
fn the_demo_site_keeps_its_flow_across_the_aidants_login() {
    let (app, clock) = demo_app();
    let a = demo_account(&app, 0);
    let web = Web::new(&app);
    assert_eq!(web.get("/demo/site").status, 200);
    let r = web.get("/demo/site/connexion");
    assert_eq!(r.status, 303);
    let authorize = r.header("location").expect("authorize").to_string();
    let r = web.get(&authorize);
    let interaction = r.header("location").expect("interaction").to_string();
    let r = web.get(&interaction);
    assert_eq!(r.header("location"), Some("/connexion"), "login first");
    // The login changes the session (a new id): the flow must not depend on it.
    let before = web.session_cookie();
    let r = login(&web, &clock, &a);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_ne!(web.session_cookie(), before, "the session changed at login");
    // Back to the authorization request, now logged in.
    let page = web.get(&interaction);
    assert_eq!(page.status, 200, "{interaction}: {}", page.body);
    let usager = between(&page.body, "name=\"usager\" value=\"", "\"");
    assert_eq!(
        web.submit(
            &interaction,
            &format!("{interaction}/usager"),
            &[("usager", &usager)]
        )
        .status,
        303
    );
    let r = web.submit(
        &interaction,
        &format!("{interaction}/demarche"),
        &[("demarche", "social")],
    );
    assert_eq!(r.status, 302);
    let back = app.local(r.header("location").expect("callback"));
    let page = web.get(&back);
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Réponse inattendue"), "{}", page.body);
    assert!(
        page.body.contains("DUBOIS") && page.body.contains("act.sub"),
        "{}",
        page.body
    );
    // The flow is used once: the same answer again is refused.
    let again = web.get(&back);
    assert!(
        again.body.contains("Réponse inattendue (state)"),
        "{}",
        again.body
    );
}
