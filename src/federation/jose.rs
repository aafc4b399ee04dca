//! JSON Web Signatures of the provider: `openidconnect` assembles ID tokens, signed userinfo
//! responses and JWKs, and verifies signatures; `ring` holds our private keys and signs
//! (ES256, and RS256 with an imported key).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{
    CoreGenderClaim, CoreJsonCurveType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, IdToken, IdTokenClaims, JsonWebKey, JsonWebKeyId, PrivateSigningKey,
    SigningError, UserInfoClaims, UserInfoJsonWebToken,
};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A key could not be made or read, or claims could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("invalid signing key")]
pub struct KeyError;

/// Our claims beside the standard ones (FranceConnect's birth claims, the acting aidant,
/// the démarche), flattened into ID tokens and userinfo.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ProcuraClaims {
    /// The aidant acting for the usager (pairwise subject).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// The démarche the mandate is used for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demarche: Option<String>,
    /// Place of birth (INSEE code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthplace: Option<String>,
    /// Country of birth (INSEE code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthcountry: Option<String>,
}

impl AdditionalClaims for ProcuraClaims {}

/// The `act` claim (RFC 8693): who acts for the subject.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Actor {
    /// The actor's subject identifier.
    pub sub: String,
}

type ProcuraIdToken = IdToken<
    ProcuraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type ProcuraUserInfoJwt = UserInfoJsonWebToken<
    ProcuraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

fn unsupported(alg: &CoreJwsSigningAlgorithm) -> SigningError {
    SigningError::UnsupportedAlg(format!("{alg:?}"))
}

/// A ring key pair with its key id and the PKCS#8 document it was read from (to store,
/// sealed). Debug shows the key id only.
pub struct RingKey<P> {
    kid: String,
    pair: P,
    pkcs8: Vec<u8>,
}

impl<P> std::fmt::Debug for RingKey<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl<P> RingKey<P> {
    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The PKCS#8 document.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }
}

/// An ES256 (ECDSA P-256, SHA-256) signing key.
pub type EcSigningKey = RingKey<EcdsaKeyPair>;

/// An RS256 signing key imported by the operator (`ring` cannot generate RSA keys).
pub type RsaSigningKey = RingKey<RsaKeyPair>;

impl EcSigningKey {
    /// A new random key; the key id is derived from the public key.
    pub fn generate() -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| KeyError)?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// Reads a PKCS#8 document.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|_| KeyError)?;
        let kid = crate::crypto::sha256_hex(pair.public_key().as_ref())[..16].to_string();
        Ok(RingKey {
            kid,
            pair,
            pkcs8: pkcs8.to_vec(),
        })
    }
}

impl PrivateSigningKey for EcSigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(&self, alg: &CoreJwsSigningAlgorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        if *alg != CoreJwsSigningAlgorithm::EcdsaP256Sha256 {
            return Err(unsupported(alg));
        }
        let sig = self
            .pair
            .sign(&SystemRandom::new(), message)
            .map_err(|_| SigningError::CryptoError)?;
        Ok(sig.as_ref().to_vec())
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        // Uncompressed point: 0x04 ‖ x (32 bytes) ‖ y (32 bytes).
        let public = self.pair.public_key().as_ref();
        CoreJsonWebKey::new_ec(
            public[1..33].to_vec(),
            public[33..65].to_vec(),
            CoreJsonCurveType::P256,
            Some(JsonWebKeyId::new(self.kid.clone())),
        )
    }
}

impl RsaSigningKey {
    /// Reads a PKCS#8 DER document (2048 bits or more).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| KeyError)?;
        if pair.public().modulus_len() < 256 {
            return Err(KeyError);
        }
        let kid = format!(
            "rsa-{}",
            &crate::crypto::sha256_hex(pair.public().as_ref())[..16]
        );
        Ok(RingKey {
            kid,
            pair,
            pkcs8: pkcs8.to_vec(),
        })
    }
}

impl PrivateSigningKey for RsaSigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(&self, alg: &CoreJwsSigningAlgorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        if *alg != CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256 {
            return Err(unsupported(alg));
        }
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
            .map_err(|_| SigningError::CryptoError)?;
        Ok(sig)
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(self.pair.public());
        CoreJsonWebKey::new_rsa(c.n, c.e, Some(JsonWebKeyId::new(self.kid.clone())))
    }
}

/// A signing key of either kind.
#[derive(Debug)]
pub enum SigningKey {
    /// ES256.
    Ec(EcSigningKey),
    /// RS256.
    Rsa(RsaSigningKey),
}

impl SigningKey {
    /// Reads a stored key of algorithm `alg`.
    pub fn from_pkcs8(alg: &str, pkcs8: &[u8]) -> Result<Self, KeyError> {
        match alg {
            "ES256" => Ok(SigningKey::Ec(EcSigningKey::from_pkcs8(pkcs8)?)),
            "RS256" => Ok(SigningKey::Rsa(RsaSigningKey::from_pkcs8(pkcs8)?)),
            _ => Err(KeyError),
        }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        match self {
            SigningKey::Ec(k) => k.kid(),
            SigningKey::Rsa(k) => k.kid(),
        }
    }

    /// The public JWK (`use: sig`, with the kid).
    pub fn jwk(&self) -> CoreJsonWebKey {
        self.as_verification_key()
    }

    /// The JWS algorithm this key signs with.
    fn alg(&self) -> CoreJwsSigningAlgorithm {
        match self {
            SigningKey::Ec(_) => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            SigningKey::Rsa(_) => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        }
    }

    /// Signs an ID token carrying `claims` (iss, sub, aud, exp, iat … and our own claims).
    pub fn sign_id_token(&self, claims: &Value) -> Result<String, KeyError> {
        let typed: IdTokenClaims<ProcuraClaims, CoreGenderClaim> =
            serde_json::from_value(claims.clone()).map_err(|_| KeyError)?;
        keeps_every_claim(claims, &typed)?;
        let token =
            ProcuraIdToken::new(typed, self, self.alg(), None, None).map_err(|_| KeyError)?;
        Ok(token.to_string())
    }

    /// Signs a userinfo response (`application/jwt`) carrying `claims`, `iss` and `aud`.
    pub fn sign_userinfo(&self, claims: &Value) -> Result<String, KeyError> {
        let bytes = serde_json::to_vec(claims).map_err(|_| KeyError)?;
        let typed = UserInfoClaims::<ProcuraClaims, CoreGenderClaim>::from_json::<
            std::convert::Infallible,
        >(&bytes, None)
        .map_err(|_| KeyError)?;
        keeps_every_claim(claims, &typed)?;
        let jwt = ProcuraUserInfoJwt::new(typed, self, self.alg()).map_err(|_| KeyError)?;
        match serde_json::to_value(&jwt) {
            Ok(Value::String(compact)) => Ok(compact),
            _ => Err(KeyError),
        }
    }
}

impl PrivateSigningKey for SigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(&self, alg: &CoreJwsSigningAlgorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        match self {
            SigningKey::Ec(k) => k.sign(alg, message),
            SigningKey::Rsa(k) => k.sign(alg, message),
        }
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        match self {
            SigningKey::Ec(k) => k.as_verification_key(),
            SigningKey::Rsa(k) => k.as_verification_key(),
        }
    }
}

/// Refuses to sign when the typed claims lost or changed a claim given: a claim the typed
/// form does not know would otherwise vanish from the token silently. A single audience
/// may become a one-element array (openidconnect always writes `aud` as an array).
fn keeps_every_claim(given: &Value, typed: &impl Serialize) -> Result<(), KeyError> {
    let built = serde_json::to_value(typed).map_err(|_| KeyError)?;
    let given = given.as_object().ok_or(KeyError)?;
    let kept = given.iter().filter(|(_, v)| !v.is_null()).all(|(k, v)| {
        built.get(k) == Some(v) || (k == "aud" && v.is_string() && built[k] == json!([v]))
    });
    if kept {
        Ok(())
    } else {
        Err(KeyError)
    }
}

/// The single audience of verified claims (`aud` as a string or a one-element array).
pub fn single_audience(claims: &Value) -> Option<&str> {
    match &claims["aud"] {
        Value::String(a) => Some(a),
        Value::Array(a) if a.len() == 1 => a[0].as_str(),
        _ => None,
    }
}

/// The claims of a compact JWS signed (ES256 or RS256) by one of `keys`, or `None`. The
/// header's `alg` must be one of ours and fit the key's type (so `none` and HMAC are
/// refused); when the header names a `kid`, only that key is tried.
pub fn verify_jwt(jwt: &str, keys: &[CoreJsonWebKey]) -> Option<Value> {
    let mut parts = jwt.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let h: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if h.get("crit").is_some() {
        return None;
    }
    let (alg, crv) = match h["alg"].as_str()? {
        "ES256" => (CoreJwsSigningAlgorithm::EcdsaP256Sha256, Some("P-256")),
        "RS256" => (CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, None),
        _ => return None,
    };
    let kid = match h.get("kid") {
        Some(k) => Some(k.as_str()?),
        None => None,
    };
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let input = &jwt[..header.len() + 1 + payload.len()];
    keys.iter()
        .filter(|k| kid.is_none_or(|kid| k.key_id().is_some_and(|id| id.as_str() == kid)))
        // verify_signature checks the key type; the curve is checked here, as openidconnect
        // picks the curve from the key rather than from the algorithm.
        .filter(|k| crv.is_none_or(|crv| serde_json::to_value(k).is_ok_and(|v| v["crv"] == crv)))
        .find(|k| {
            k.verify_signature(&alg, input.as_bytes(), &signature)
                .is_ok()
        })?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    /// A fixed P-256 test key (PKCS#8), to pin the kid derivation.
    const EC_TEST_KEY: &str = concat!(
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVNhzIi99NIelShUMdtWwR7De18JE",
        "/rPsqhtLvI3IkQ6hRANCAATYTV8jhVNW+1K7i0/2Qc59bpIkuCVAzsZfXwWHQKFQxzyZSXfkhzzp",
        "a3vRfjW0cQwHzA7m7aje8hzl+HbN5+fH",
    );

    /// A fixed 2048-bit RSA test key (PKCS#8): `ring` cannot generate RSA keys.
    const RSA_TEST_KEY: &str = concat!(
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCpjXnR91xQ1lZuTXNZryln5oBu",
        "0/Na0ORX81cUkJ3pMKw0La/UbFhN85PZMlHQDs+zwMV2KXYznJVFMuF/QqxHL5rw1IfFnF6ja4+j",
        "AfNXEe2ECvFk58hWJjAZKuSUmMr0vAZTrnrU18O1N62RMS3IjFBorHUzo50Zem2cnpbKaitmWjO5",
        "v862I8ZI7U6so01m72PYOFs20zuOrpkyObwQ+NR7DpdCPbPNYkAcS6LwmgOASVYUoE0goG2IekcP",
        "bPKP/JzQuAD2PR/dZKf5JUm2VAok7gaIKfpq+JWKzIJMCR663UWbwqjygP/wh9ZGmvNcGx9hsLrI",
        "bI3xT77/KK1LAgMBAAECggEARG71OcFIkdoI1YlOIucXY7e9o73JTaDdYQA25/Z8vddm0cKU4rx+",
        "IaxLwtDUA5FO1MLcEBao/ijXeLASIq6y4SJ+O3DUgfZcnkH2HflWEZELWA2go7UHf3n3VNkinDVV",
        "SVUwior0Sb7yX0yjMeRzEaxMcgsVXOvPJy7qWdoKi5SJSS1ODeiDDIpFrIMhb5vYyRcuTnylrx70",
        "/Uj05o2a83LfjZ3AiUCUadERBs63qpfFFOWYkQwSwViLaJOMVU5eAF1GVYV1BtZZUs0cmVwhyJEV",
        "Fj+0AJO7aSNIiL/QZ7AYiyKXFDXIEz5jnXFnzlbsbQ5U+ZLjMPPnVwoRNkfOpQKBgQDVQbgcyntu",
        "rF1RvOOvfROIApj4aRYhOccShjwvJIOC4QIpbGomxqwIzIE/XV5srC+jhhoPpeoM03oS98xRiNAe",
        "4gD3xexgAq2FKlgY+Sd/k1BkxqkJHG9c3cKqsIorOMCh6uU/5KV03QEbFAVRq7LK70mSDpkn1k/m",
        "/jHavbbQpQKBgQDLiUjP0qN/JdzeHiKVBX91rJM+HCi2yiijEkVNirRMIvP7hVxK5xJ2X/7RWnmw",
        "kPcKF6Dn63EZKfjOZDCUjr/8AYgBDcJJ9QES0UxuG/fu1sk7fJpHzwnV506SFvOwjJuRHp8S4l8k",
        "caZdosjgE0BvHTHFdVqWXlYUP+7DANGzLwKBgA5tndlE0ckRHFc1YmozGikvk83qvjaNRCy6rEO8",
        "QrGOK6lFzoDFHEqUG4J//K15kNeNcSHx5b3saOvzm/1ANmSAgfRBjdaJF9hUnxVBdiypeNz4m+Mj",
        "61zrHAqUWyTFeDL8Q3ppK9CWS0bbuehmp3gXbHDXUAFj/I/yTskv4LiJAoGAR9fsoJbsaSwXOzwN",
        "3uYy6HmC+9B6upK/J1iCp+1G2P0Ze/XF7xaDWM9npcQ24hE5chGHFXXw1P4QueF5mGaO88gilqSh",
        "qPNXbqn8PX2X1XFxVJMV7jTxdtSP0ldRq0bmfqH9anAHP1jybWjRWO7StqXqdJWI5TzlS36Jq8F1",
        "Q7cCgYEAgJKjdFF/gXgol1Id6jIwtGE2TBL413AB51bMa/Ka4698+hX1hBhBCqOo1hvkQtxQRjDy",
        "UxW8+aol/OFfL1UuQV2zqH+rFbfusDzyFOGU9LDTyUAmZaL54bso923UvCVZkbBCXueVYSX9Tqc/",
        "hfk0gJvjqS77r7nLevRRNfPof4g=",
    );

    fn key(alg: &str, b64: &str) -> SigningKey {
        SigningKey::from_pkcs8(alg, &STANDARD.decode(b64).expect("base64")).expect("key")
    }

    fn ec() -> SigningKey {
        SigningKey::Ec(EcSigningKey::generate().expect("key"))
    }

    fn rsa() -> SigningKey {
        key("RS256", RSA_TEST_KEY)
    }

    fn claims() -> Value {
        json!({
            "iss": "https://procura.example.fr", "sub": "usager-pairwise", "aud": "rp",
            "exp": 1_900_000_060, "iat": 1_900_000_000, "auth_time": 1_899_999_990,
            "nonce": "n-1", "acr": "eidas1", "amr": ["pwd", "otp"], "at_hash": "abc",
            "given_name": "Angela Claire Louise", "family_name": "DUBOIS",
            "birthdate": "1962-08-00", "gender": "female", "preferred_username": "MARTIN",
            "email": "angela@exemple.fr", "birthplace": "75107", "birthcountry": "99100",
            "act": {"sub": "aidant-pairwise"}, "demarche": "social",
        })
    }

    /// Replaces one part of a compact JWT.
    fn with_part(jwt: &str, i: usize, part: &Value) -> String {
        let mut parts: Vec<String> = jwt.split('.').map(String::from).collect();
        parts[i] = URL_SAFE_NO_PAD.encode(part.to_string());
        parts.join(".")
    }

    fn decoded(jwt: &str, i: usize) -> Value {
        let part = jwt.split('.').nth(i).expect("part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("b64")).expect("json")
    }

    #[test]
    fn kids_are_derived_from_the_public_key_as_before() {
        assert_eq!(key("ES256", EC_TEST_KEY).kid(), "13e5e6f244617e86");
        assert_eq!(rsa().kid(), "rsa-bc5fb5e8e1e5e2ce");
        let k = EcSigningKey::generate().expect("key");
        let again = EcSigningKey::from_pkcs8(k.pkcs8()).expect("reload");
        assert_eq!(again.kid(), k.kid());
        assert!(SigningKey::from_pkcs8("RS256", k.pkcs8()).is_err());
        assert!(SigningKey::from_pkcs8("HS256", k.pkcs8()).is_err());
    }

    #[test]
    fn jwks_hold_public_parts_for_signature_only() {
        let ec = serde_json::to_value(key("ES256", EC_TEST_KEY).jwk()).expect("json");
        assert_eq!(ec["kty"], "EC");
        assert_eq!(ec["crv"], "P-256");
        assert_eq!(ec["use"], "sig");
        assert_eq!(ec["kid"], "13e5e6f244617e86");
        assert!(ec["x"].is_string() && ec["y"].is_string() && ec.get("d").is_none());
        let rsa = serde_json::to_value(rsa().jwk()).expect("json");
        assert_eq!(rsa["kty"], "RSA");
        assert_eq!(rsa["e"], "AQAB");
        assert_eq!(rsa["use"], "sig");
        assert!(rsa["n"].is_string() && rsa.get("d").is_none());
    }

    #[test]
    fn id_tokens_verify_and_carry_every_claim() {
        for (k, alg) in [(ec(), "ES256"), (rsa(), "RS256")] {
            let jwt = k.sign_id_token(&claims()).expect("sign");
            let header = decoded(&jwt, 0);
            assert_eq!(header["alg"], alg);
            assert_eq!(header["kid"], k.kid());
            let got = verify_jwt(&jwt, &[k.jwk()]).expect("valid");
            let mut want = claims();
            want["aud"] = json!(["rp"]);
            assert_eq!(got, want, "{alg}");
            assert_eq!(single_audience(&got), Some("rp"));
        }
    }

    #[test]
    fn signed_userinfo_verifies_and_carries_every_claim() {
        let mut c = json!({
            "sub": "usager-pairwise", "family_name": "DUBOIS", "birthplace": "75107",
            "act": {"sub": "aidant-pairwise"}, "demarche": "social",
            "iss": "https://procura.example.fr", "aud": "rp",
        });
        for k in [ec(), rsa()] {
            let jwt = k.sign_userinfo(&c).expect("sign");
            let got = verify_jwt(&jwt, &[k.jwk()]).expect("valid");
            assert_eq!(got["aud"], json!(["rp"]));
            assert_eq!(got["act"]["sub"], "aidant-pairwise");
            c["aud"] = json!(["rp"]);
            assert_eq!(got, c);
            c["aud"] = json!("rp");
        }
    }

    #[test]
    fn claims_that_cannot_be_carried_faithfully_are_not_signed() {
        let mut unknown = claims();
        unknown["mandate"] = json!("m-1");
        assert!(ec().sign_id_token(&unknown).is_err());
        let mut bad_act = claims();
        bad_act["act"] = json!({"sub": "a", "structure": "s"});
        assert!(ec().sign_id_token(&bad_act).is_err());
        assert!(
            ec().sign_id_token(&json!({"sub": "x"})).is_err(),
            "iss, aud, exp, iat"
        );
    }

    #[test]
    fn wrong_keys_and_tampering_are_refused() {
        let (k, other, r) = (ec(), ec(), rsa());
        let jwt = k.sign_id_token(&claims()).expect("sign");
        assert!(verify_jwt(&jwt, &[other.jwk()]).is_none(), "another EC key");
        assert!(
            verify_jwt(&jwt, &[r.jwk()]).is_none(),
            "an RSA key for ES256"
        );
        assert!(verify_jwt(&jwt, &[]).is_none());
        assert!(
            verify_jwt(&jwt, &[other.jwk(), k.jwk()]).is_some(),
            "found by kid"
        );
        let mut more = claims();
        more["sub"] = json!("someone-else");
        assert!(verify_jwt(&with_part(&jwt, 1, &more), &[k.jwk()]).is_none());
        let mut header = decoded(&jwt, 0);
        header["kid"] = json!(other.kid());
        assert!(verify_jwt(&with_part(&jwt, 0, &header), &[k.jwk()]).is_none());
        assert!(verify_jwt(&format!("{jwt}.x"), &[k.jwk()]).is_none());
        let rs = r.sign_id_token(&claims()).expect("sign");
        let mut header = decoded(&rs, 0);
        header["alg"] = json!("ES256");
        assert!(verify_jwt(&with_part(&rs, 0, &header), &[r.jwk()]).is_none());
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_refused() {
        let k = ec();
        let jwt = k.sign_id_token(&claims()).expect("sign");
        let body = jwt.split('.').nth(1).expect("payload");
        let h = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!("{}.{body}.", h(json!({"alg": "none", "kid": k.kid()})));
        assert!(verify_jwt(&none, &[k.jwk()]).is_none());
        let hs = format!("{}.{body}.c2ln", h(json!({"alg": "HS256"})));
        assert!(verify_jwt(&hs, &[k.jwk()]).is_none());
    }

    #[test]
    fn keys_sign_only_their_own_algorithm() {
        let msg = b"a.b";
        let ec = EcSigningKey::generate().expect("key");
        assert!(ec
            .sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, msg)
            .is_err());
        assert!(rsa()
            .sign(&CoreJwsSigningAlgorithm::EcdsaP256Sha256, msg)
            .is_err());
        assert!(rsa()
            .sign(&CoreJwsSigningAlgorithm::HmacSha256, msg)
            .is_err());
    }
}
