//! RP-initiated logout (`/oidc/logout`).

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
