//! RP-initiated logout (`/oidc/logout`).

use procura::domain::roles::Role;

use crate::helpers::oidc::*;
use crate::helpers::*;

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

#[test]
fn an_id_token_of_another_aidant_asks_first() {
    let w = world(&[]);
    let web_b = w.logged_in_member("b@exemple.fr", &[Role::Aidant]);
    let r = new_req();
    let redirect = interact(
        &web_b,
        &authorize_path(&w.rp, &r, "openid", &[]),
        &w.usager_id,
        "social",
    );
    let code = query_param(&redirect, "code").expect("code");
    let t = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(t.status, 200, "{}", t.body);
    let id_token_b = t.json()["id_token"].as_str().expect("id").to_string();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("id_token_hint", id_token_b.as_str()),
            (
                "post_logout_redirect_uri",
                "https://site.example.fr/au-revoir",
            ),
        ])
        .finish();
    // B's token, valid and ours, does not end A's session silently.
    let resp = w.web.get(&format!("/oidc/logout?{q}"));
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(
        resp.body.contains("Se déconnecter de Procura"),
        "{}",
        resp.body
    );
    assert_eq!(w.web.get("/espace").status, 200, "A still logged in");
    // B's own token ends B's session without a question.
    let resp = web_b.get(&format!("/oidc/logout?{q}"));
    assert_eq!(resp.status, 302, "{}", resp.body);
    assert_eq!(web_b.get("/espace").status, 303, "B logged out");
}
