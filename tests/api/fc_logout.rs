//! Signing the person out of FranceConnect after the identity check
//! (`/franceconnect/callback` → end_session → `/franceconnect/deconnexion` → consent), and
//! the demo simulator's end_session endpoint.

use crate::helpers::fc::*;
use crate::helpers::*;

/// The callback of a creation for `identity` through the simulator: the redirect it
/// answers, and the simulator's authorization URL (to show its page again).
fn to_sign_out(app: &TestApp, web: &Web, identity: &str) -> (String, String) {
    let r = start(web, &["social"], "SHORT");
    assert_eq!(r.status, 303, "{}", r.body);
    let authorize = r.header("location").expect("authorize").to_string();
    let callback = simulator(app, web, &authorize, identity, "connexion");
    let r = web.get(&app.local(&callback));
    assert_eq!(r.status, 303, "callback: {}", r.body);
    (
        r.header("location").expect("redirect").to_string(),
        authorize,
    )
}

/// Follows one redirect expected to answer 303; returns its location.
fn redirected(app: &TestApp, web: &Web, url: &str) -> String {
    let r = web.get(&app.local(url));
    assert_eq!(r.status, 303, "{url}: {}", r.body);
    r.header("location").expect("redirect").to_string()
}

/// `url` with its query parameter `name` replaced by `value` (removed when None).
fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let mut u = url::Url::parse(url).expect("url");
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .chain(value.map(|v| (name.to_string(), v.to_string())))
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

#[test]
fn after_the_identity_check_the_person_is_signed_out_then_consents() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 1, "deconnexion@exemple.fr");
    let (end_session, authorize) = to_sign_out(&app, &web, "1");
    // The browser goes to the simulator's end_session with the id_token it just issued.
    assert!(
        end_session.starts_with(&app.url("/demo/franceconnect/logout?")),
        "{end_session}"
    );
    let hint = query_param(&end_session, "id_token_hint").expect("id_token_hint");
    let claims = verified_es256(&app.url("/demo/franceconnect/jwks"), &hint)
        .expect("the hint is an id_token signed by the simulator");
    assert_eq!(claims["iss"], app.url("/demo/franceconnect"));
    assert_eq!(claims["aud"], serde_json::json!(["procura-demo"]));
    assert_eq!(claims["sub"], "demo-fc-karim");
    assert_eq!(
        query_param(&end_session, "post_logout_redirect_uri").as_deref(),
        Some(app.url("/franceconnect/deconnexion").as_str())
    );
    let state = query_param(&end_session, "state").expect("state");
    assert!(state.len() >= 32, "{state}");
    // The raw id_token and state are kept nowhere: not in the journal, not in the session.
    let stored = sessions_data(&app.store).join(" ");
    assert!(stored.contains("fc_sign_out"), "{stored}");
    for secret in [&hint, &state] {
        assert!(!journal_mentions(&app.store, secret) && !stored.contains(secret.as_str()));
    }
    // Until then, the simulator shows the person still signed in in this browser.
    let page = web.get(&app.local(&authorize));
    assert!(page.body.contains("id=\"fc-signed-in\""), "{}", page.body);
    assert!(page.body.contains("Karim BELKACEM"));

    let back = redirected(&app, &web, &end_session);
    assert_eq!(
        back,
        format!(
            "{}?state={}",
            app.url("/franceconnect/deconnexion"),
            url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
        )
    );
    let page = web.get(&app.local(&authorize));
    assert!(
        !page.body.contains("fc-signed-in"),
        "the simulated sign-in is forgotten"
    );
    let consent = redirected(&app, &web, &back);
    assert!(consent.starts_with("/mandats/consentement/"), "{consent}");
    let before = count_rows(&app.store, "mandates");
    assert!(web.get(&consent).body.contains("Karim BELKACEM"));
    let r = web.submit(&consent, &consent, &[("consent", "oui")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r
        .header("location")
        .is_some_and(|l| l.ends_with("/attestation")));
    assert_eq!(count_rows(&app.store, "mandates"), before + 1);
    // The way back is single use.
    let r = web.get(&app.local(&back));
    assert_eq!(r.status, 400);
}

#[test]
fn a_wrong_or_missing_state_on_the_way_back_changes_nothing() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 2, "etat@exemple.fr");
    let (end_session, _) = to_sign_out(&app, &web, "0");
    let back = redirected(&app, &web, &end_session);
    let sessions_before = sessions_data(&app.store);
    let journal_before = journal_actions(&app.store).len();
    let mut consent = String::new();
    for path in [
        "/franceconnect/deconnexion?state=pas-le-bon-etat".to_string(),
        "/franceconnect/deconnexion".to_string(),
        app.local(&with_param(&back, "state", Some(""))),
    ] {
        let r = web.get(&path);
        assert_eq!(r.status, 400, "{path}");
        assert!(
            r.body.contains("Retour de FranceConnect refusé"),
            "{}",
            r.body
        );
        assert!(r.body.contains("state"), "{}", r.body);
        // A way back: the consent page this browser has under way.
        consent = between(&r.body, "id=\"consent-link\" href=\"", "\"");
        assert!(consent.starts_with("/mandats/consentement/"), "{consent}");
    }
    assert_eq!(sessions_data(&app.store), sessions_before);
    assert_eq!(journal_actions(&app.store).len(), journal_before);
    // The consent page is reachable directly, without coming back from FranceConnect.
    assert_eq!(web.get(&consent).status, 200);
    // Another browser has no sign-out under way: the way back is the home page.
    let other = Web::new(&app);
    let r = other.get(&app.local(&back));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Retour à l’accueil"), "{}", r.body);
    // The right state still leads to the consent page.
    assert_eq!(redirected(&app, &web, &back), consent);
}

#[test]
fn the_simulator_end_session_refuses_bad_requests() {
    let (app, clock) = demo_app();
    let (_, web) = aidant_of(&app, &clock, 3, "simulateur@exemple.fr");
    let (end_session, authorize) = to_sign_out(&app, &web, "2");
    let hint = query_param(&end_session, "id_token_hint").expect("hint");
    // An id_token the simulator did not issue: the right one with one character changed.
    let last = hint.chars().last().expect("char");
    let forged = format!(
        "{}{}",
        &hint[..hint.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    for (url, why) in [
        (
            with_param(&end_session, "id_token_hint", Some(&forged)),
            "id_token_hint",
        ),
        (
            with_param(&end_session, "id_token_hint", None),
            "id_token_hint",
        ),
        (
            with_param(
                &end_session,
                "post_logout_redirect_uri",
                Some("https://ailleurs.example.com/franceconnect/deconnexion"),
            ),
            "post_logout_redirect_uri",
        ),
        (
            with_param(
                &end_session,
                "post_logout_redirect_uri",
                Some(&app.url("/franceconnect/callback")),
            ),
            "post_logout_redirect_uri",
        ),
        (with_param(&end_session, "state", None), "state"),
    ] {
        let r = web.get(&app.local(&url));
        assert_eq!(r.status, 400, "{url}");
        assert!(
            r.body
                .contains("Simulateur FranceConnect : déconnexion refusée")
                && r.body.contains(why),
            "{}",
            r.body
        );
        assert!(r.header("location").is_none());
    }
    // Refusals forget nothing: the person is still signed in, and the valid request works.
    assert!(web
        .get(&app.local(&authorize))
        .body
        .contains("fc-signed-in"));
    let back = redirected(&app, &web, &end_session);
    assert!(back.starts_with(&app.url("/franceconnect/deconnexion?state=")));
    // Once signed out, the same id_token is no longer a sign-in the simulator knows.
    let r = web.get(&app.local(&end_session));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("id_token_hint"), "{}", r.body);
}

#[test]
fn the_simulator_lists_its_end_session_endpoint() {
    let (app, _) = demo_app();
    let d = get(&app.url("/demo/franceconnect/.well-known/openid-configuration")).json();
    assert_eq!(
        d["end_session_endpoint"],
        app.url("/demo/franceconnect/logout")
    );
}
