//! The OpenID provider: metadata, authorization with the aidant's choices, token, userinfo,
//! logout, keys; negative cases assert the exact error and that nothing was issued.

use base64::Engine;
use chrono::Duration;
use diesel::prelude::*;
use procura::clock::{Clock, FixedClock};
use procura::crypto::SecretBox;
use procura::domain::mandate::{parse_demarches, MandateDuration};
use procura::domain::roles::Role;
use procura::federation::client::Identity;
use procura::federation::jose::verify_es256;
use procura::federation::provider::{self as op, s256};
use procura::store::schema::{access_tokens, authorization_codes};
use procura::store::write_tx;
use serde_json::Value;

use crate::accounts::{account, app_with_clock, login, structure, Account, TEST_KEY};
use crate::harness::*;

/// A registered client with its secret.
pub struct Rp {
    pub id: String,
    pub secret: Option<String>,
    pub redirect: String,
}

/// Everything a provider test needs.
pub struct World {
    pub app: TestApp,
    pub clock: FixedClock,
    pub aidant: Account,
    pub web: Web,
    pub rp: Rp,
    pub usager_id: String,
    pub mandate_id: String,
    pub structure_id: String,
}

pub fn identity(sub: &str) -> Identity {
    Identity {
        sub: sub.into(),
        given_name: "Angela Claire Louise".into(),
        family_name: "DUBOIS".into(),
        preferred_username: None,
        birthdate: "1962-08-00".into(),
        gender: "female".into(),
        birthplace: "75107".into(),
        birthcountry: "99100".into(),
        email: Some("angela@exemple.fr".into()),
    }
}

pub fn register(
    store: &procura::store::Store,
    clock: &FixedClock,
    method: &str,
    redirect: &str,
) -> Rp {
    let mut conn = store.conn().expect("conn");
    let (c, secret) = write_tx(&mut conn, |c| {
        op::create_client(
            c,
            clock.now(),
            "test",
            "Site de test",
            &[redirect.to_string()],
            &["https://site.example.fr/au-revoir".to_string()],
            method,
        )
    })
    .expect("client");
    Rp {
        id: c.id,
        secret,
        redirect: redirect.into(),
    }
}

/// A structure, an aidant logged in, a usager with a mandate for social + logement, a client.
pub fn world(env: &[(&str, &str)]) -> World {
    let (app, clock) = app_with_clock(env);
    let s = structure(&app.store, &clock, "France Services Provider", 300);
    let aidant = account(
        &app.store,
        &clock,
        "aidant.op@exemple.fr",
        &[Role::Aidant],
        Some(&s),
    );
    let created = {
        let mut conn = app.store.conn().expect("conn");
        write_tx(&mut conn, |c| {
            procura::mandates::create_mandate(
                c,
                clock.now(),
                "test",
                &aidant.user.id,
                &s.id,
                &identity("fc-sub-op"),
                &parse_demarches(&["social", "logement"]).expect("d"),
                MandateDuration::Month,
            )
        })
        .expect("mandate")
    };
    let rp = register(
        &app.store,
        &clock,
        "client_secret_basic",
        "https://site.example.fr/callback",
    );
    let web = Web::new(&app);
    assert_eq!(login(&web, &clock, &aidant).status, 303);
    World {
        usager_id: created.mandate.usager_id.clone(),
        mandate_id: created.mandate.id.clone(),
        structure_id: s.id.clone(),
        app,
        clock,
        aidant,
        web,
        rp,
    }
}

/// A request's PKCE verifier, nonce and state.
pub struct Req {
    pub verifier: String,
    pub nonce: String,
    pub state: String,
}

pub fn new_req() -> Req {
    Req {
        verifier: procura::crypto::new_token(),
        nonce: procura::crypto::new_token(),
        state: procura::crypto::new_token(),
    }
}

pub fn authorize_path(rp: &Rp, r: &Req, scope: &str, extra: &[(&str, &str)]) -> String {
    let challenge = s256(&r.verifier);
    let mut pairs: Vec<(&str, &str)> = vec![
        ("client_id", &rp.id),
        ("redirect_uri", &rp.redirect),
        ("response_type", "code"),
        ("scope", scope),
        ("state", &r.state),
        ("nonce", &r.nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    // Extra parameters replace defaults; an empty value removes the parameter.
    for (k, v) in extra {
        pairs.retain(|(n, _)| n != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("/oidc/authorize?{q}")
}

fn param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Runs the interaction: choose the usager then the démarche; returns the client redirect.
pub fn interact(web: &Web, path: &str, usager: &str, demarche: &str) -> String {
    let r = web.get(path);
    assert_eq!(r.status, 303, "{}", r.body);
    let interaction = r.header("location").expect("interaction").to_string();
    let page = web.get(&interaction);
    assert_eq!(page.status, 200, "{}", page.body);
    let r = web.submit(
        &interaction,
        &format!("{interaction}/usager"),
        &[("usager", usager)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let page = web.get(&interaction);
    assert!(page.body.contains("Pour quelle démarche"), "{}", page.body);
    let r = web.submit(
        &interaction,
        &format!("{interaction}/demarche"),
        &[("demarche", demarche)],
    );
    assert_eq!(r.status, 302, "{}", r.body);
    r.header("location").expect("client redirect").to_string()
}

/// A whole flow for the world's client: authorize with `scope`, choose the usager and
/// `demarche`, redeem the code; returns the token response (checked to be 200).
pub fn tokens(w: &World, scope: &str, demarche: &str) -> Value {
    let r = new_req();
    let redirect = interact(
        &w.web,
        &authorize_path(&w.rp, &r, scope, &[]),
        &w.usager_id,
        demarche,
    );
    let code = param(&redirect, "code").expect("code");
    let t = token_request(w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(t.status, 200, "{}", t.body);
    t.json()
}

pub fn token_request(w: &World, rp: &Rp, code: &str, verifier: &str, secret: Option<&str>) -> Resp {
    let mut req = client().post(&w.app.url("/oidc/token"));
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &rp.redirect),
        ("code_verifier", verifier),
    ];
    match secret {
        Some(s) => {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", rp.id, s));
            req = req.set("Authorization", &format!("Basic {basic}"));
        }
        None => form.push(("client_id", &rp.id)),
    }
    match req.send_form(&form) {
        Ok(r) => Resp {
            status: r.status(),
            headers: vec![],
            body: r.into_string().unwrap_or_default(),
        },
        Err(ureq::Error::Status(s, r)) => {
            let www = r
                .header("www-authenticate")
                .map(|v| ("www-authenticate".to_string(), v.to_string()));
            Resp {
                status: s,
                headers: www.into_iter().collect(),
                body: r.into_string().unwrap_or_default(),
            }
        }
        Err(e) => panic!("{e}"),
    }
}

pub fn jwks(w: &World) -> Value {
    get(&w.app.url("/oidc/jwks")).json()
}

pub fn verify(w: &World, jwt: &str) -> Option<Value> {
    jwks(w)["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find_map(|k| {
            verify_es256(jwt, k).or_else(|| procura::federation::jose::verify_rs256(jwt, k))
        })
}

fn count(w: &World, what: &str) -> i64 {
    let mut conn = w.app.store.conn().expect("conn");
    match what {
        "codes" => authorization_codes::table
            .count()
            .get_result(&mut *conn)
            .expect("n"),
        _ => access_tokens::table
            .count()
            .get_result(&mut *conn)
            .expect("n"),
    }
}

fn uses(w: &World) -> usize {
    journal_actions(&w.app.store)
        .iter()
        .filter(|a| *a == "mandate.used")
        .count()
}

#[test]
fn metadata_and_jwks() {
    let w = world(&[]);
    let m = get(&w.app.url("/.well-known/openid-configuration")).json();
    assert_eq!(m["issuer"], w.app.base);
    for e in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ] {
        assert!(m[e].as_str().expect(e).starts_with(&w.app.base), "{e}");
    }
    assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        m["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256", "RS256"])
    );
    let keys = jwks(&w);
    assert_eq!(keys["keys"][0]["kty"], "EC");
    assert!(keys["keys"][0]["kid"].is_string());
    assert!(
        keys["keys"][0].get("d").is_none(),
        "no private part published"
    );
}

#[test]
fn the_complete_flow_issues_checked_tokens() {
    let w = world(&[]);
    let r = new_req();
    let before = uses(&w);
    let redirect = interact(
        &w.web,
        &authorize_path(
            &w.rp,
            &r,
            "openid profile birth",
            &[("acr_values", "eidas1")],
        ),
        &w.usager_id,
        "social",
    );
    assert!(redirect.starts_with(&w.rp.redirect), "{redirect}");
    assert_eq!(param(&redirect, "state").as_deref(), Some(r.state.as_str()));
    assert_eq!(
        param(&redirect, "iss").as_deref(),
        Some(w.app.base.as_str())
    );
    let code = param(&redirect, "code").expect("code");
    assert_eq!(uses(&w), before + 1, "one use entry per completed choice");
    let t = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(t.status, 200, "{}", t.body);
    let t = t.json();
    let id_token = t["id_token"].as_str().expect("id_token");
    let access = t["access_token"].as_str().expect("access_token");
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id_token.split('.').next().expect("h"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].is_string());
    let c = verify(&w, id_token).expect("signature verifies against the JWKS");
    assert_eq!(c["iss"], w.app.base);
    assert_eq!(c["aud"], w.rp.id);
    assert_eq!(c["nonce"], r.nonce);
    assert_eq!(c["acr"], "eidas1");
    assert_eq!(c["amr"], serde_json::json!(["pwd", "otp"]));
    assert_eq!(c["at_hash"], op::at_hash(access));
    assert_eq!(c["given_name"], "Angela Claire Louise");
    assert_eq!(c["birthdate"], "1962-08-00");
    assert_eq!(c["birthplace"], "75107");
    assert!(c.get("email").is_none(), "email not in the granted scopes");
    assert!(c["act"]["sub"].is_string(), "act names the aidant");
    assert_ne!(
        c["act"]["sub"], w.aidant.user.id,
        "pairwise, not the internal id"
    );
    assert!(c["exp"].as_i64().expect("exp") > c["iat"].as_i64().expect("iat"));
    assert!(c["auth_time"].as_i64().expect("auth_time") <= c["iat"].as_i64().expect("iat"));
    let info = send(
        client()
            .get(&w.app.url("/oidc/userinfo"))
            .set("Authorization", &format!("Bearer {access}")),
    )
    .json();
    assert_eq!(info["sub"], c["sub"]);
    assert_eq!(info["family_name"], "DUBOIS");
    // The use entry names aidant, usager, mandate, authorisation, démarche and client.
    let mut conn = w.app.store.conn().expect("conn");
    let e = procura::journal::entries_after(&mut conn, 0, 100_000)
        .expect("entries")
        .into_iter()
        .find(|e| e.action == "mandate.used")
        .expect("use entry");
    assert_eq!(
        e.actor.as_deref(),
        Some(format!("user:{}", w.aidant.user.id).as_str())
    );
    assert_eq!(e.usager_id.as_deref(), Some(w.usager_id.as_str()));
    assert_eq!(e.mandate_id.as_deref(), Some(w.mandate_id.as_str()));
    assert!(e.authorisation_id.is_some());
    assert_eq!(e.client_id.as_deref(), Some(w.rp.id.as_str()));
    assert!(e.details.contains("\"demarche\":\"social\""));
}

#[test]
fn subjects_are_pairwise_per_client_and_stable() {
    let w = world(&[]);
    let other = register(
        &w.app.store,
        &w.clock,
        "client_secret_post",
        "https://autre.example.fr/cb",
    );
    let sub_for = |rp: &Rp| {
        let r = new_req();
        let redirect = interact(
            &w.web,
            &authorize_path(rp, &r, "openid", &[]),
            &w.usager_id,
            "logement",
        );
        let code = param(&redirect, "code").expect("code");
        let t = if rp.id == w.rp.id {
            token_request(&w, rp, &code, &r.verifier, rp.secret.as_deref())
        } else {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", rp.redirect.as_str()),
                ("code_verifier", r.verifier.as_str()),
                ("client_id", rp.id.as_str()),
                ("client_secret", rp.secret.as_deref().expect("secret")),
            ];
            let resp = client()
                .post(&w.app.url("/oidc/token"))
                .send_form(&form)
                .expect("token");
            Resp {
                status: resp.status(),
                headers: vec![],
                body: resp.into_string().expect("body"),
            }
        };
        assert_eq!(t.status, 200, "{}", t.body);
        verify(&w, t.json()["id_token"].as_str().expect("id")).expect("valid")["sub"]
            .as_str()
            .expect("sub")
            .to_string()
    };
    let a1 = sub_for(&w.rp);
    let a2 = sub_for(&w.rp);
    let b = sub_for(&other);
    assert_eq!(a1, a2, "stable for one client");
    assert_ne!(a1, b, "different for another client");
}

fn assert_error_redirect(w: &World, path: &str, error: &str, state: &str) {
    let before = (count(w, "codes"), uses(w));
    let r = w.web.get(path);
    assert_eq!(r.status, 302, "{path}: {}", r.body);
    let loc = r.header("location").expect("redirect");
    assert!(loc.starts_with(&w.rp.redirect), "{loc}");
    assert_eq!(param(loc, "error").as_deref(), Some(error), "{loc}");
    assert_eq!(param(loc, "state").as_deref(), Some(state));
    assert_eq!(param(loc, "iss").as_deref(), Some(w.app.base.as_str()));
    assert_eq!((count(w, "codes"), uses(w)), before, "nothing issued");
}

#[test]
fn authorization_request_errors() {
    let w = world(&[]);
    let r = new_req();
    // Unknown client and unregistered redirect URI: an error page, never a redirect.
    for extra in [
        [("client_id", "inconnu")],
        [("redirect_uri", "https://evil.example.com/cb")],
    ] {
        let resp = w.web.get(&authorize_path(&w.rp, &r, "openid", &extra));
        assert_eq!(resp.status, 400, "{extra:?}");
        assert!(resp.header("location").is_none());
        assert!(resp.body.contains("Aucune redirection"), "{}", resp.body);
    }
    let s = r.state.as_str();
    assert_error_redirect(
        &w,
        &authorize_path(&w.rp, &r, "openid", &[("nonce", "")]),
        "invalid_request",
        s,
    );
    assert_error_redirect(
        &w,
        &authorize_path(
            &w.rp,
            &r,
            "openid",
            &[("code_challenge", ""), ("code_challenge_method", "")],
        ),
        "invalid_request",
        s,
    );
    assert_error_redirect(
        &w,
        &authorize_path(&w.rp, &r, "openid", &[("code_challenge_method", "plain")]),
        "invalid_request",
        s,
    );
    assert_error_redirect(
        &w,
        &authorize_path(&w.rp, &r, "openid", &[("response_type", "token")]),
        "unsupported_response_type",
        s,
    );
    assert_error_redirect(
        &w,
        &authorize_path(&w.rp, &r, "profile", &[]),
        "invalid_scope",
        s,
    );
    assert_error_redirect(
        &w,
        &authorize_path(&w.rp, &r, "openid", &[("max_age", "soon")]),
        "invalid_request",
        s,
    );
    assert_error_redirect(
        &w,
        &authorize_path(&w.rp, &r, "openid", &[("request", "eyJ")]),
        "request_not_supported",
        s,
    );
    // prompt=none: without a session, login_required; with one, interaction_required.
    let anon = Web::new(&w.app);
    let before = count(&w, "codes");
    let resp = anon.get(&authorize_path(&w.rp, &r, "openid", &[("prompt", "none")]));
    assert_eq!(resp.status, 302);
    assert_eq!(
        param(resp.header("location").expect("loc"), "error").as_deref(),
        Some("login_required")
    );
    assert_eq!(count(&w, "codes"), before);
    assert_error_redirect(
        &w,
        &authorize_path(&w.rp, &r, "openid", &[("prompt", "none")]),
        "interaction_required",
        s,
    );
}

#[test]
fn the_aidant_can_cancel() {
    let w = world(&[]);
    let r = new_req();
    let resp = w.web.get(&authorize_path(&w.rp, &r, "openid", &[]));
    let interaction = resp.header("location").expect("interaction").to_string();
    let resp = w
        .web
        .submit(&interaction, &format!("{interaction}/annuler"), &[]);
    assert_eq!(resp.status, 302);
    let loc = resp.header("location").expect("loc");
    assert_eq!(param(loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(loc, "state").as_deref(), Some(r.state.as_str()));
    assert_eq!(
        w.web.get(&interaction).status,
        404,
        "the interaction is over"
    );
    assert_eq!(uses(&w), 0);
}

#[test]
fn token_endpoint_errors_issue_nothing() {
    let w = world(&[]);
    let run = |verifier_override: Option<&str>| {
        let r = new_req();
        let redirect = interact(
            &w.web,
            &authorize_path(&w.rp, &r, "openid profile", &[]),
            &w.usager_id,
            "social",
        );
        (
            param(&redirect, "code").expect("code"),
            verifier_override.map(str::to_string).unwrap_or(r.verifier),
        )
    };
    let error_of = |t: &Resp| t.json()["error"].as_str().unwrap_or_default().to_string();
    // Wrong PKCE verifier.
    let (code, _) = run(Some("wrong-verifier-wrong-verifier-wrong-verifier"));
    let tokens = count(&w, "tokens");
    let t = token_request(
        &w,
        &w.rp,
        &code,
        "wrong-verifier-wrong-verifier-wrong-verifier",
        w.rp.secret.as_deref(),
    );
    assert_eq!((t.status, error_of(&t).as_str()), (400, "invalid_grant"));
    assert_eq!(count(&w, "tokens"), tokens);
    // Wrong client secret.
    let (code, verifier) = run(None);
    let t = token_request(&w, &w.rp, &code, &verifier, Some("not-the-secret"));
    assert_eq!((t.status, error_of(&t).as_str()), (401, "invalid_client"));
    assert!(t.header("www-authenticate").is_some());
    // Wrong authentication method for this client (post instead of basic).
    let t = token_request(&w, &w.rp, &code, &verifier, None);
    assert_eq!((t.status, error_of(&t).as_str()), (401, "invalid_client"));
    assert_eq!(count(&w, "tokens"), tokens);
    // A redirect_uri other than the one of the request.
    let (code, verifier) = run(None);
    let other = Rp {
        id: w.rp.id.clone(),
        secret: w.rp.secret.clone(),
        redirect: "https://site.example.fr/autre".into(),
    };
    let t = token_request(&w, &other, &code, &verifier, w.rp.secret.as_deref());
    assert_eq!((t.status, error_of(&t).as_str()), (400, "invalid_grant"));
    assert_eq!(count(&w, "tokens"), tokens);
    // Expired code (60 s).
    let (code, verifier) = run(None);
    w.clock.advance(Duration::seconds(61));
    let t = token_request(&w, &w.rp, &code, &verifier, w.rp.secret.as_deref());
    assert_eq!((t.status, error_of(&t).as_str()), (400, "invalid_grant"));
    assert_eq!(count(&w, "tokens"), tokens);
    // Malformed requests.
    let t = send_body(
        client()
            .post(&w.app.url("/oidc/token"))
            .set("Content-Type", "application/json"),
        "{}",
    );
    assert_eq!(t.status, 400);
    let t = send_body(
        client()
            .post(&w.app.url("/oidc/token"))
            .set("Content-Type", "application/x-www-form-urlencoded"),
        "grant_type=password&username=x",
    );
    assert_eq!(t.json()["error"], "unsupported_grant_type");
}

#[test]
fn a_reused_code_fails_and_revokes_the_first_tokens() {
    let w = world(&[]);
    let r = new_req();
    let redirect = interact(
        &w.web,
        &authorize_path(&w.rp, &r, "openid profile", &[]),
        &w.usager_id,
        "social",
    );
    let code = param(&redirect, "code").expect("code");
    let first = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(first.status, 200);
    let access = first.json()["access_token"]
        .as_str()
        .expect("at")
        .to_string();
    let userinfo = |t: &str| {
        send(
            client()
                .get(&w.app.url("/oidc/userinfo"))
                .set("Authorization", &format!("Bearer {t}")),
        )
    };
    assert_eq!(userinfo(&access).status, 200);
    let again = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"], "invalid_grant");
    let r = userinfo(&access);
    assert_eq!(r.status, 401, "the first access token is revoked");
    assert!(r
        .header("www-authenticate")
        .unwrap_or_default()
        .contains("invalid_token"));
    assert!(journal_actions(&w.app.store).contains(&"token.code_replayed".to_string()));
}

#[test]
fn a_revocation_between_choice_and_token_refuses_the_code() {
    let w = world(&[]);
    let r = new_req();
    let redirect = interact(
        &w.web,
        &authorize_path(&w.rp, &r, "openid", &[]),
        &w.usager_id,
        "social",
    );
    let code = param(&redirect, "code").expect("code");
    {
        let mut conn = w.app.store.conn().expect("conn");
        procura::mandates::revoke_mandate(
            &mut conn,
            w.clock.now(),
            "test",
            &w.structure_id,
            &w.mandate_id,
        )
        .expect("revoke");
    }
    let tokens = count(&w, "tokens");
    let t = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(t.status, 400);
    assert_eq!(t.json()["error"], "invalid_grant");
    assert_eq!(count(&w, "tokens"), tokens);
}

#[test]
fn choices_outside_the_mandate_or_structure_are_refused() {
    let w = world(&[]);
    // A usager of another structure.
    let other = structure(&w.app.store, &w.clock, "Autre structure", 301);
    let other_aidant = account(
        &w.app.store,
        &w.clock,
        "autre.op@exemple.fr",
        &[Role::Aidant],
        Some(&other),
    );
    let foreign = {
        let mut conn = w.app.store.conn().expect("conn");
        write_tx(&mut conn, |c| {
            procura::mandates::create_mandate(
                c,
                w.clock.now(),
                "test",
                &other_aidant.user.id,
                &other.id,
                &identity("fc-sub-foreign"),
                &parse_demarches(&["social"]).expect("d"),
                MandateDuration::Long,
            )
        })
        .expect("mandate")
    };
    let r = new_req();
    let resp = w.web.get(&authorize_path(&w.rp, &r, "openid", &[]));
    let interaction = resp.header("location").expect("interaction").to_string();
    let page = w.web.get(&interaction);
    assert!(
        !page.body.contains(&foreign.mandate.usager_id),
        "not offered"
    );
    let resp = w.web.submit(
        &interaction,
        &format!("{interaction}/usager"),
        &[("usager", &foreign.mandate.usager_id)],
    );
    assert_eq!(resp.status, 400);
    // A démarche not in the mandate.
    assert_eq!(
        w.web
            .submit(
                &interaction,
                &format!("{interaction}/usager"),
                &[("usager", &w.usager_id)]
            )
            .status,
        303
    );
    let resp = w.web.submit(
        &interaction,
        &format!("{interaction}/demarche"),
        &[("demarche", "justice")],
    );
    assert_eq!(resp.status, 400);
    assert_eq!(uses(&w), 0);
    assert_eq!(count(&w, "codes"), 0);
    // An expired mandate: the usager is no longer offered nor accepted.
    w.clock.advance(Duration::days(32));
    let web = Web::new(&w.app);
    assert_eq!(login(&web, &w.clock, &w.aidant).status, 303);
    let r = new_req();
    let resp = web.get(&authorize_path(&w.rp, &r, "openid", &[]));
    let interaction = resp.header("location").expect("interaction").to_string();
    assert!(web.get(&interaction).body.contains("Aucune personne"));
    assert_eq!(
        web.submit(
            &interaction,
            &format!("{interaction}/usager"),
            &[("usager", &w.usager_id)]
        )
        .status,
        400
    );
    assert_eq!(count(&w, "codes"), 0);
}

#[test]
fn login_is_required_and_prompt_login_forces_it() {
    let w = world(&[]);
    let anon = Web::new(&w.app);
    let r = new_req();
    let resp = anon.get(&authorize_path(&w.rp, &r, "openid", &[]));
    let interaction = resp.header("location").expect("interaction").to_string();
    let resp = anon.get(&interaction);
    assert_eq!(resp.status, 303);
    assert_eq!(resp.header("location"), Some("/connexion"));
    // After login, the aidant comes back to the same request.
    let resp = login(&anon, &w.clock, &w.aidant);
    assert_eq!(resp.header("location"), Some(interaction.as_str()));
    assert_eq!(anon.get(&interaction).status, 200);
    // prompt=login: a logged-in aidant must log in again.
    let r = new_req();
    w.clock.advance(Duration::seconds(5));
    let resp = w
        .web
        .get(&authorize_path(&w.rp, &r, "openid", &[("prompt", "login")]));
    let interaction = resp.header("location").expect("interaction").to_string();
    let resp = w.web.get(&interaction);
    assert_eq!(resp.header("location"), Some("/connexion"));
    assert_eq!(
        login(&w.web, &w.clock, &w.aidant).header("location"),
        Some(interaction.as_str())
    );
    assert_eq!(w.web.get(&interaction).status, 200);
}

#[test]
fn signing_keys_rotate_with_a_grace_period() {
    let w = world(&[("PROCURA_KEY_GRACE_HOURS", "24")]);
    let old_token = tokens(&w, "openid", "social")["id_token"]
        .as_str()
        .expect("id")
        .to_string();
    {
        let mut conn = w.app.store.conn().expect("conn");
        write_tx(&mut conn, |c| {
            op::rotate_keys(c, w.clock.now(), &SecretBox::new(Some(TEST_KEY)), "test")
        })
        .expect("rotate");
    }
    assert_eq!(jwks(&w)["keys"].as_array().expect("keys").len(), 2);
    assert!(
        verify(&w, &old_token).is_some(),
        "a token signed before rotation still verifies"
    );
    // New tokens are signed by the new key.
    let new_token = tokens(&w, "openid", "social")["id_token"]
        .as_str()
        .expect("id")
        .to_string();
    let kid = |t: &str| -> Value {
        serde_json::from_slice::<Value>(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t.split('.').next().expect("h"))
                .expect("b64"),
        )
        .expect("json")["kid"]
            .clone()
    };
    assert_ne!(kid(&old_token), kid(&new_token));
    w.clock.advance(Duration::hours(25));
    assert_eq!(
        jwks(&w)["keys"].as_array().expect("keys").len(),
        1,
        "the old key left after the grace period"
    );
    assert!(verify(&w, &old_token).is_none());
    assert!(journal_actions(&w.app.store).contains(&"keys.rotated".to_string()));
}

#[test]
fn userinfo_refuses_missing_and_expired_tokens() {
    let w = world(&[]);
    let r = send(client().get(&w.app.url("/oidc/userinfo")));
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap_or_default()
        .starts_with("Bearer"));
    let t = tokens(&w, "openid email", "social");
    let access = t["access_token"].as_str().expect("at").to_string();
    let info = send(
        client()
            .get(&w.app.url("/oidc/userinfo"))
            .set("Authorization", &format!("Bearer {access}")),
    )
    .json();
    assert_eq!(info["email"], "angela@exemple.fr");
    assert!(info.get("family_name").is_none(), "only the granted scopes");
    w.clock.advance(Duration::seconds(61));
    let r = send(
        client()
            .get(&w.app.url("/oidc/userinfo"))
            .set("Authorization", &format!("Bearer {access}")),
    );
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap_or_default()
        .contains("invalid_token"));
}

#[test]
fn logout_ends_the_session_and_redirects_only_to_registered_uris() {
    let w = world(&[]);
    let id_token = tokens(&w, "openid", "social")["id_token"]
        .as_str()
        .expect("id")
        .to_string();
    // An unregistered post-logout URI: logged out, but no redirect.
    let q = |uri: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", uri),
                ("state", "xyz"),
            ])
            .finish()
    };
    let web2 = Web::new(&w.app);
    assert_eq!(login(&web2, &w.clock, &w.aidant).status, 303);
    let resp = web2.get(&format!("/oidc/logout?{}", q("https://evil.example.com/")));
    assert_eq!(resp.status, 200);
    assert!(resp.header("location").is_none());
    assert_eq!(web2.get("/espace").status, 303, "session ended");
    let resp = w.web.get(&format!(
        "/oidc/logout?{}",
        q("https://site.example.fr/au-revoir")
    ));
    assert_eq!(resp.status, 302);
    assert_eq!(
        resp.header("location"),
        Some("https://site.example.fr/au-revoir?state=xyz")
    );
    assert_eq!(w.web.get("/espace").status, 303, "session ended");
}

#[test]
fn client_create_through_the_cli() {
    let db = TestDb::new();
    let run = |args: &[&str]| run_procura(&db.url, args, None);
    let (code, out) = run(&[
        "client",
        "create",
        "--name",
        "Impots",
        "--redirect-uri",
        "https://impots.example.fr/cb",
        "--post-logout-redirect-uri",
        "https://impots.example.fr/bye",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    assert!(
        v["client_id"].is_string()
            && v["client_secret"]
                .as_str()
                .map(|s| s.len() == 43)
                .unwrap_or(false),
        "{v}"
    );
    let (code, out) = run(&[
        "client",
        "create",
        "--name",
        "Public",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--auth-method",
        "none",
        "--json",
    ]);
    assert_eq!(code, Some(0));
    assert!(serde_json::from_str::<Value>(out.trim()).expect("json")["client_secret"].is_null());
    assert_eq!(
        run(&[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            "http://site.example.fr/cb"
        ])
        .0,
        Some(2),
        "http only on loopback"
    );
    assert_eq!(
        run(&[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            "https://a.fr/cb#frag"
        ])
        .0,
        Some(2)
    );
    assert_eq!(
        run(&[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            "https://a.fr/cb",
            "--auth-method",
            "private_key_jwt"
        ])
        .0,
        Some(2)
    );
    // The secret is stored hashed.
    let store = db.store(1);
    let mut conn = store.conn().expect("conn");
    let c = op::client(&mut conn, v["client_id"].as_str().expect("id"))
        .expect("q")
        .expect("exists");
    assert_ne!(c.secret_hash.as_deref(), v["client_secret"].as_str());
    assert!(c.secret_matches(v["client_secret"].as_str().expect("s")));
}

#[test]
fn the_demo_site_acts_on_behalf_of_the_seeded_usager() {
    let (app, clock) = crate::mandates::demo_app();
    let a = crate::accounts::demo_account(&app, 0);
    let web = Web::new(&app);
    assert_eq!(login(&web, &clock, &a).status, 303);
    assert_eq!(web.get("/demo/site").status, 200);
    let r = web.get("/demo/site/connexion");
    assert_eq!(r.status, 303);
    let authorize = r.header("location").expect("authorize").to_string();
    let r = web.get(&authorize);
    let interaction = r.header("location").expect("interaction").to_string();
    let page = web.get(&interaction);
    let usager = crate::mandates::between(&page.body, "name=\"usager\" value=\"", "\"");
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
    let back = crate::mandates::local(&app, r.header("location").expect("callback"));
    let page = web.get(&back);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("DUBOIS") && page.body.contains("act.sub"),
        "{}",
        page.body
    );
}

#[test]
fn rs256_clients_get_tokens_signed_with_the_imported_rsa_key() {
    let w = world(&[]);
    let pem = w.app.db.dir.path().join("rsa.pem");
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .output()
        .expect("openssl");
    assert!(ok.status.success());
    let run = |args: &[&str]| run_procura(&w.app.db.url, args, None);
    // RS256 without a key is refused; a bad key file too.
    let (code, _) = run(&[
        "client",
        "create",
        "--name",
        "RSA",
        "--redirect-uri",
        "https://rsa.example.fr/cb",
        "--id-token-alg",
        "RS256",
    ]);
    assert_eq!(code, Some(2));
    let bad = w.app.db.dir.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    assert_eq!(
        run(&["keys", "import-rsa", bad.to_str().expect("utf-8")]).0,
        Some(2)
    );
    let (code, out) = run(&["keys", "import-rsa", pem.to_str().expect("utf-8"), "--json"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run(&[
        "client",
        "create",
        "--name",
        "RSA",
        "--redirect-uri",
        "https://rsa.example.fr/cb",
        "--id-token-alg",
        "RS256",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    let rp = Rp {
        id: v["client_id"].as_str().expect("id").into(),
        secret: v["client_secret"].as_str().map(String::from),
        redirect: "https://rsa.example.fr/cb".into(),
    };
    let r = new_req();
    let redirect = interact(
        &w.web,
        &authorize_path(&rp, &r, "openid", &[]),
        &w.usager_id,
        "social",
    );
    let t = token_request(
        &w,
        &rp,
        &param(&redirect, "code").expect("code"),
        &r.verifier,
        rp.secret.as_deref(),
    );
    assert_eq!(t.status, 200, "{}", t.body);
    let id_token = t.json()["id_token"].as_str().expect("id").to_string();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id_token.split('.').next().expect("h"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(header["alg"], "RS256");
    let c = verify(&w, &id_token).expect("RS256 signature verifies against the JWKS");
    assert_eq!(c["aud"], rp.id);
}

#[test]
fn max_age_forces_a_fresh_login() {
    let w = world(&[]);
    w.clock.advance(Duration::seconds(20));
    let r = new_req();
    let resp = w
        .web
        .get(&authorize_path(&w.rp, &r, "openid", &[("max_age", "10")]));
    let interaction = resp.header("location").expect("interaction").to_string();
    assert_eq!(
        w.web.get(&interaction).header("location"),
        Some("/connexion"),
        "login older than max_age"
    );
    assert_eq!(
        login(&w.web, &w.clock, &w.aidant).header("location"),
        Some(interaction.as_str())
    );
    assert_eq!(
        w.web.get(&interaction).status,
        200,
        "a fresh login satisfies max_age"
    );
}

#[test]
fn the_code_and_its_use_entry_commit_together() {
    let w = world(&[]);
    inject_insert_failure(&w.app.store, "authorization_codes");
    let r = new_req();
    let resp = w.web.get(&authorize_path(&w.rp, &r, "openid", &[]));
    let i = resp.header("location").expect("interaction").to_string();
    assert_eq!(
        w.web
            .submit(&i, &format!("{i}/usager"), &[("usager", &w.usager_id)])
            .status,
        303
    );
    let before = journal_actions(&w.app.store).len();
    let resp = w
        .web
        .submit(&i, &format!("{i}/demarche"), &[("demarche", "social")]);
    assert_eq!(resp.status, 500);
    assert_eq!(uses(&w), 0, "no use entry without its code");
    assert_eq!(journal_actions(&w.app.store).len(), before);
    assert_eq!(count(&w, "codes"), 0);
}

#[test]
fn a_stale_session_and_a_slow_choice_still_complete() {
    let w = world(&[]);
    // The aidant logged in 20 minutes ago (active since): prompt=login must still work.
    for _ in 0..2 {
        w.clock.advance(Duration::minutes(10));
        assert_eq!(w.web.get("/espace").status, 200);
    }
    let r = new_req();
    let resp = w.web.get(&authorize_path(
        &w.rp,
        &r,
        "openid",
        &[("prompt", "login"), ("max_age", "60")],
    ));
    let i = resp.header("location").expect("interaction").to_string();
    assert_eq!(w.web.get(&i).header("location"), Some("/connexion"));
    assert_eq!(
        login(&w.web, &w.clock, &w.aidant).header("location"),
        Some(i.as_str())
    );
    // Choosing takes longer than max_age: max_age counts at the request, not at each step.
    w.clock.advance(Duration::seconds(90));
    assert_eq!(
        w.web
            .submit(&i, &format!("{i}/usager"), &[("usager", &w.usager_id)])
            .status,
        303
    );
    let token = w.web.csrf(&i);
    let resp = w.web.post(
        &format!("{i}/demarche"),
        &[("demarche", "social"), ("csrf_token", &token)],
    );
    assert_eq!(resp.status, 302, "{}", resp.body);
    // The same form submitted twice gives one code only.
    let again = w.web.post(
        &format!("{i}/demarche"),
        &[("demarche", "social"), ("csrf_token", &token)],
    );
    assert_eq!(again.status, 404);
    assert_eq!(count(&w, "codes"), 1);
    assert_eq!(uses(&w), 1);
}

#[test]
fn logout_without_our_id_token_asks_first() {
    let w = world(&[]);
    let resp = w
        .web
        .get("/oidc/logout?post_logout_redirect_uri=https%3A%2F%2Fsite.example.fr%2Fau-revoir");
    assert_eq!(resp.status, 200);
    assert!(
        resp.body.contains("Se déconnecter de Procura"),
        "{}",
        resp.body
    );
    assert_eq!(w.web.get("/espace").status, 200, "still logged in");
    let resp = w.web.submit("/espace", "/oidc/logout", &[]);
    assert_eq!(resp.status, 200);
    assert_eq!(
        w.web.get("/espace").status,
        303,
        "logged out after confirming"
    );
}
