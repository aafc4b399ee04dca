//! Procura's provider driven by a real, independent OpenID client: panva's
//! `openid-client` (npm, tests/interop/rp-client.mjs).

use procura::clock::{Clock, FixedClock, SystemClock};
use procura::crypto::SecretBox;
use procura::domain::mandate::{DemarcheSet, MandateDuration};
use procura::domain::roles::Role;
use procura::federation::provider as op;
use procura::store::write_tx;
use serde_json::json;

use crate::helpers::oidc::{assert_preselected, choose_demarche, choose_usager};
use crate::helpers::*;

struct Setup {
    app: TestApp,
    web: Web,
    aidant: Account,
    usager_id: String,
    client_id: String,
    secret: Option<String>,
}

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A service on the system clock (openid-client checks times against real time), an
/// aidant logged in, a usager with a mandate, a client with `method`.
fn setup(method: &str) -> Setup {
    let s = setup_with(op::ClientSettings {
        auth_method: Some(method.into()),
        demarches: Some(DemarcheSet::All),
        ..Default::default()
    });
    login_now(&s.web, &s.aidant);
    s
}

/// As [`setup`], for a client with these settings, the aidant not yet logged in.
fn setup_with(settings: op::ClientSettings) -> Setup {
    let app = TestApp::spawn();
    let clock = FixedClock::new(SystemClock.now());
    let s = structure(&app.store, &clock, "France Services OP", 400);
    let a: Account = member(&app, &clock, "aidant.rp@exemple.fr", &[Role::Aidant], &s);
    let created = seed_mandate(
        &app.store,
        &clock,
        &a,
        &s,
        "fc-rp",
        &["social", "logement"],
        MandateDuration::Month,
    );
    let mut conn = app.store.conn().expect("conn");
    let (client, secret) = write_tx(&mut conn, |c| {
        op::create_client(
            c,
            clock.now(),
            "test",
            &op::ClientSettings {
                name: Some("Site interop".into()),
                redirect_uris: Some(vec![REDIRECT.to_string()]),
                ..settings
            },
        )
    })
    .expect("client");
    drop(conn);
    let web = Web::new(&app);
    Setup {
        aidant: a,
        usager_id: created.mandate.usager_id,
        app,
        web,
        client_id: client.id,
        secret,
    }
}

/// The independent client for the setup's client, authenticating with `method`, with
/// more command-line options (`extra`).
fn rp_client(s: &Setup, method: &str, extra: &[&str]) -> RpClient {
    let secret = s.secret.as_deref();
    RpClient::start_with(&s.app.base, &s.client_id, secret, REDIRECT, method, extra)
}

/// Completes the interaction through the HTTP forms; returns the client redirect URL.
fn complete(s: &Setup, authorize_url: &str, usager: &str, demarche: &str) -> String {
    let path = authorize_url
        .strip_prefix(&s.app.base)
        .expect("our authorize endpoint");
    let r = s.web.get(path);
    assert_eq!(r.status, 303, "{}", r.body);
    let i = r.header("location").expect("interaction").to_string();
    assert_eq!(choose_usager(&s.web, &i, usager).status, 303);
    let r = choose_demarche(&s.web, &i, demarche);
    assert_eq!(r.status, 302, "{}", r.body);
    r.header("location").expect("redirect").to_string()
}

#[test]
fn openid_client_completes_the_flow_and_validates_everything() {
    let s = setup("client_secret_basic");
    let mut rp = rp_client(&s, "client_secret_basic", &[]);
    let d = rp.cmd(json!({"cmd": "discover"}));
    assert_eq!(d["ok"], true, "{d}");
    assert_eq!(d["metadata"]["issuer"], s.app.base);
    let a = rp.cmd(json!({"cmd": "authorize", "scope": "openid profile birth", "params": {"acr_values": "eidas1"}}));
    assert_eq!(a["ok"], true, "{a}");
    let url = a["url"].as_str().expect("url");
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("nonce="),
        "{url}"
    );
    let redirect = complete(&s, url, &s.usager_id, "social");
    let c = rp.cmd(json!({"cmd": "callback", "url": redirect}));
    assert_eq!(c["ok"], true, "{c}");
    assert_eq!(c["signature_checked_by"], "openid-client");
    assert_eq!(c["at_hash_checked"], true);
    let claims = &c["id_token_claims"];
    assert_eq!(claims["acr"], "eidas1");
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));
    assert!(claims["act"]["sub"].is_string());
    assert_eq!(c["id_token_header"]["alg"], "ES256");
    assert_eq!(c["userinfo"]["family_name"], "DUBOIS");
    assert_eq!(c["userinfo"]["birthdate"], "1962-08-00");
    assert_eq!(c["userinfo"]["sub"], claims["sub"]);
    // The same code again: invalid_grant, and the first access token stops working.
    let code = redirect
        .split("code=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .expect("code")
        .to_string();
    let t = rp.cmd(json!({"cmd": "token", "code": code, "code_verifier": a["code_verifier"]}));
    assert_eq!(t["status"], 400, "{t}");
    assert_eq!(t["body"]["error"], "invalid_grant");
    let u =
        rp.cmd(json!({"cmd": "userinfo", "access_token": c["access_token"], "sub": claims["sub"]}));
    assert_eq!(u["ok"], false, "{u}");
    assert_eq!(u["status"], 401);
    // Key rotation: the token signed before still verifies during the grace period.
    {
        let mut conn = s.app.store.conn().expect("conn");
        write_tx(&mut conn, |cn| {
            op::rotate_keys(
                cn,
                SystemClock.now(),
                &SecretBox::new(Some(TEST_KEY)),
                "test",
            )
        })
        .expect("rotate");
    }
    let v = rp.cmd(json!({"cmd": "verify", "id_token": c["id_token"]}));
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["jwks_kids"].as_array().map(|k| k.len()), Some(2), "{v}");
}

#[test]
fn openid_client_as_a_public_client_with_pkce() {
    let s = setup("none");
    let mut rp = RpClient::start(&s.app.base, &s.client_id, None, REDIRECT, "none");
    // Authorizes `scope` for the usager (démarche logement): the client redirect URL.
    let authorize = |rp: &mut RpClient, scope: &str| {
        let a = rp.cmd(json!({"cmd": "authorize", "scope": scope}));
        complete(
            &s,
            a["url"].as_str().expect("url"),
            &s.usager_id,
            "logement",
        )
    };
    let redirect = authorize(&mut rp, "openid email");
    let c = rp.cmd(json!({"cmd": "callback", "url": redirect}));
    assert_eq!(c["ok"], true, "{c}");
    assert_eq!(c["userinfo"]["email"], "angela@exemple.fr");
    // A wrong verifier is refused by the provider.
    let redirect = authorize(&mut rp, "openid");
    let c = rp.cmd(json!({"cmd": "callback", "url": redirect, "code_verifier": "a-wrong-verifier-a-wrong-verifier-a-wrong-verifier"}));
    assert_eq!(c["ok"], false, "{c}");
    assert_eq!(c["error"], "invalid_grant", "{c}");
    // PKCE plain and no PKCE are refused at the authorization endpoint.
    for pkce in ["plain", "none"] {
        let a = rp.cmd(json!({"cmd": "authorize", "scope": "openid", "pkce": pkce}));
        let path = a["url"]
            .as_str()
            .expect("url")
            .strip_prefix(&s.app.base)
            .expect("ours")
            .to_string();
        let r = s.web.get(&path);
        assert_eq!(r.status, 302);
        assert!(
            r.header("location")
                .unwrap_or_default()
                .contains("error=invalid_request"),
            "{pkce}"
        );
    }
}

/// FranceConnect is the real client of the provider: the independent client is set up the
/// way FranceConnect talks to an identity provider (confidential, `client_secret_post`,
/// no PKCE, `acr_values=eidas1`, `prompt=login`, a `claims` request naming the démarche),
/// and reads userinfo as a JWT it verifies against the JWKS.
#[test]
fn openid_client_talks_to_procura_the_way_franceconnect_does() {
    let s = setup_with(op::ClientSettings {
        auth_method: Some("client_secret_post".into()),
        pkce: Some("optional".into()),
        userinfo_alg: Some("ES256".into()),
        demarches: Some(DemarcheSet::parse(&["social", "logement"]).expect("codes")),
        ..Default::default()
    });
    let mut rp = rp_client(&s, "client_secret_post", &["--userinfo-alg", "ES256"]);
    let d = rp.cmd(json!({"cmd": "discover"}));
    assert_eq!(d["metadata"]["claims_parameter_supported"], true, "{d}");
    assert!(d["metadata"]["claims_supported"]
        .as_array()
        .expect("claims_supported")
        .contains(&json!("demarche")));
    let a = rp.cmd(json!({
        "cmd": "authorize",
        "scope": "openid given_name family_name birthdate gender birthplace birthcountry",
        "pkce": "none",
        "params": {
            "acr_values": "eidas1",
            "prompt": "login",
            "claims": {
                "id_token": {"demarche": {"essential": true, "value": "logement"}},
                "userinfo": {"demarche": null, "preferred_username": null},
            },
        },
    }));
    assert_eq!(a["ok"], true, "{a}");
    let url = a["url"].as_str().expect("url");
    assert!(
        !url.contains("code_challenge") && url.contains("claims="),
        "{url}"
    );
    // The aidant logs in (prompt=login), then chooses: the démarche is preselected.
    let r = s.web.get(url.strip_prefix(&s.app.base).expect("ours"));
    assert_eq!(r.status, 303, "{}", r.body);
    let i = r.header("location").expect("interaction").to_string();
    assert_eq!(s.web.get(&i).header("location"), Some("/connexion"));
    login_now(&s.web, &s.aidant);
    let r = choose_usager(&s.web, &i, &s.usager_id);
    assert_eq!(r.status, 303, "{}", r.body);
    let page = s.web.get(&i);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_preselected(&page, "logement", "social");
    let r = choose_demarche(&s.web, &i, "logement");
    assert_eq!(r.status, 302, "{}", r.body);
    let redirect = r.header("location").expect("redirect").to_string();
    let c = rp.cmd(json!({"cmd": "callback", "url": redirect}));
    assert_eq!(c["ok"], true, "{c}");
    assert_eq!(c["signature_checked_by"], "openid-client");
    let claims = &c["id_token_claims"];
    assert_eq!(claims["acr"], "eidas1");
    assert_eq!(claims["demarche"], "logement");
    assert!(claims["act"]["sub"].is_string());
    assert_eq!(claims["family_name"], "DUBOIS");
    // userinfo came signed (openid-client refuses JSON when a JWT is expected) and says
    // what was consented, for whom, by whom.
    let info = &c["userinfo"];
    assert_eq!(info["demarche"], "logement", "{c}");
    assert_eq!(info["sub"], claims["sub"]);
    assert_eq!(info["act"], claims["act"]);
    assert_eq!(info["aud"], json!([s.client_id]));
    assert_eq!(info["iss"], s.app.base.as_str());
    assert_eq!(info["birthplace"], claims["birthplace"]);
    // A verifier sent although no challenge was: refused (a PKCE downgrade shows as one).
    let a = rp.cmd(json!({"cmd": "authorize", "scope": "openid", "pkce": "none"}));
    let redirect = complete(&s, a["url"].as_str().expect("url"), &s.usager_id, "social");
    let code = query_param(&redirect, "code").expect("code");
    let t = rp.cmd(json!({"cmd": "token", "code": code, "code_verifier": "x".repeat(43)}));
    assert_eq!(t["status"], 400, "{t}");
    assert_eq!(t["body"]["error"], "invalid_grant");
}

/// A public client still has to use PKCE, and `claims` errors go back to the client.
#[test]
fn a_public_client_still_needs_pkce_and_claims_errors_reach_the_client() {
    let s = setup("none");
    let mut rp = RpClient::start(&s.app.base, &s.client_id, None, REDIRECT, "none");
    let back = |rp: &mut RpClient, cmd: serde_json::Value| {
        let a = rp.cmd(cmd);
        let r = s.web.get(
            a["url"]
                .as_str()
                .expect("url")
                .strip_prefix(&s.app.base)
                .expect("ours"),
        );
        assert_eq!(r.status, 302, "{}", r.body);
        let to = r.header("location").expect("redirect").to_string();
        assert!(to.starts_with(REDIRECT), "{to}");
        assert_eq!(
            query_param(&to, "state"),
            a["state"].as_str().map(String::from)
        );
        assert_eq!(
            query_param(&to, "iss").as_deref(),
            Some(s.app.base.as_str())
        );
        query_param(&to, "error").expect("error")
    };
    assert_eq!(
        back(&mut rp, json!({"cmd": "authorize", "pkce": "none"})),
        "invalid_request"
    );
    assert_eq!(
        back(
            &mut rp,
            json!({"cmd": "authorize", "params": {"claims": "{not json"}})
        ),
        "invalid_request"
    );
    assert_eq!(
        back(
            &mut rp,
            json!({"cmd": "authorize", "params": {"claims": {"id_token": {"demarche": {"value": "inconnue"}}}}})
        ),
        "access_denied"
    );
}

/// A client secret is base64url and may start with '-': rp-client must still take it (it
/// once refused one secret in 64 as an ambiguous option, the intermittent interop failure).
#[test]
fn rp_client_takes_a_secret_that_starts_with_a_dash() {
    let app = TestApp::spawn();
    let mut rp = RpClient::start(
        &app.base,
        "procura-interop",
        Some("-starts-with-a-dash"),
        REDIRECT,
        "client_secret_basic",
    );
    let d = rp.cmd(json!({"cmd": "discover"}));
    assert_eq!(d["ok"], true, "{d}");
}
