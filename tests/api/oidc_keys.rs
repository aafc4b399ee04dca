//! The provider's discovery metadata (`/.well-known/openid-configuration`), key set
//! (`/oidc/jwks`) and signing keys: rotation, imported RSA key for RS256 clients.

use chrono::Duration;
use procura::clock::Clock;
use procura::crypto::SecretBox;
use procura::federation::provider as op;
use procura::store::write_tx;
use serde_json::Value;

use crate::helpers::oidc::*;
use crate::helpers::*;

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
    let kid = |t: &str| -> Value { jwt_header(t)["kid"].clone() };
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
    let create =
        "client create --name RSA --redirect-uri https://rsa.example.fr/cb --id-token-alg RS256 --all-demarches";
    let (code, _) = run(&words(create));
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
    let (code, out) = run(&words(&format!("{create} --json")));
    assert_eq!(code, Some(0), "{out}");
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    let rp = Rp {
        id: v["client_id"].as_str().expect("id").into(),
        secret: v["client_secret"].as_str().map(String::from),
        redirect: "https://rsa.example.fr/cb".into(),
    };
    let r = new_req();
    let code = code_for(&w, &rp, &r, "openid", "social");
    let t = token_request(&w, &rp, &code, &r.verifier, rp.secret.as_deref());
    assert_eq!(t.status, 200, "{}", t.body);
    let id_token = t.json()["id_token"].as_str().expect("id").to_string();
    let header: Value = jwt_header(&id_token);
    assert_eq!(header["alg"], "RS256");
    let c = verify(&w, &id_token).expect("RS256 signature verifies against the JWKS");
    assert_eq!(c["aud"], serde_json::json!([rp.id]));
}
