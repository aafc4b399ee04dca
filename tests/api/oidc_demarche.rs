//! Consent reaches the site: the démarche chosen travels in the tokens, clients serve
//! démarches, the `claims` request narrows the choice, and rights that end stop the
//! tokens that depend on them at once.

use procura::clock::Clock;
use procura::domain::mandate::DemarcheSet;
use procura::federation::provider as op;
use procura::store::write_tx;

use crate::helpers::oidc::*;
use crate::helpers::*;

/// A client of the world serving these démarches (every one: None).
fn client_for(w: &World, demarches: Option<&[&str]>, extra: op::ClientSettings) -> Rp {
    register_with(
        &w.app.store,
        &w.clock,
        "https://autre.example.fr/callback",
        op::ClientSettings {
            auth_method: extra
                .auth_method
                .clone()
                .or(Some("client_secret_basic".into())),
            demarches: Some(match demarches {
                None => DemarcheSet::All,
                Some(codes) => DemarcheSet::parse(codes).expect("codes"),
            }),
            ..extra
        },
    )
}

/// Opens the interaction of a request of `rp`: the interaction's path.
fn open(w: &World, rp: &Rp, r: &Req, extra: &[(&str, &str)]) -> String {
    let resp = w.web.get(&authorize_path(rp, r, "openid", extra));
    assert_eq!(resp.status, 303, "{}", resp.body);
    resp.header("location").expect("interaction").to_string()
}

#[test]
fn the_tokens_say_which_demarche_was_consented() {
    let w = world(&[]);
    let meta = get(&w.app.url("/.well-known/openid-configuration")).json();
    assert_eq!(meta["claims_parameter_supported"], true);
    assert!(meta["claims_supported"]
        .as_array()
        .expect("list")
        .contains(&serde_json::json!("demarche")));
    let t = tokens(&w, "openid profile", "logement");
    let claims = verify(&w, t["id_token"].as_str().expect("id_token")).expect("signed");
    assert_eq!(claims["demarche"], "logement");
    let info = userinfo(&w, t["access_token"].as_str().expect("at"));
    assert_eq!(info.status, 200, "{}", info.body);
    let info = info.json();
    assert_eq!(info["demarche"], "logement");
    assert_eq!(info["act"], claims["act"]);
    assert_eq!(info["sub"], claims["sub"]);
    assert!(journal_has(&w.app.store, "token.issued", "logement"));
}

#[test]
fn a_site_is_offered_only_the_demarches_it_serves() {
    let w = world(&[]);
    // A tax site: the usager's mandate (social, logement) cannot serve it.
    let tax = client_for(&w, Some(&["argent"]), Default::default());
    let i = open(&w, &tax, &new_req(), &[]);
    let page = w.web.get(&i);
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(&w.usager_id), "{}", page.body);
    let r = choose_usager(&w.web, &i, &w.usager_id);
    assert_eq!(r.status, 400, "{}", r.body);
    // A housing site: the usager is offered, for logement only.
    let housing = client_for(&w, Some(&["logement"]), Default::default());
    let i = open(&w, &housing, &new_req(), &[]);
    assert!(w.web.get(&i).body.contains(&w.usager_id));
    let r = choose_usager(&w.web, &i, &w.usager_id);
    assert_eq!(r.status, 303);
    let page = w.web.get(&i);
    assert!(page.body.contains(r#"value="logement""#), "{}", page.body);
    assert!(!page.body.contains(r#"value="social""#), "{}", page.body);
    let (codes, used) = (issued_codes(&w), uses(&w));
    let r = choose_demarche(&w.web, &i, "social");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        (issued_codes(&w), uses(&w)),
        (codes, used),
        "nothing issued"
    );
    let r = choose_demarche(&w.web, &i, "logement");
    assert_eq!(r.status, 302, "{}", r.body);
}

#[test]
fn the_claims_request_narrows_preselects_and_adds_claims() {
    let w = world(&[]);
    let r = new_req();
    let claims = r#"{"id_token":{"demarche":{"essential":true,"value":"social"},"given_name":null},"userinfo":{"birthplace":{"essential":true}}}"#;
    let i = open(&w, &w.rp, &r, &[("claims", claims)]);
    choose_usager(&w.web, &i, &w.usager_id);
    let page = w.web.get(&i);
    assert_preselected(&page, "social", "logement");
    let resp = choose_demarche(&w.web, &i, "social");
    let code = query_param(resp.header("location").expect("redirect"), "code").expect("code");
    let t = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(t.status, 200, "{}", t.body);
    let t = t.json();
    let id = verify(&w, t["id_token"].as_str().expect("id")).expect("signed");
    assert_eq!(id["given_name"], "Angela Claire Louise", "asked by name");
    assert!(id.get("birthplace").is_none(), "asked for userinfo only");
    let info = userinfo(&w, t["access_token"].as_str().expect("at")).json();
    assert_eq!(info["birthplace"], "75107");
    assert!(
        info.get("given_name").is_none(),
        "not in scope nor asked there"
    );
    // Two values: both offered, nothing preselected.
    let two = r#"{"userinfo":{"demarche":{"values":["social","logement","papiers"]}}}"#;
    let i = open(&w, &w.rp, &new_req(), &[("claims", two)]);
    choose_usager(&w.web, &i, &w.usager_id);
    let page = w.web.get(&i).body;
    assert!(
        page.contains(r#"value="social" required"#)
            && page.contains(r#"value="logement" required"#),
        "{page}"
    );
}

#[test]
fn a_malformed_or_unsatisfiable_claims_request_goes_back_to_the_client() {
    let w = world(&[]);
    let housing = client_for(&w, Some(&["logement"]), Default::default());
    let cases = [
        ("{", "invalid_request"),
        (
            r#"{"id_token":{"demarche":{"value":7}}}"#,
            "invalid_request",
        ),
        (
            r#"{"userinfo":{"demarche":{"value":"social"}}}"#,
            "access_denied",
        ),
    ];
    let before = count_rows(&w.app.store, "oidc_interactions");
    for (claims, error) in cases {
        let r = new_req();
        let resp = w.web.get(&authorize_path(
            &housing,
            &r,
            "openid",
            &[("claims", claims)],
        ));
        assert_eq!(resp.status, 302, "{claims}: {}", resp.body);
        let to = resp.header("location").expect("redirect");
        assert!(to.starts_with(&housing.redirect), "{to}");
        assert_eq!(query_param(to, "error").as_deref(), Some(error), "{claims}");
        assert_eq!(query_param(to, "state"), Some(r.state.clone()));
        assert_eq!(query_param(to, "iss"), Some(w.app.base.clone()));
    }
    assert_eq!(count_rows(&w.app.store, "oidc_interactions"), before);
}

/// The code is chosen, then something ends; redeeming it fails and nothing is issued.
fn redeem_after(w: &World, end: impl FnOnce(&World)) -> Resp {
    let r = new_req();
    let code = code_for(w, &w.rp, &r, "openid", "social");
    end(w);
    let tokens = issued_tokens(w);
    let resp = token_request(w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(issued_tokens(w), tokens, "no token: {}", resp.body);
    resp
}

fn revoke_social(w: &World) {
    w.revoke_authorisation("social");
}

fn revoke_mandate(w: &World) {
    w.revoke_mandate();
}

fn deactivate_aidant(w: &World) {
    w.deactivate_aidant();
}

fn remove_from_structure(w: &World) {
    w.remove_aidant_from_structure();
}

fn restrict_client(w: &World) {
    let mut conn = w.app.store.conn().expect("conn");
    write_tx(&mut conn, |c| {
        op::update_client(
            c,
            w.clock.now(),
            "test",
            &w.rp.id,
            &op::ClientSettings {
                demarches: Some(DemarcheSet::parse(&["logement"]).expect("codes")),
                ..Default::default()
            },
        )
    })
    .expect("update");
}

/// What can end the right to act: each must stop codes and tokens at once.
type Ending = (&'static str, fn(&World));
const ENDINGS: [Ending; 5] = [
    ("authorisation revoked", revoke_social),
    ("mandate revoked", revoke_mandate),
    ("aidant deactivated", deactivate_aidant),
    ("aidant removed from the structure", remove_from_structure),
    ("client restricted", restrict_client),
];

#[test]
fn a_code_is_refused_when_the_right_ended_between_choice_and_redemption() {
    for (what, end) in ENDINGS {
        let w = world(&[]);
        let resp = redeem_after(&w, end);
        assert_eq!(resp.status, 400, "{what}: {}", resp.body);
        assert_eq!(resp.json()["error"], "invalid_grant", "{what}");
    }
}

#[test]
fn an_access_token_stops_at_once_when_the_right_ends() {
    for (what, end) in ENDINGS {
        let w = world(&[]);
        let t = tokens(&w, "openid profile", "social");
        let at = t["access_token"].as_str().expect("at").to_string();
        assert_eq!(userinfo(&w, &at).status, 200, "{what}: before");
        end(&w);
        let resp = userinfo(&w, &at);
        assert_eq!(resp.status, 401, "{what}: {}", resp.body);
        assert!(
            resp.header("www-authenticate")
                .unwrap_or_default()
                .contains("invalid_token"),
            "{what}"
        );
    }
    // Revoking another démarche of the mandate leaves this token alone.
    let w = world(&[]);
    let t = tokens(&w, "openid", "logement");
    revoke_social(&w);
    assert_eq!(
        userinfo(&w, t["access_token"].as_str().expect("at")).status,
        200
    );
}

#[test]
fn pkce_may_be_left_out_by_a_client_with_a_secret_that_asked_for_it() {
    let w = world(&[]);
    let fc_like = op::ClientSettings {
        auth_method: Some("client_secret_post".into()),
        pkce: Some("optional".into()),
        ..Default::default()
    };
    let fc = client_for(&w, None, fc_like);
    let r = new_req();
    let path = authorize_path(
        &fc,
        &r,
        "openid",
        &[("code_challenge", ""), ("code_challenge_method", "")],
    );
    let redirect = interact(&w.web, &path, &w.usager_id, "social");
    let code = query_param(&redirect, "code").expect("code");
    let post = |code: &str, verifier: Option<&str>| {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", fc.redirect.as_str()),
            ("client_id", fc.id.as_str()),
            ("client_secret", fc.secret.as_deref().expect("secret")),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        send_form(client().post(&w.app.url("/oidc/token")), &form)
    };
    let t = post(&code, None);
    assert_eq!(t.status, 200, "{}", t.body);
    // Without a challenge, a verifier is refused (a downgrade would look like this).
    let redirect = interact(
        &w.web,
        &path.replace(&r.state, "s2"),
        &w.usager_id,
        "social",
    );
    let t = post(
        &query_param(&redirect, "code").expect("code"),
        Some(&r.verifier),
    );
    assert_eq!(t.status, 400, "{}", t.body);
    // With a challenge, the verifier is checked as for any client.
    let r = new_req();
    let redirect = interact(
        &w.web,
        &authorize_path(&fc, &r, "openid", &[]),
        &w.usager_id,
        "social",
    );
    let code = query_param(&redirect, "code").expect("code");
    assert_eq!(post(&code, Some("x")).status, 400);
    // A client with PKCE required (the world's) still gets invalid_request without it.
    let resp = w.web.get(&authorize_path(
        &w.rp,
        &new_req(),
        "openid",
        &[("code_challenge", ""), ("code_challenge_method", "")],
    ));
    assert_eq!(resp.status, 302);
    assert_eq!(
        query_param(resp.header("location").expect("redirect"), "error").as_deref(),
        Some("invalid_request")
    );
}

#[test]
fn userinfo_is_a_signed_jwt_for_a_client_that_asked() {
    let w = world(&[]);
    let jwt_userinfo = op::ClientSettings {
        userinfo_alg: Some("ES256".into()),
        ..Default::default()
    };
    let signed = client_for(&w, None, jwt_userinfo);
    let r = new_req();
    let code = code_for(&w, &signed, &r, "openid family_name", "logement");
    let t = token_request(&w, &signed, &code, &r.verifier, signed.secret.as_deref());
    assert_eq!(t.status, 200, "{}", t.body);
    let resp = userinfo(&w, t.json()["access_token"].as_str().expect("at"));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/jwt"));
    assert_eq!(jwt_header(&resp.body)["alg"], "ES256");
    let claims = verify(&w, &resp.body).expect("signed by a published key");
    assert_eq!(claims["aud"], serde_json::json!([signed.id]));
    assert_eq!(claims["iss"], w.app.base.as_str());
    assert_eq!(claims["demarche"], "logement");
    assert_eq!(claims["family_name"], "DUBOIS");
}
