//! Interoperability with a real, independent OpenID provider: panva's `oidc-provider`
//! (npm, installed by scripts/test under tests/interop) plays FranceConnect.

use std::net::TcpListener;

use diesel::prelude::*;
use procura::clock::{Clock, SystemClock};
use procura::crypto::SecretBox;
use procura::domain::roles::Role;
use procura::federation::client::FlowSecrets;
use procura::store::schema::{consent_requests, usagers};

use crate::helpers::*;

/// A service relying on a fresh provider signing with `alg`, and a logged-in aidant.
fn setup(alg: &str) -> (TestApp, FcProvider, Web, Account) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let provider = FcProvider::start(
        &format!("http://127.0.0.1:{port}/franceconnect/callback"),
        alg,
    );
    let env = [
        ("PROCURA_FC_ISSUER", provider.issuer.as_str()),
        ("PROCURA_FC_CLIENT_ID", FC_CLIENT_ID),
        ("PROCURA_FC_CLIENT_SECRET", FC_CLIENT_SECRET),
    ];
    // The provider's tokens carry real times: this service runs on the system clock.
    let app = TestApp::builder().env(&env).listener(listener).spawn();
    let clock = procura::clock::FixedClock::new(SystemClock.now());
    let s = structure(&app.store, &clock, "France Services Interop", 500);
    let a = member(&app, &clock, "interop@exemple.fr", &[Role::Aidant], &s);
    let web = Web::new(&app);
    login_now(&web, &a);
    (app, provider, web, a)
}

/// Starts a creation and follows the provider's redirects; returns the callback path.
fn round_trip(app: &TestApp, web: &Web) -> String {
    let mut fields: Vec<(&str, &str)> = vec![
        ("demarches", "social"),
        ("demarches", "logement"),
        ("duration", "SEMESTER"),
    ];
    let token = web.csrf("/mandats/nouveau");
    fields.push(("csrf_token", &token));
    let r = web.post("/mandats/nouveau", &fields);
    assert_eq!(r.status, 303, "{}", r.body);
    let mut url = r.header("location").expect("authorize URL").to_string();
    for _ in 0..6 {
        if url.starts_with(&app.base) {
            return app.local(&url);
        }
        let r = web.get_abs(&url);
        assert_eq!(r.status, 303, "{url}: {}", r.body);
        url = r.header("location").expect("redirect").to_string();
    }
    panic!("the provider never redirected back: {url}");
}

fn counts(app: &TestApp) -> (i64, i64) {
    let mut conn = app.store.conn().expect("conn");
    let m: i64 = procura::store::schema::mandates::table
        .count()
        .get_result(&mut *conn)
        .expect("m");
    let u: i64 = usagers::table.count().get_result(&mut *conn).expect("u");
    (m, u)
}

fn last_failure(app: &TestApp) -> String {
    let mut conn = app.store.conn().expect("conn");
    let entries = procura::journal::entries_after(&mut conn, 0, 100_000).expect("entries");
    let e = entries
        .iter()
        .rev()
        .find(|e| e.action == "mandate.consent_failed")
        .expect("failure journaled");
    e.details.clone()
}

#[test]
fn the_whole_creation_flow_against_oidc_provider_for_each_algorithm() {
    for alg in ["ES256", "RS256", "HS256"] {
        let (app, provider, web, _) = setup(alg);
        provider.identity(serde_json::json!({
            "sub": format!("fc-interop-{alg}"),
            "given_name": "Jean Pierre Marie",
            "family_name": "MARTIN",
            "birthdate": "1962-00-00",
            "gender": "male",
            "birthplace": "",
            "birthcountry": "99134",
            "email": "jp.martin@exemple.fr"
        }));
        let callback = round_trip(&app, &web);
        let last = provider.last();
        assert_eq!(last["code_challenge_method"], "S256", "{last}");
        assert!(
            last["state"]
                .as_str()
                .map(|s| s.len() >= 16)
                .unwrap_or(false),
            "{last}"
        );
        assert!(
            last["nonce"]
                .as_str()
                .map(|s| s.len() >= 16)
                .unwrap_or(false),
            "{last}"
        );
        assert_eq!(last["acr_values"], "eidas1", "{last}");
        let r = web.get(&callback);
        assert_eq!(r.status, 303, "{alg}: {}", r.body);
        let consent = r.header("location").expect("consent").to_string();
        let page = web.get(&consent);
        assert!(
            page.body.contains("Jean Pierre Marie MARTIN"),
            "{}",
            page.body
        );
        let r = web.submit(&consent, &consent, &[("consent", "oui")]);
        assert_eq!(r.status, 303, "{}", r.body);
        let mut conn = app.store.conn().expect("conn");
        let (birthdate, birthplace, preferred): (String, String, Option<String>) = usagers::table
            .filter(usagers::fc_sub.eq(format!("fc-interop-{alg}")))
            .select((
                usagers::birthdate,
                usagers::birthplace,
                usagers::preferred_username,
            ))
            .first(&mut *conn)
            .expect("usager");
        assert_eq!(
            (birthdate.as_str(), birthplace.as_str(), preferred),
            ("1962-00-00", "", None)
        );
    }
}

#[test]
fn a_bad_signature_creates_nothing() {
    let (app, provider, web, _) = setup("ES256");
    provider.mode("bad-keys");
    let before = counts(&app);
    let callback = round_trip(&app, &web);
    let r = web.get(&callback);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("signature"), "{}", r.body);
    assert_eq!(counts(&app), before);
    assert!(last_failure(&app).contains("bad_signature"));
}

#[test]
fn a_wrong_nonce_creates_nothing() {
    let (app, _provider, web, _) = setup("RS256");
    let before = counts(&app);
    let callback = round_trip(&app, &web);
    // Change the nonce Procura remembers for this request (as if the id_token had been
    // issued for another request): the check must refuse the id_token.
    {
        let mut conn = app.store.conn().expect("conn");
        let (id, sealed): (String, String) = consent_requests::table
            .filter(consent_requests::status.eq("pending_fc"))
            .select((consent_requests::id, consent_requests::secrets_enc))
            .first(&mut *conn)
            .expect("request");
        let b = SecretBox::new(Some(TEST_KEY));
        let ctx = format!("consent:{id}");
        let mut flow: FlowSecrets =
            serde_json::from_slice(&b.open(&ctx, &sealed).expect("open")).expect("json");
        flow.nonce = "another-nonce-entirely".into();
        let resealed = b
            .seal(&ctx, serde_json::to_string(&flow).expect("json").as_bytes())
            .expect("seal");
        diesel::update(consent_requests::table.filter(consent_requests::id.eq(&id)))
            .set(consent_requests::secrets_enc.eq(resealed))
            .execute(&mut *conn)
            .expect("update");
    }
    let r = web.get(&callback);
    assert_eq!(r.status, 400);
    assert_eq!(counts(&app), before);
    assert!(last_failure(&app).contains("nonce_mismatch"));
}

#[test]
fn a_replayed_state_creates_nothing() {
    let (app, _provider, web, _) = setup("HS256");
    let callback = round_trip(&app, &web);
    assert_eq!(web.get(&callback).status, 303);
    let before = counts(&app);
    let r = web.get(&callback);
    assert_eq!(r.status, 400);
    assert_eq!(counts(&app), before);
    assert!(last_failure(&app).contains("replayed_state"));
}

#[test]
fn the_person_cancelling_creates_nothing() {
    let (app, provider, web, _) = setup("ES256");
    provider.mode("deny");
    let before = counts(&app);
    let callback = round_trip(&app, &web);
    assert!(callback.contains("error=access_denied"), "{callback}");
    let r = web.get(&callback);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("annulée"));
    assert_eq!(counts(&app), before);
    assert!(last_failure(&app).contains("access_denied"));
}

#[test]
fn a_response_naming_another_issuer_creates_nothing() {
    let (app, _provider, web, _) = setup("ES256");
    let before = counts(&app);
    let callback = round_trip(&app, &web);
    assert!(
        callback.contains("iss="),
        "oidc-provider sends iss (RFC 9207): {callback}"
    );
    let forged = url::Url::parse(&format!("{}{}", app.base, callback)).expect("url");
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                "https://evil.example.com".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let r = web.get(&format!("{}?{q}", forged.path()));
    assert_eq!(r.status, 400);
    assert_eq!(counts(&app), before);
    assert!(last_failure(&app).contains("issuer_mismatch"));
}
