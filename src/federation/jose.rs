//! JSON Web Signatures with `ring`: ES256 signing keys, their JWKs, compact JWTs; signatures
//! are verified by `openidconnect`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use openidconnect::JsonWebKey;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

/// An ES256 (ECDSA P-256, SHA-256) signing key with its key id.
pub struct EcSigningKey {
    kid: String,
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for EcSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcSigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A key could not be made or read.
#[derive(Debug, thiserror::Error)]
#[error("invalid signing key")]
pub struct KeyError;

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
        Ok(EcSigningKey {
            kid,
            pair,
            pkcs8: pkcs8.to_vec(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The PKCS#8 document (to store, encrypted).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public JWK.
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key().as_ref();
        // Uncompressed point: 0x04 ‖ x (32 bytes) ‖ y (32 bytes).
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&public[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&public[33..65]),
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
        })
    }

    /// Signs `claims` as a compact JWT with `typ`.
    pub fn sign(&self, typ: &str, claims: &Value) -> Result<String, KeyError> {
        let header = json!({"alg": "ES256", "kid": self.kid, "typ": typ});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| KeyError)?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }
}

/// An RS256 signing key imported by the operator (`ring` cannot generate RSA keys).
pub struct RsaSigningKey {
    kid: String,
    pair: ring::signature::RsaKeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for RsaSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaSigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl RsaSigningKey {
    /// Reads a PKCS#8 DER document (2048 bits or more).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = ring::signature::RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| KeyError)?;
        if pair.public().modulus_len() < 256 {
            return Err(KeyError);
        }
        let kid = format!(
            "rsa-{}",
            &crate::crypto::sha256_hex(pair.public().as_ref())[..16]
        );
        Ok(RsaSigningKey {
            kid,
            pair,
            pkcs8: pkcs8.to_vec(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The PKCS#8 document.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public JWK.
    pub fn jwk(&self) -> Value {
        let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(self.pair.public());
        json!({
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(&c.n),
            "e": URL_SAFE_NO_PAD.encode(&c.e),
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
        })
    }

    /// Signs `claims` as a compact RS256 JWT.
    pub fn sign(&self, typ: &str, claims: &Value) -> Result<String, KeyError> {
        let header = json!({"alg": "RS256", "kid": self.kid, "typ": typ});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| KeyError)?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
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

    /// The public JWK.
    pub fn jwk(&self) -> Value {
        match self {
            SigningKey::Ec(k) => k.jwk(),
            SigningKey::Rsa(k) => k.jwk(),
        }
    }

    /// Signs a JWT.
    pub fn sign(&self, typ: &str, claims: &Value) -> Result<String, KeyError> {
        match self {
            SigningKey::Ec(k) => k.sign(typ, claims),
            SigningKey::Rsa(k) => k.sign(typ, claims),
        }
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

    fn public(k: &EcSigningKey) -> CoreJsonWebKey {
        serde_json::from_value(k.jwk()).expect("a JWK")
    }

    #[test]
    fn sign_and_verify() {
        let k = EcSigningKey::generate().expect("key");
        let jwt = k
            .sign("JWT", &json!({"sub": "x", "aud": "rp"}))
            .expect("sign");
        let claims = verify_jwt(&jwt, &[public(&k)]).expect("valid");
        assert_eq!(claims["sub"], "x");
        assert_eq!(single_audience(&claims), Some("rp"));
        let other = EcSigningKey::generate().expect("key");
        assert!(verify_jwt(&jwt, &[public(&other)]).is_none());
        let again = EcSigningKey::from_pkcs8(k.pkcs8()).expect("reload");
        assert_eq!(again.kid(), k.kid());
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_refused() {
        let k = EcSigningKey::generate().expect("key");
        let jwt = k.sign("JWT", &json!({"sub": "x"})).expect("sign");
        let body = jwt.split('.').nth(1).expect("payload");
        let h = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!("{}.{body}.", h(json!({"alg": "none", "kid": k.kid()})));
        assert!(verify_jwt(&none, &[public(&k)]).is_none());
        let hs = format!("{}.{body}.c2ln", h(json!({"alg": "HS256"})));
        assert!(verify_jwt(&hs, &[public(&k)]).is_none());
    }
}
