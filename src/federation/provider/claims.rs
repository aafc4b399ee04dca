//! What the ID token and userinfo say: claims per scope, pairwise subjects, hashes.

use serde_json::{Map, Value};

use crate::mandates::Usager;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;

/// Identity claims allowed by the granted scopes (FranceConnect's scopes included).
pub fn allowed_claims(scope: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut add = |c: &'static str| {
        if !out.contains(&c) {
            out.push(c)
        }
    };
    for s in scope.split_whitespace() {
        match s {
            "profile" => [
                "given_name",
                "family_name",
                "preferred_username",
                "gender",
                "birthdate",
            ]
            .into_iter()
            .for_each(&mut add),
            "birth" => ["birthplace", "birthcountry", "birthdate"]
                .into_iter()
                .for_each(&mut add),
            "email" => add("email"),
            "identite_pivot" => [
                "given_name",
                "family_name",
                "gender",
                "birthdate",
                "birthplace",
                "birthcountry",
            ]
            .into_iter()
            .for_each(&mut add),
            "given_name" => add("given_name"),
            "family_name" => add("family_name"),
            "birthdate" => add("birthdate"),
            "gender" => add("gender"),
            "birthplace" => add("birthplace"),
            "birthcountry" => add("birthcountry"),
            "preferred_username" => add("preferred_username"),
            _ => {}
        }
    }
    out
}

/// Scopes advertised in the metadata.
pub const SCOPES: [&str; 12] = [
    "openid",
    "profile",
    "email",
    "birth",
    "identite_pivot",
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "preferred_username",
];

/// The usager's claims allowed by `scope`.
pub fn identity_claims(u: &Usager, scope: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for c in allowed_claims(scope) {
        let v = match c {
            "given_name" => Some(u.given_name.clone()),
            "family_name" => Some(u.family_name.clone()),
            "preferred_username" => u.preferred_username.clone(),
            "gender" => Some(u.gender.clone()),
            "birthdate" => Some(u.birthdate.clone()),
            "birthplace" => Some(u.birthplace.clone()),
            "birthcountry" => Some(u.birthcountry.clone()),
            "email" => u.email.clone(),
            _ => None,
        };
        if let Some(v) = v {
            m.insert(c.to_string(), Value::String(v));
        }
    }
    m
}

/// A pairwise identifier: HMAC-SHA256 under a key derived from the master key, over the
/// kind, the client and the local id. Stable for a client, unlinkable across clients.
pub fn pairwise(master: &[u8; 32], kind: &str, client_id: &str, local_id: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, master);
    let derived = hmac::sign(&key, b"procura pairwise subject v1");
    let k2 = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
    let tag = hmac::sign(
        &k2,
        format!("{kind}\u{0}{client_id}\u{0}{local_id}").as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(tag.as_ref())
}

/// `at_hash`: left half of SHA-256 of the access token, base64url (ES256 uses SHA-256).
pub fn at_hash(access_token: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d.as_ref()[..16])
}

/// PKCE S256: base64url(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}
