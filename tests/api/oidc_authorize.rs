//! The authorization endpoint (`/oidc/authorize`) and the aidant's interaction (choice of
//! usager and démarche): the whole flow, request errors, login, prompt and max_age.

use chrono::Duration;
use procura::domain::mandate::MandateDuration;
use procura::domain::roles::Role;
use procura::federation::provider as op;
use serde_json::Value;

use crate::helpers::oidc::*;
use crate::helpers::*;

/// Extra parameters of an authorization request.
type Extra<'a> = &'a [(&'a str, &'a str)];

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
    assert_eq!(
        query_param(&redirect, "state").as_deref(),
        Some(r.state.as_str())
    );
    assert_eq!(
        query_param(&redirect, "iss").as_deref(),
        Some(w.app.base.as_str())
    );
    let code = query_param(&redirect, "code").expect("code");
    assert_eq!(uses(&w), before + 1, "one use entry per completed choice");
    let t = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(t.status, 200, "{}", t.body);
    let t = t.json();
    let id_token = t["id_token"].as_str().expect("id_token");
    let access = t["access_token"].as_str().expect("access_token");
    let header: Value = jwt_header(id_token);
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].is_string());
    let c = verify(&w, id_token).expect("signature verifies against the JWKS");
    assert_eq!(c["iss"], w.app.base);
    assert_eq!(c["aud"], serde_json::json!([w.rp.id]));
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
    let info = userinfo(&w, access).json();
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

fn assert_error_redirect(w: &World, path: &str, error: &str, state: &str) {
    let before = (issued_codes(w), uses(w));
    let r = w.web.get(path);
    assert_eq!(r.status, 302, "{path}: {}", r.body);
    let loc = r.header("location").expect("redirect");
    assert!(loc.starts_with(&w.rp.redirect), "{loc}");
    assert_eq!(query_param(loc, "error").as_deref(), Some(error), "{loc}");
    assert_eq!(query_param(loc, "state").as_deref(), Some(state));
    assert_eq!(
        query_param(loc, "iss").as_deref(),
        Some(w.app.base.as_str())
    );
    assert_eq!((issued_codes(w), uses(w)), before, "nothing issued");
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
    let errors: [(&str, Extra, &str); 7] = [
        ("openid", &[("nonce", "")], "invalid_request"),
        (
            "openid",
            &[("code_challenge", ""), ("code_challenge_method", "")],
            "invalid_request",
        ),
        (
            "openid",
            &[("code_challenge_method", "plain")],
            "invalid_request",
        ),
        (
            "openid",
            &[("response_type", "token")],
            "unsupported_response_type",
        ),
        ("profile", &[], "invalid_scope"),
        ("openid", &[("max_age", "soon")], "invalid_request"),
        ("openid", &[("request", "eyJ")], "request_not_supported"),
    ];
    for (scope, extra, error) in errors {
        assert_error_redirect(&w, &authorize_path(&w.rp, &r, scope, extra), error, s);
    }
    // prompt=none: without a session, login_required; with one, interaction_required.
    let anon = Web::new(&w.app);
    let before = issued_codes(&w);
    let resp = anon.get(&authorize_path(&w.rp, &r, "openid", &[("prompt", "none")]));
    assert_eq!(resp.status, 302);
    assert_eq!(
        query_param(resp.header("location").expect("loc"), "error").as_deref(),
        Some("login_required")
    );
    assert_eq!(issued_codes(&w), before);
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
    assert_eq!(query_param(loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(loc, "state").as_deref(), Some(r.state.as_str()));
    assert_eq!(
        w.web.get(&interaction).status,
        404,
        "the interaction is over"
    );
    assert_eq!(uses(&w), 0);
}

#[test]
fn choices_outside_the_mandate_or_structure_are_refused() {
    let w = world(&[]);
    // A usager of another structure.
    let other = structure(&w.app.store, &w.clock, "Autre structure", 301);
    let other_aidant = member(
        &w.app,
        &w.clock,
        "autre.op@exemple.fr",
        &[Role::Aidant],
        &other,
    );
    let foreign = seed_mandate(
        &w.app.store,
        &w.clock,
        &other_aidant,
        &other,
        "fc-sub-foreign",
        &["social"],
        MandateDuration::Long,
    );
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
    assert_eq!(issued_codes(&w), 0);
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
    assert_eq!(issued_codes(&w), 0);
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
    // prompt=login: a logged-in aidant must log in again, once they confirm.
    w.clock.advance(Duration::seconds(5));
    let interaction = log_in_again_for(&w, &[("prompt", "login")]);
    assert_eq!(w.web.get(&interaction).status, 200);
}

#[test]
fn max_age_forces_a_fresh_login() {
    let w = world(&[]);
    w.clock.advance(Duration::seconds(20));
    // The login is older than max_age: the aidant is asked, then logs in.
    let interaction = log_in_again_for(&w, &[("max_age", "10")]);
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
    assert_eq!(choose_usager(&w.web, &i, &w.usager_id).status, 303);
    let before = journal_actions(&w.app.store).len();
    let resp = choose_demarche(&w.web, &i, "social");
    assert_eq!(resp.status, 500);
    assert_eq!(uses(&w), 0, "no use entry without its code");
    assert_eq!(journal_actions(&w.app.store).len(), before);
    assert_eq!(issued_codes(&w), 0);
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
    confirm_reconnection(&w.web, &i);
    assert_eq!(
        login(&w.web, &w.clock, &w.aidant).header("location"),
        Some(i.as_str())
    );
    // Choosing takes longer than max_age: max_age counts at the request, not at each step.
    w.clock.advance(Duration::seconds(90));
    assert_eq!(choose_usager(&w.web, &i, &w.usager_id).status, 303);
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
    assert_eq!(issued_codes(&w), 1);
    assert_eq!(uses(&w), 1);
}

#[test]
fn a_site_asking_for_a_new_login_cannot_log_the_aidant_out_without_asking() {
    let w = world(&[]);
    w.clock.advance(Duration::seconds(5));
    let sessions_before = count_rows(&w.app.store, "sessions");
    // Any public client's link with prompt=login: the aidant is asked, nothing changes.
    let r = new_req();
    let resp = w
        .web
        .get(&authorize_path(&w.rp, &r, "openid", &[("prompt", "login")]));
    let i = resp.header("location").expect("interaction").to_string();
    let page = w.web.get(&i);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains("Ce site demande que vous vous reconnectiez"));
    assert!(page.body.contains(&format!("action=\"{i}/reconnexion\"")));
    assert!(page.body.contains(&format!("action=\"{i}/annuler\"")));
    assert_eq!(w.web.get("/espace").status, 200, "still logged in");
    assert_eq!(w.web.get(&i).status, 200, "asked again, not logged out");
    // A forged confirmation (no CSRF token) changes nothing.
    assert_eq!(w.web.post(&format!("{i}/reconnexion"), &[]).status, 403);
    assert_eq!(w.web.get("/espace").status, 200, "still logged in");
    // Cancelling tells the site that no new login happened; the session stays.
    let resp = w.web.submit(&i, &format!("{i}/annuler"), &[]);
    assert_eq!(resp.status, 302, "{}", resp.body);
    let to = resp.header("location").expect("redirect");
    assert!(to.starts_with(&w.rp.redirect), "{to}");
    assert_eq!(query_param(to, "error").as_deref(), Some("login_required"));
    assert_eq!(query_param(to, "state").as_deref(), Some(r.state.as_str()));
    assert_eq!(w.web.get("/espace").status, 200, "still logged in");
    assert_eq!(count_rows(&w.app.store, "sessions"), sessions_before);
    // Confirming logs out and goes to the login page, then back to the request.
    let r = new_req();
    let resp = w
        .web
        .get(&authorize_path(&w.rp, &r, "openid", &[("prompt", "login")]));
    let i = resp.header("location").expect("interaction").to_string();
    confirm_reconnection(&w.web, &i);
    assert_eq!(w.web.get("/espace").status, 303, "logged out");
    assert_eq!(
        login(&w.web, &w.clock, &w.aidant).header("location"),
        Some(i.as_str())
    );
    assert_eq!(w.web.get(&i).status, 200);
    // A fresh browser with no session goes straight to the login page, as before.
    let fresh = Web::new(&w.app);
    let resp = fresh.get(&authorize_path(
        &w.rp,
        &new_req(),
        "openid",
        &[("prompt", "login")],
    ));
    let i = resp.header("location").expect("interaction").to_string();
    assert_eq!(fresh.get(&i).header("location"), Some("/connexion"));
}
