//! Signing keys: generation, import, rotation, the JWKS, and a cache of decrypted keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use openidconnect::core::CoreJsonWebKey;
use serde_json::{json, Value};

use crate::crypto::SecretBox;
use crate::error::Error;
use crate::federation::jose::{EcSigningKey, SigningKey};
use crate::journal::{self, NewEntry};
use crate::store::schema::signing_keys;
use crate::store::DbConn;

fn key_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// Creates the first signing key if there is none (journaled).
pub fn ensure_signing_key(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
) -> Result<(), Error> {
    let n: i64 = signing_keys::table
        .filter(signing_keys::retired_at.is_null())
        .filter(signing_keys::alg.eq("ES256"))
        .count()
        .get_result(conn)?;
    if n == 0 {
        add_key(conn, now, secrets, "system", "keys.generated")?;
    }
    Ok(())
}

fn add_key(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    actor: &str,
    action: &str,
) -> Result<String, Error> {
    let key = EcSigningKey::generate().map_err(|_| Error::Key)?;
    store_key(
        conn,
        now,
        secrets,
        actor,
        action,
        key.kid(),
        "ES256",
        key.pkcs8(),
    )
}

/// Stores a key sealed with the master key and journals it.
#[allow(clippy::too_many_arguments)]
fn store_key(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    actor: &str,
    action: &str,
    kid: &str,
    alg: &str,
    pkcs8: &[u8],
) -> Result<String, Error> {
    diesel::insert_into(signing_keys::table)
        .values((
            signing_keys::kid.eq(kid),
            signing_keys::alg.eq(alg),
            signing_keys::pkcs8_enc.eq(secrets.seal(&key_context(kid), pkcs8)?),
            signing_keys::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    journal::append(
        conn,
        now,
        NewEntry::new(action)
            .actor(actor)
            .detail("kid", kid)
            .detail("alg", alg),
    )?;
    Ok(kid.to_string())
}

/// The PKCS#8 DER of a key file's content: PEM (`-----BEGIN PRIVATE KEY-----`) is
/// decoded, anything else taken as DER.
pub fn pkcs8_der(raw: &[u8]) -> Result<Vec<u8>, Error> {
    match std::str::from_utf8(raw) {
        Ok(text) if text.contains("-----BEGIN PRIVATE KEY-----") => {
            let body: String = text
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::trim)
                .collect::<Vec<_>>()
                .concat();
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body.trim())
                .map_err(|_| Error::Invalid("PEM illisible".into()))
        }
        _ => Ok(raw.to_vec()),
    }
}

/// Imports an RSA key (PKCS#8 DER) for RS256 clients; older RSA keys are retired.
pub fn import_rsa_key(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    actor: &str,
    pkcs8: &[u8],
) -> Result<String, Error> {
    let key = crate::federation::jose::RsaSigningKey::from_pkcs8(pkcs8).map_err(|_| {
        Error::Invalid("clé RSA refusée : PKCS#8 (DER ou PEM), 2048 bits au moins".into())
    })?;
    diesel::update(
        signing_keys::table
            .filter(signing_keys::retired_at.is_null())
            .filter(signing_keys::alg.eq("RS256")),
    )
    .set(signing_keys::retired_at.eq(Some(now.naive_utc())))
    .execute(conn)?;
    store_key(
        conn,
        now,
        secrets,
        actor,
        "keys.imported",
        key.kid(),
        "RS256",
        key.pkcs8(),
    )
}

/// Retires the current key(s) and makes a new one sign; returns the new kid.
pub fn rotate_keys(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    actor: &str,
) -> Result<String, Error> {
    diesel::update(
        signing_keys::table
            .filter(signing_keys::retired_at.is_null())
            .filter(signing_keys::alg.eq("ES256")),
    )
    .set(signing_keys::retired_at.eq(Some(now.naive_utc())))
    .execute(conn)?;
    add_key(conn, now, secrets, actor, "keys.rotated")
}

/// Decrypted signing keys by kid: opening and parsing a key costs more than signing, and
/// keys never change once stored (rotation adds a new kid).
#[derive(Default)]
pub struct KeyCache(Mutex<HashMap<String, Arc<SigningKey>>>);

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache(<redacted>)")
    }
}

impl KeyCache {
    fn get(
        &self,
        secrets: &SecretBox,
        kid: &str,
        alg: &str,
        enc: &str,
    ) -> Result<Arc<SigningKey>, Error> {
        if let Some(k) = self.0.lock().ok().and_then(|m| m.get(kid).cloned()) {
            return Ok(k);
        }
        let k = Arc::new(
            SigningKey::from_pkcs8(alg, &secrets.open(&key_context(kid), enc)?)
                .map_err(|_| Error::Key)?,
        );
        if let Ok(mut m) = self.0.lock() {
            m.insert(kid.to_string(), k.clone());
        }
        Ok(k)
    }
}

/// The key that signs `alg` now (the newest unretired one).
pub fn signing_key(
    conn: &mut DbConn,
    secrets: &SecretBox,
    cache: &KeyCache,
    alg: &str,
) -> Result<Arc<SigningKey>, Error> {
    let (kid, enc): (String, String) = signing_keys::table
        .filter(signing_keys::retired_at.is_null())
        .filter(signing_keys::alg.eq(alg))
        .order(signing_keys::created_at.desc())
        .select((signing_keys::kid, signing_keys::pkcs8_enc))
        .first(conn)?;
    cache.get(secrets, &kid, alg, &enc)
}

/// The published keys: current ones and retired ones still in their grace period.
pub fn published_keys(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    cache: &KeyCache,
    grace: Duration,
) -> Result<Vec<CoreJsonWebKey>, Error> {
    let rows: Vec<(String, String, String, Option<NaiveDateTime>)> = signing_keys::table
        .order(signing_keys::created_at.desc())
        .select((
            signing_keys::kid,
            signing_keys::alg,
            signing_keys::pkcs8_enc,
            signing_keys::retired_at,
        ))
        .load(conn)?;
    let mut keys = Vec::new();
    for (kid, alg, enc, retired) in rows {
        if retired.is_some_and(|r| r + grace <= now.naive_utc()) {
            continue;
        }
        keys.push(cache.get(secrets, &kid, &alg, &enc)?.jwk());
    }
    Ok(keys)
}

/// The published JWKS document (`{"keys": [...]}`).
pub fn jwks(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    cache: &KeyCache,
    grace: Duration,
) -> Result<Value, Error> {
    let keys = published_keys(conn, now, secrets, cache, grace)?;
    Ok(json!({ "keys": keys }))
}

/// A signing key as the operator sees it (never its private half).
#[derive(Debug, Clone, Queryable)]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// `ES256` or `RS256`.
    pub alg: String,
    /// When it was made or imported.
    pub created_at: NaiveDateTime,
    /// When it stopped signing (still published during the grace period).
    pub retired_at: Option<NaiveDateTime>,
}

/// Every signing key, newest first.
pub fn key_list(conn: &mut DbConn) -> QueryResult<Vec<KeyInfo>> {
    signing_keys::table
        .order((signing_keys::created_at.desc(), signing_keys::kid.asc()))
        .select((
            signing_keys::kid,
            signing_keys::alg,
            signing_keys::created_at,
            signing_keys::retired_at,
        ))
        .load(conn)
}
