//! Interoperability with a real, independent OpenID provider: panva's `oidc-provider`
//! (npm, installed by scripts/test under tests/interop) plays FranceConnect.

use std::net::TcpListener;

use diesel::prelude::*;
use procura::clock::{Clock, SystemClock};
use procura::crypto::SecretBox;
use procura::domain::roles::Role;
use procura::federation::client::FlowSecrets;
use procura::store::schema::{consent_requests, usagers};

use crate::helpers::fc;
use crate::helpers::*;

/// A service relying on a fresh provider signing with `alg`, and a logged-in aidant.
fn setup(alg: &str) -> (TestApp, FcProvider, Web, Account) {
    setup_with(alg, true)
}

/// As [`setup`], with or without RP-initiated logout at the provider.
fn setup_with(alg: &str, end_session: bool) -> (TestApp, FcProvider, Web, Account) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let callback = format!("http://127.0.0.1:{port}/franceconnect/callback");
    let provider = if end_session {
        FcProvider::start(
            &callback,
            &format!("http://127.0.0.1:{port}/franceconnect/deconnexion"),
            alg,
        )
    } else {
        FcProvider::without_end_session(&callback, alg)
    };
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
        let end_session = r.header("location").expect("end_session").to_string();
        assert!(
            end_session.starts_with(&format!("{}/session/end?", provider.issuer)),
            "{end_session}"
        );
        let consent = fc::through_sign_out(&app, &web, &end_session);
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
    // Back to the form with the choices, saying the link was used.
    assert_eq!(r.status, 303);
    assert!(r
        .header("location")
        .unwrap_or_default()
        .contains("motif=deja-utilise"));
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
    assert_eq!(r.status, 303);
    let form = web.get(r.header("location").expect("back to the form"));
    assert!(form.body.contains("annulé la connexion"), "{}", form.body);
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

#[test]
fn the_person_is_signed_out_through_the_providers_confirmation_form() {
    let (app, provider, web, _) = setup("ES256");
    provider.identity(serde_json::json!({
        "sub": "fc-interop-logout",
        "given_name": "Lucie",
        "family_name": "FONTAINE",
        "birthdate": "1990-04-12",
        "gender": "female",
        "birthplace": "13055",
        "birthcountry": "99100"
    }));
    let callback = round_trip(&app, &web);
    let r = web.get(&callback);
    assert_eq!(r.status, 303, "{}", r.body);
    let end_session = r.header("location").expect("end_session").to_string();
    assert!(
        end_session.starts_with(&format!("{}/session/end?", provider.issuer)),
        "{end_session}"
    );
    // The hint is the id_token the provider issued: its signature verifies with the
    // provider's keys and it names the person and Procura.
    let hint = query_param(&end_session, "id_token_hint").expect("id_token_hint");
    let claims = fc::verified_es256(&format!("{}/jwks", provider.issuer), &hint)
        .expect("signed by the provider");
    assert_eq!(claims["iss"], provider.issuer.as_str());
    assert_eq!(claims["aud"], FC_CLIENT_ID);
    assert_eq!(claims["sub"], "fc-interop-logout");
    assert_eq!(
        query_param(&end_session, "post_logout_redirect_uri").as_deref(),
        Some(app.url("/franceconnect/deconnexion").as_str())
    );
    let state = query_param(&end_session, "state").expect("state");
    // oidc-provider asks the person to confirm with a form to POST; without it, no way back.
    let page = web.get_abs(&end_session);
    assert_eq!(page.status, 200, "{}", page.body);
    let (action, fields) = form_submission(&page.body, "yes").expect("confirmation form");
    assert_eq!(action, format!("{}/session/end/confirm", provider.issuer));
    assert!(fields.iter().any(|(k, v)| k == "xsrf" && !v.is_empty()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = web.post_abs(&action, &fields);
    assert_eq!(r.status, 303, "{}", r.body);
    let back = r.header("location").expect("back").to_string();
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(state.as_str()),
        "{back}"
    );
    assert!(back.starts_with(&app.url("/franceconnect/deconnexion?")));
    let r = web.get(&app.local(&back));
    assert_eq!(r.status, 303, "{}", r.body);
    let consent = r.header("location").expect("consent").to_string();
    assert!(consent.starts_with("/mandats/consentement/"), "{consent}");
    let before = counts(&app);
    let r = web.submit(&consent, &consent, &[("consent", "oui")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(counts(&app).0, before.0 + 1);
}

#[test]
fn without_end_session_the_callback_goes_straight_to_consent() {
    let (app, _provider, web, _) = setup_with("ES256", false);
    let callback = round_trip(&app, &web);
    let r = web.get(&callback);
    assert_eq!(r.status, 303, "{}", r.body);
    let consent = r.header("location").expect("consent").to_string();
    assert!(consent.starts_with("/mandats/consentement/"), "{consent}");
    assert_eq!(web.get(&consent).status, 200);
    assert!(fc::sessions_data(&app.store)
        .iter()
        .all(|d| !d.contains("fc_sign_out")));
}
