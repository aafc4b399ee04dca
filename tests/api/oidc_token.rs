//! The token endpoint (`/oidc/token`): client authentication, PKCE, code lifetime and
//! replay, revocations, pairwise subjects.

use chrono::Duration;

use crate::helpers::oidc::*;
use crate::helpers::*;

#[test]
fn subjects_are_pairwise_per_client_and_stable() {
    let w = world(&[]);
    let other = w.register("client_secret_post", "https://autre.example.fr/cb");
    let sub_for = |rp: &Rp| {
        let r = new_req();
        let code = code_for(&w, rp, &r, "openid", "logement");
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

#[test]
fn token_endpoint_errors_issue_nothing() {
    let w = world(&[]);
    let run = |verifier_override: Option<&str>| {
        let r = new_req();
        (
            code_for(&w, &w.rp, &r, "openid profile", "social"),
            verifier_override.map(str::to_string).unwrap_or(r.verifier),
        )
    };
    let error_of = |t: &Resp| t.json()["error"].as_str().unwrap_or_default().to_string();
    // Wrong PKCE verifier.
    let (code, _) = run(Some("wrong-verifier-wrong-verifier-wrong-verifier"));
    let tokens = issued_tokens(&w);
    let t = token_request(
        &w,
        &w.rp,
        &code,
        "wrong-verifier-wrong-verifier-wrong-verifier",
        w.rp.secret.as_deref(),
    );
    assert_eq!((t.status, error_of(&t).as_str()), (400, "invalid_grant"));
    assert_eq!(issued_tokens(&w), tokens);
    // Wrong client secret.
    let (code, verifier) = run(None);
    let t = token_request(&w, &w.rp, &code, &verifier, Some("not-the-secret"));
    assert_eq!((t.status, error_of(&t).as_str()), (401, "invalid_client"));
    assert!(t.header("www-authenticate").is_some());
    // Wrong authentication method for this client (post instead of basic).
    let t = token_request(&w, &w.rp, &code, &verifier, None);
    assert_eq!((t.status, error_of(&t).as_str()), (401, "invalid_client"));
    assert_eq!(issued_tokens(&w), tokens);
    // A redirect_uri other than the one of the request.
    let (code, verifier) = run(None);
    let other = Rp {
        id: w.rp.id.clone(),
        secret: w.rp.secret.clone(),
        redirect: "https://site.example.fr/autre".into(),
    };
    let t = token_request(&w, &other, &code, &verifier, w.rp.secret.as_deref());
    assert_eq!((t.status, error_of(&t).as_str()), (400, "invalid_grant"));
    assert_eq!(issued_tokens(&w), tokens);
    // Expired code (60 s).
    let (code, verifier) = run(None);
    w.clock.advance(Duration::seconds(61));
    let t = token_request(&w, &w.rp, &code, &verifier, w.rp.secret.as_deref());
    assert_eq!((t.status, error_of(&t).as_str()), (400, "invalid_grant"));
    assert_eq!(issued_tokens(&w), tokens);
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
    let code = code_for(&w, &w.rp, &r, "openid profile", "social");
    let first = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(first.status, 200);
    let access = first.json()["access_token"]
        .as_str()
        .expect("at")
        .to_string();
    assert_eq!(userinfo(&w, &access).status, 200);
    let again = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"], "invalid_grant");
    let r = userinfo(&w, &access);
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
    let code = code_for(&w, &w.rp, &r, "openid", "social");
    w.revoke_mandate();
    let tokens = issued_tokens(&w);
    let t = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(t.status, 400);
    assert_eq!(t.json()["error"], "invalid_grant");
    assert_eq!(issued_tokens(&w), tokens);
}

#[test]
fn a_code_presented_by_another_client_is_refused_and_stays_usable_by_its_own() {
    let w = world(&[]);
    let other = w.register("client_secret_basic", "https://site.example.fr/callback");
    let r = new_req();
    let code = code_for(&w, &w.rp, &r, "openid", "social");
    let t = token_request(&w, &other, &code, &r.verifier, other.secret.as_deref());
    assert_eq!(t.status, 400, "{}", t.body);
    assert_eq!(t.json()["error"], "invalid_grant");
    assert_eq!(issued_tokens(&w), 0);
    let t = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(
        t.status, 200,
        "the code was not spent by the other client: {}",
        t.body
    );
}
