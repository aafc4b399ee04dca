//! Mandate creation through FranceConnect, played by the demo's simulator over real HTTP:
//! starting a creation, the simulator's form, the consent page; reading mandates back.

use diesel::prelude::*;
use procura::clock::{Clock, FixedClock};
use procura::mandates::{self, Usager};
use procura::store::schema::{mandates as mandates_t, usagers};
use procura::store::Store;

use super::app::TestApp;
use super::http::{csrf_in, query_param, Resp, Web};

/// Starts a creation: the response redirects to the simulator's authorization URL.
pub fn start(web: &Web, demarches: &[&str], duration: &str) -> Resp {
    let mut fields: Vec<(&str, &str)> = demarches.iter().map(|d| ("demarches", *d)).collect();
    fields.push(("duration", duration));
    web.submit("/mandats/nouveau", "/mandats/nouveau", &fields)
}

/// Goes through the simulator choosing `identity` (or cancelling); returns the callback URL.
pub fn simulator(
    app: &TestApp,
    web: &Web,
    authorize_url: &str,
    identity: &str,
    action: &str,
) -> String {
    let path = app.local(authorize_url);
    let page = web.get(&path);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Simulateur FranceConnect"));
    let names = [
        "client_id",
        "redirect_uri",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    ];
    let values: Vec<String> = names
        .iter()
        .map(|n| query_param(authorize_url, n).unwrap_or_default())
        .collect();
    let mut fields: Vec<(&str, &str)> = names
        .iter()
        .zip(values.iter())
        .map(|(n, v)| (*n, v.as_str()))
        .collect();
    fields.push(("identity", identity));
    fields.push(("action", action));
    let csrf = csrf_in(&page.body).expect("csrf");
    fields.push(("csrf_token", &csrf));
    let r = web.post("/demo/franceconnect/authorize", &fields);
    assert_eq!(r.status, 303, "{}", r.body);
    r.header("location").expect("redirect").to_string()
}

/// Starts a creation and goes through the simulator as `identity`: the consent page's path.
pub fn to_consent(
    app: &TestApp,
    web: &Web,
    demarches: &[&str],
    duration: &str,
    identity: &str,
) -> String {
    let r = start(web, demarches, duration);
    assert_eq!(r.status, 303, "{}", r.body);
    let callback = simulator(
        app,
        web,
        r.header("location").expect("location"),
        identity,
        "connexion",
    );
    let r = web.get(&app.local(&callback));
    assert_eq!(r.status, 303, "callback: {}", r.body);
    let consent = r.header("location").expect("consent page").to_string();
    assert!(consent.starts_with("/mandats/consentement/"), "{consent}");
    consent
}

/// Creates a mandate end to end; returns its id.
pub fn create(
    app: &TestApp,
    web: &Web,
    demarches: &[&str],
    duration: &str,
    identity: &str,
) -> String {
    let consent = to_consent(app, web, demarches, duration, identity);
    let page = web.get(&consent);
    assert_eq!(page.status, 200);
    let r = web.submit(&consent, &consent, &[("consent", "oui")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let att = r.header("location").expect("attestation").to_string();
    att.trim_start_matches("/mandats/")
        .trim_end_matches("/attestation")
        .to_string()
}

/// The usager FranceConnect knows as `sub`, if any.
pub fn usager_by_sub(store: &Store, sub: &str) -> Option<Usager> {
    let mut conn = store.conn().expect("conn");
    usagers::table
        .filter(usagers::fc_sub.eq(sub))
        .select(Usager::as_select())
        .first(&mut *conn)
        .optional()
        .expect("query")
}

/// Each authorisation of a mandate with its state at the clock's time.
pub fn auth_states(
    store: &Store,
    mandate_id: &str,
    now: &FixedClock,
) -> Vec<(String, &'static str)> {
    let mut conn = store.conn().expect("conn");
    let (sid,): (String,) = mandates_t::table
        .filter(mandates_t::id.eq(mandate_id))
        .select((mandates_t::structure_id,))
        .first(&mut *conn)
        .expect("mandate");
    let v = mandates::mandate_in(&mut conn, now.now(), &sid, mandate_id)
        .expect("q")
        .expect("exists");
    v.authorisations
        .iter()
        .map(|(a, s)| (a.demarche.clone(), s.code()))
        .collect()
}
