//! Security review of the HTTP/domain seam rewrite (commits since 692d8ea). Each test
//! names a defect the rewrite introduced and fails until it is fixed, except those
//! marked "guard:", which pin a property checked during the review.

use chrono::Duration;
use procura::clock::FixedClock;
use procura::domain::mandate::MandateDuration;
use procura::store::Store;

use crate::helpers::oidc::{authorize_path, new_req, world, World};
use crate::helpers::*;

/// A mandate (social) in `s` for a usager named `given` `family`, created directly.
fn usager_named(
    store: &Store,
    clock: &FixedClock,
    aidant: &Account,
    s: &procura::accounts::structures::Structure,
    sub: &str,
    given: &str,
    family: &str,
) -> String {
    let mut id = identity(sub);
    id.given_name = given.into();
    id.family_name = family.into();
    let month = MandateDuration::Month;
    seed_mandate_for(store, clock, aidant, s, &id, &["social"], month)
        .mandate
        .usager_id
}

/// An interaction of the world's client with its usager chosen: its path and the CSRF
/// token of its page.
fn usager_chosen(w: &World) -> (String, String) {
    let r = w
        .web
        .get(&authorize_path(&w.rp, &new_req(), "openid profile", &[]));
    assert_eq!(r.status, 303, "{}", r.body);
    let interaction = r.header("location").expect("interaction").to_string();
    let r = w.web.submit(
        &interaction,
        &format!("{interaction}/usager"),
        &[("usager", &w.usager_id)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let token = w.web.csrf(&interaction);
    (interaction, token)
}

/// Posts the démarche "social" to `interaction` with `token`.
fn choose_social(w: &World, interaction: &str, token: &str) -> Resp {
    w.web.post(
        &format!("{interaction}/demarche"),
        &[("demarche", "social"), ("csrf_token", token)],
    )
}

/// A structure with a logged-in aidant-manager and two usagers with active mandates.
fn home_world() -> (TestApp, FixedClock, Web, String, String) {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "France Services Recherche", 700);
    let a = member(&app, &clock, "recherche@exemple.fr", AIDANT_AND_MANAGER, &s);
    let angela = usager_named(
        &app.store,
        &clock,
        &a,
        &s,
        "sub-angela",
        "Angela Claire Louise",
        "DUBOIS",
    );
    let eloise = usager_named(&app.store, &clock, &a, &s, "sub-eloise", "Éloïse", "LÉGER");
    let web = logged_in(&app, &clock, &a);
    (app, clock, web, angela, eloise)
}

fn search_home(web: &Web, q: &str) -> Resp {
    let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let r = web.get(&format!("/espace?q={q}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

/// Regression: before the rewrite the search matched the name as displayed ("given
/// family"); `mandates::active_usagers` now matches each column alone, so typing the
/// full name shown on the page finds nobody (home page and the OpenID chooser alike).
#[test]
fn review_usager_search_matches_the_displayed_full_name() {
    let (_app, _clock, web, angela, _) = home_world();
    // guard: the SQL LIKE wildcards are escaped, a lone % matches nobody.
    assert!(!search_home(&web, "%").body.contains(&angela));
    assert!(!search_home(&web, "_").body.contains(&angela));
    // One column: found.
    assert!(search_home(&web, "dubois").body.contains(&angela));
    // The name as the page displays it: must be found too.
    let r = search_home(&web, "Louise DUBOIS");
    assert!(
        r.body.contains(&angela),
        "searching the displayed name \"Louise DUBOIS\" does not find the usager"
    );
    let r = search_home(&web, "Angela Claire Louise DUBOIS");
    assert!(r.body.contains(&angela), "full displayed name not found");
}

/// Regression (SQLite): the needle is lowercased by Rust (Unicode) but the column by
/// SQL `lower()`, which on SQLite folds ASCII only: "LÉGER" (as FranceConnect returns
/// family names) is never found, whatever the aidant types, even the exact name.
/// (PostgreSQL folds accents in `lower()`: this one fails on the SQLite pass.)
#[test]
fn review_usager_search_folds_accented_capitals() {
    let (_app, _clock, web, _, eloise) = home_world();
    for q in ["LÉGER", "léger", "Éloïse"] {
        let r = search_home(&web, q);
        assert!(
            r.body.contains(&eloise),
            "search {q:?} does not find LÉGER Éloïse"
        );
    }
}

/// Regression (PostgreSQL): filters and searches moved from Rust into SQL take the raw
/// query string; a NUL character reaches PostgreSQL, which refuses it ("invalid byte
/// sequence"), and the page answers 500 instead of a clear 400 (bad input of every kind
/// gets a 4xx, SPEC §5). SQLite accepts the NUL, so this fails on the PostgreSQL pass.
#[test]
fn review_nul_in_search_and_list_filters_is_a_4xx() {
    let (app, _clock, web, _, _) = home_world();
    for path in ["/espace?q=a%00b", "/gestion/mandats?aidant=a%00b"] {
        let r = web.get(path);
        assert!(r.status < 500, "{path}: {} {}", r.status, r.body);
    }
    // The OpenID chooser's search, on a pending interaction.
    let w = world(&[]);
    let r = w
        .web
        .get(&authorize_path(&w.rp, &new_req(), "openid profile", &[]));
    assert_eq!(r.status, 303, "{}", r.body);
    let interaction = r.header("location").expect("interaction").to_string();
    let r = w.web.get(&format!("{interaction}?q=a%00b"));
    assert!(r.status < 500, "chooser search: {} {}", r.status, r.body);
    drop(app);
}

/// The manager's list parses `avant` into any time chrono can hold; a page key far in
/// the past is bound as a timestamp PostgreSQL cannot store (500 there) and on SQLite
/// silently gives an empty page. A key outside the range of real creation times is
/// malformed input: 400, as for any other bad `avant`.
#[test]
fn review_manager_list_out_of_range_page_key_is_400() {
    let (_app, _clock, web, _, _) = home_world();
    // guard: a key that does not parse is already a 400.
    assert_eq!(web.get("/gestion/mandats?avant=nope").status, 400);
    let r = web.get("/gestion/mandats?avant=-8000000000000000000~x");
    assert_eq!(r.status, 400, "{}", r.body);
}

/// guard: an idle session cannot act in the OpenID flow, whose use cases resolve the
/// session themselves (`resolve_read`) now that expired rows stay until housekeeping.
#[test]
fn review_idle_session_cannot_issue_a_code() {
    let w = world(&[]);
    let (interaction, token) = usager_chosen(&w);
    let codes = crate::helpers::oidc::issued_codes(&w);
    w.clock.advance(Duration::minutes(31));
    let r = choose_social(&w, &interaction, &token);
    assert_ne!(
        r.status,
        302,
        "an idle session issued a code: {:?}",
        r.header("location")
    );
    assert_eq!(crate::helpers::oidc::issued_codes(&w), codes);
}

/// guard: a deactivated aidant's open session ends and cannot finish a pending
/// interaction (the flow resolves the session without `Ctx`).
#[test]
fn review_deactivated_aidant_cannot_issue_a_code() {
    let w = world(&[]);
    let (interaction, token) = usager_chosen(&w);
    w.deactivate_aidant();
    let r = choose_social(&w, &interaction, &token);
    assert_ne!(r.status, 302, "a deactivated account issued a code");
    assert_eq!(crate::helpers::oidc::issued_codes(&w), 0);
}

/// guard: the enrolment secret, now derived from the master key and the link, differs
/// from one link to the next (a reset or a new link never shows a secret seen before).
#[test]
fn review_enrolment_secret_differs_per_link() {
    let (app, clock) = app_with_clock(&[]);
    let enrolment = "France Services Enrôlement";
    let web = new_manager(&app, &clock, enrolment, 710, "resp.enrol@exemple.fr");
    let r = add_aidant(&web, "nouvel.aidant@exemple.fr", "Nouvel Aidant");
    assert_eq!(r.status, 200, "{}", r.body);
    let link1 = between(&r.body, "/activation/", "\"");
    let anon = Web::new(&app);
    let secret_of = |link: &str| {
        let p = anon.get(&format!("/activation/{}", link.trim()));
        assert_eq!(p.status, 200, "{}", p.body);
        p.body.clone()
    };
    let page1 = secret_of(&link1);
    let uid = {
        let mut conn = app.store.conn().expect("conn");
        procura::accounts::users::find_by_email(&mut conn, "nouvel.aidant@exemple.fr")
            .expect("q")
            .expect("u")
            .id
    };
    let r = web.submit(
        &format!("/gestion/comptes/{uid}/second-facteur"),
        &format!("/gestion/comptes/{uid}/second-facteur"),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let link2 = between(&r.body, "/activation/", "\"");
    assert_ne!(link1, link2);
    let page2 = secret_of(&link2);
    let b32 = |p: &str| between(p, "id=\"totp-secret\">", "</code>");
    assert_ne!(
        b32(&page1),
        b32(&page2),
        "two links showed the same TOTP secret"
    );
}
