//! The userinfo endpoint (`/oidc/userinfo`).

use chrono::Duration;

use crate::helpers::oidc::*;
use crate::helpers::*;

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
    let info = userinfo(&w, &access).json();
    assert_eq!(info["email"], "angela@exemple.fr");
    assert!(info.get("family_name").is_none(), "only the granted scopes");
    w.clock.advance(Duration::seconds(61));
    let r = userinfo(&w, &access);
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap_or_default()
        .contains("invalid_token"));
}
