//! What the ID token and userinfo say: claims per scope, pairwise subjects, hashes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::mandate::{demarche, DemarcheSet};
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

/// Identity claims a `claims` request may ask for by name, beyond the scopes.
pub const IDENTITY_CLAIMS: [&str; 8] = [
    "given_name",
    "family_name",
    "preferred_username",
    "gender",
    "birthdate",
    "birthplace",
    "birthcountry",
    "email",
];

/// Claims of the protocol and of acting on behalf, always in the ID token.
pub const PROTOCOL_CLAIMS: [&str; 12] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "at_hash",
    "act",
    "demarche",
];

/// Claims listed in the metadata (`claims_supported`).
pub fn claims_supported() -> Vec<&'static str> {
    PROTOCOL_CLAIMS
        .iter()
        .chain(&IDENTITY_CLAIMS)
        .copied()
        .collect()
}

/// The `claims` request parameter (OpenID Connect Core §5.5), normalised: the identity
/// claims asked for by name in the ID token and at userinfo, and the démarches a
/// `demarche` member restricts the choice to (`value` or `values`, in either member).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    /// Identity claims asked for in the ID token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
    /// Identity claims asked for at userinfo.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
    /// The démarche codes the request accepts (None: any); unknown codes are dropped, so
    /// an empty list is a request nothing can satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demarche: Option<Vec<String>>,
    /// The `acr` values asked for as essential (None: not asked, or not essential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<Vec<String>>,
    /// The `sub` asked for by value: only that subject may be answered for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

impl ClaimsRequest {
    /// Reads the stored form (None or bad: nothing asked).
    pub fn from_stored(stored: Option<&str>) -> Self {
        stored
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }

    /// The stored form (None when nothing is asked).
    pub fn to_stored(&self) -> Option<String> {
        (self != &ClaimsRequest::default()).then(|| serde_json::to_string(self).unwrap_or_default())
    }

    /// The démarches the request accepts.
    pub fn demarches(&self) -> DemarcheSet {
        match &self.demarche {
            None => DemarcheSet::All,
            Some(codes) => DemarcheSet::Only(codes.iter().filter_map(|c| demarche(c)).collect()),
        }
    }

    /// The one démarche to preselect, when the request names exactly one.
    pub fn preselected(&self) -> Option<&str> {
        match self.demarche.as_deref() {
            Some([one]) => Some(one),
            _ => None,
        }
    }
}

/// Parses the `claims` request parameter (pure). Members other than `id_token` and
/// `userinfo`, and claims Procura does not know, are ignored (§5.5); anything that is not
/// of the shape §5.5 gives is refused.
pub fn parse_claims_request(text: &str) -> Result<ClaimsRequest, &'static str> {
    let v: Value = serde_json::from_str(text).map_err(|_| "claims must be a JSON object")?;
    let Value::Object(top) = v else {
        return Err("claims must be a JSON object");
    };
    let mut out = ClaimsRequest::default();
    for member in ["id_token", "userinfo"] {
        let Some(asked) = top.get(member) else {
            continue;
        };
        let Value::Object(asked) = asked else {
            return Err("claims members id_token and userinfo must be JSON objects");
        };
        for (name, spec) in asked {
            let (value, values, essential) = match spec {
                Value::Null => (None, None, false),
                Value::Object(o) => {
                    if o.get("essential").is_some_and(|e| !e.is_boolean()) {
                        return Err("essential must be true or false");
                    }
                    let values = match o.get("values") {
                        None => None,
                        Some(Value::Array(a)) => Some(a.clone()),
                        Some(_) => return Err("values must be a JSON array"),
                    };
                    let essential = o.get("essential") == Some(&Value::Bool(true));
                    (o.get("value").cloned(), values, essential)
                }
                _ => return Err("each requested claim must be null or a JSON object"),
            };
            if name == "acr" && essential {
                let wanted = wanted_strings(value, values)?;
                out.acr = wanted;
            } else if name == "sub" {
                if let Some(v) = value {
                    let Value::String(sub) = v else {
                        return Err("sub value must be a string");
                    };
                    if out.sub.as_ref().is_some_and(|s| s != &sub) {
                        return Err("sub asked with two different values");
                    }
                    out.sub = Some(sub);
                }
            } else if name == "demarche" {
                if let Some(wanted) = wanted_strings(value, values)? {
                    let mut codes = Vec::new();
                    for code in wanted {
                        if demarche(&code).is_some() && !codes.contains(&code) {
                            codes.push(code);
                        }
                    }
                    out.demarche = Some(match out.demarche.take() {
                        None => codes,
                        Some(before) => before.into_iter().filter(|c| codes.contains(c)).collect(),
                    });
                }
            } else if let Some(known) = IDENTITY_CLAIMS.iter().find(|c| **c == name) {
                let list = if member == "id_token" {
                    &mut out.id_token
                } else {
                    &mut out.userinfo
                };
                if !list.iter().any(|c| c == known) {
                    list.push(known.to_string());
                }
            }
        }
    }
    Ok(out)
}

/// The string values of a claim asked for with `value` or `values` (None: neither).
fn wanted_strings(
    value: Option<Value>,
    values: Option<Vec<Value>>,
) -> Result<Option<Vec<String>>, &'static str> {
    let wanted = match (value, values) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => return Err("value and values together"),
        (Some(v), None) => vec![v],
        (None, Some(vs)) => vs,
    };
    wanted
        .into_iter()
        .map(|w| match w {
            Value::String(s) => Ok(s),
            _ => Err("claim values must be strings"),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

impl ClaimsRequest {
    /// False when an essential `acr` is asked for that Procura does not assert.
    pub fn acr_met(&self, asserted: &str) -> bool {
        self.acr
            .as_ref()
            .is_none_or(|v| v.iter().any(|a| a == asserted))
    }
}

/// The usager's claims allowed by `scope`, plus those asked for by name.
pub fn requested_identity_claims(u: &Usager, scope: &str, asked: &[String]) -> Map<String, Value> {
    let mut m = identity_claims(u, scope);
    if !asked.is_empty() {
        let extra = identity_claims(u, &asked.join(" "));
        for (k, v) in extra {
            m.entry(k).or_insert(v);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claims_request_names_claims_and_restricts_the_demarche() {
        let r = parse_claims_request(
            r#"{"id_token":{"given_name":{"essential":true},"demarche":{"essential":true,"values":["logement","impots","social"]}},
                "userinfo":{"birthplace":null,"unknown":null,"demarche":{"value":"logement"}},"other":1}"#,
        )
        .expect("valid");
        assert_eq!(r.id_token, vec!["given_name"]);
        assert_eq!(r.userinfo, vec!["birthplace"]);
        assert_eq!(r.demarche, Some(vec!["logement".to_string()]));
        assert_eq!(r.preselected(), Some("logement"));
        assert_eq!(ClaimsRequest::from_stored(r.to_stored().as_deref()), r);
        assert_eq!(ClaimsRequest::default().to_stored(), None);
        let none = parse_claims_request(r#"{"id_token":{"demarche":{"value":"impots"}}}"#).unwrap();
        assert!(none.demarches().is_empty());
        let any = parse_claims_request(r#"{"userinfo":{"demarche":null}}"#).unwrap();
        assert_eq!(any.demarches(), DemarcheSet::All);
        assert_eq!(any.preselected(), None);
    }

    #[test]
    fn essential_acr_values_and_a_sub_value_are_kept() {
        let r = parse_claims_request(
            r#"{"id_token":{"acr":{"essential":true,"values":["eidas2","eidas1"]},"sub":{"value":"abc"}}}"#,
        )
        .expect("valid");
        assert!(r.acr_met("eidas1"));
        assert_eq!(r.sub.as_deref(), Some("abc"));
        let strict =
            parse_claims_request(r#"{"id_token":{"acr":{"essential":true,"value":"eidas3"}}}"#)
                .unwrap();
        assert!(!strict.acr_met("eidas1"));
        let voluntary =
            parse_claims_request(r#"{"id_token":{"acr":{"values":["eidas3"]}}}"#).unwrap();
        assert!(voluntary.acr_met("eidas1"), "a voluntary acr does not bind");
        assert!(parse_claims_request(r#"{"id_token":{"sub":{"value":1}}}"#).is_err());
        assert!(parse_claims_request(
            r#"{"id_token":{"sub":{"value":"a"}},"userinfo":{"sub":{"value":"b"}}}"#
        )
        .is_err());
    }

    #[test]
    fn a_malformed_claims_request_is_refused() {
        for bad in [
            "",
            "[]",
            "\"x\"",
            "{",
            r#"{"id_token":[]}"#,
            r#"{"userinfo":"given_name"}"#,
            r#"{"id_token":{"given_name":true}}"#,
            r#"{"id_token":{"given_name":{"essential":"yes"}}}"#,
            r#"{"id_token":{"demarche":{"values":"logement"}}}"#,
            r#"{"id_token":{"demarche":{"value":3}}}"#,
            r#"{"id_token":{"demarche":{"value":"social","values":["social"]}}}"#,
        ] {
            assert!(parse_claims_request(bad).is_err(), "{bad}");
        }
    }
}
