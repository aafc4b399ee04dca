//! Procura as the OpenID provider of the federation: clients, signing keys, interactions,
//! authorization codes, tokens, the ID token and userinfo claims.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use ring::hmac;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::jose::{EcSigningKey, SigningKey};
use crate::crypto::{constant_time_eq, new_token, sha256_hex, CryptoError, SecretBox};
use crate::domain::mandate::{authorisation_state, AuthorisationState};
use crate::journal::{self, JournalError, NewEntry};
use crate::mandates::Usager;
use crate::store::schema::{
    access_tokens, authorisations, authorization_codes, mandates, oidc_clients, oidc_interactions,
    signing_keys, usagers,
};
use crate::store::DbConn;

/// Lifetime of an authorization code.
pub const CODE_SECONDS: i64 = 60;
/// Lifetime of an interaction (login and choices).
pub const INTERACTION_MINUTES: i64 = 15;
/// The level of assurance Procura asserts (two factors, accredited aidant).
pub const ACR: &str = "eidas1";

/// Errors of the provider.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Bad input from an administrator.
    #[error("{0}")]
    Invalid(String),
    /// Unknown object.
    #[error("introuvable")]
    NotFound,
    /// Crypto failure.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Journal failure.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Storage failure.
    #[error("erreur de base de données : {0}")]
    Query(#[from] diesel::result::Error),
    /// Key failure.
    #[error("clé de signature invalide")]
    Key,
}

/// Token endpoint authentication methods.
pub const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

/// A registered client.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = oidc_clients)]
pub struct Client {
    /// client_id.
    pub id: String,
    /// Name shown to aidants.
    pub name: String,
    /// SHA-256 of the secret (None for public clients).
    #[serde(skip)]
    pub secret_hash: Option<String>,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub auth_method: String,
    /// ID token signing algorithm: `ES256` (default) or `RS256`.
    pub id_token_alg: String,
    /// JSON array of exact redirect URIs.
    pub redirect_uris: String,
    /// JSON array of post-logout redirect URIs.
    pub post_logout_redirect_uris: String,
    /// Active flag.
    pub active: bool,
    /// Creation.
    pub created_at: NaiveDateTime,
}

impl Client {
    /// Registered redirect URIs.
    pub fn redirects(&self) -> Vec<String> {
        serde_json::from_str(&self.redirect_uris).unwrap_or_default()
    }

    /// Registered post-logout redirect URIs.
    pub fn post_logout_redirects(&self) -> Vec<String> {
        serde_json::from_str(&self.post_logout_redirect_uris).unwrap_or_default()
    }

    /// Checks a presented secret in constant time.
    pub fn secret_matches(&self, secret: &str) -> bool {
        match &self.secret_hash {
            Some(h) => constant_time_eq(h.as_bytes(), sha256_hex(secret.as_bytes()).as_bytes()),
            None => false,
        }
    }
}

/// Checks a redirect URI for registration: absolute, https (or http on loopback), no fragment.
pub fn check_redirect_uri(u: &str) -> Result<(), String> {
    let url = url::Url::parse(u).map_err(|_| format!("{u:?} n’est pas une URL absolue"))?;
    if url.fragment().is_some() {
        return Err(format!("{u:?} ne doit pas contenir de fragment (#)"));
    }
    let loopback = matches!(
        url.host_str(),
        Some("127.0.0.1") | Some("localhost") | Some("[::1]")
    );
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "{u:?} doit utiliser https (http seulement sur 127.0.0.1 ou localhost)"
        )),
    }
}

/// Registers a client signing ID tokens with ES256; returns it and its secret (shown once).
pub fn create_client(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    name: &str,
    redirects: &[String],
    post_logout: &[String],
    auth_method: &str,
) -> Result<(Client, Option<String>), ProviderError> {
    create_client_with_alg(
        conn,
        now,
        actor,
        name,
        redirects,
        post_logout,
        auth_method,
        "ES256",
    )
}

/// Registers a client; `alg` is `ES256` or `RS256` (RS256 needs an imported RSA key).
#[allow(clippy::too_many_arguments)]
pub fn create_client_with_alg(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: &str,
    name: &str,
    redirects: &[String],
    post_logout: &[String],
    auth_method: &str,
    alg: &str,
) -> Result<(Client, Option<String>), ProviderError> {
    if !matches!(alg, "ES256" | "RS256") {
        return Err(ProviderError::Invalid(format!(
            "algorithme {alg:?} : ES256 ou RS256"
        )));
    }
    if alg == "RS256" {
        let n: i64 = signing_keys::table
            .filter(signing_keys::alg.eq("RS256"))
            .filter(signing_keys::retired_at.is_null())
            .count()
            .get_result(conn)?;
        if n == 0 {
            return Err(ProviderError::Invalid(
                "RS256 demande une clé RSA importée d’abord (procura keys import-rsa FICHIER)"
                    .into(),
            ));
        }
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ProviderError::Invalid(
            "le nom du client est obligatoire (200 caractères au plus)".into(),
        ));
    }
    if !AUTH_METHODS.contains(&auth_method) {
        return Err(ProviderError::Invalid(format!(
            "méthode d’authentification inconnue {auth_method:?} : client_secret_basic, client_secret_post ou none"
        )));
    }
    if redirects.is_empty() {
        return Err(ProviderError::Invalid(
            "au moins une --redirect-uri est nécessaire".into(),
        ));
    }
    for u in redirects.iter().chain(post_logout) {
        check_redirect_uri(u).map_err(ProviderError::Invalid)?;
    }
    let secret = (auth_method != "none").then(new_token);
    let c = Client {
        id: format!("procura-{}", &new_token()[..22]),
        name: name.to_string(),
        secret_hash: secret.as_ref().map(|s| sha256_hex(s.as_bytes())),
        auth_method: auth_method.to_string(),
        id_token_alg: alg.to_string(),
        redirect_uris: serde_json::to_string(redirects).unwrap_or_default(),
        post_logout_redirect_uris: serde_json::to_string(post_logout).unwrap_or_default(),
        active: true,
        created_at: now.naive_utc(),
    };
    diesel::insert_into(oidc_clients::table)
        .values(&c)
        .execute(conn)?;
    journal::append(
        conn,
        now,
        NewEntry::new("client.created")
            .actor(actor)
            .client(&c.id)
            .detail("auth_method", auth_method)
            .detail("id_token_alg", alg)
            .detail("redirect_uris", redirects.to_vec()),
    )?;
    Ok((c, secret))
}

/// Registers or refreshes the demo's sample client (fixed id and public secret), so its
/// redirect URIs follow the demo's public URL.
pub fn ensure_demo_client(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    secret: &str,
    redirect: &str,
    post_logout: &str,
) -> Result<(), ProviderError> {
    let redirects = serde_json::to_string(&[redirect]).unwrap_or_default();
    let post = serde_json::to_string(&[post_logout]).unwrap_or_default();
    match client(conn, id)? {
        Some(c) if c.redirect_uris == redirects && c.post_logout_redirect_uris == post => Ok(()),
        Some(_) => {
            diesel::update(oidc_clients::table.filter(oidc_clients::id.eq(id)))
                .set((
                    oidc_clients::redirect_uris.eq(&redirects),
                    oidc_clients::post_logout_redirect_uris.eq(&post),
                ))
                .execute(conn)?;
            journal::append(
                conn,
                now,
                NewEntry::new("client.updated")
                    .actor("system")
                    .client(id)
                    .detail("redirect_uris", vec![redirect]),
            )?;
            Ok(())
        }
        None => {
            let c = Client {
                id: id.to_string(),
                name: "Site administratif de démonstration".into(),
                secret_hash: Some(sha256_hex(secret.as_bytes())),
                auth_method: "client_secret_basic".into(),
                id_token_alg: "ES256".into(),
                redirect_uris: redirects,
                post_logout_redirect_uris: post,
                active: true,
                created_at: now.naive_utc(),
            };
            diesel::insert_into(oidc_clients::table)
                .values(&c)
                .execute(conn)?;
            journal::append(
                conn,
                now,
                NewEntry::new("client.created")
                    .actor("system")
                    .client(id)
                    .detail("auth_method", "client_secret_basic")
                    .detail("redirect_uris", vec![redirect]),
            )?;
            Ok(())
        }
    }
}

/// An active client by id.
pub fn client(conn: &mut DbConn, id: &str) -> QueryResult<Option<Client>> {
    oidc_clients::table
        .filter(oidc_clients::id.eq(id))
        .filter(oidc_clients::active.eq(true))
        .select(Client::as_select())
        .first(conn)
        .optional()
}

// ---------------------------------------------------------------- signing keys

fn key_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// Creates the first signing key if there is none (journaled).
pub fn ensure_signing_key(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
) -> Result<(), ProviderError> {
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
) -> Result<String, ProviderError> {
    let key = EcSigningKey::generate().map_err(|_| ProviderError::Key)?;
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
) -> Result<String, ProviderError> {
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

/// Imports an RSA key (PKCS#8 DER) for RS256 clients; older RSA keys are retired.
pub fn import_rsa_key(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    actor: &str,
    pkcs8: &[u8],
) -> Result<String, ProviderError> {
    let key = super::jose::RsaSigningKey::from_pkcs8(pkcs8).map_err(|_| {
        ProviderError::Invalid("clé RSA refusée : PKCS#8 (DER ou PEM), 2048 bits au moins".into())
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
) -> Result<String, ProviderError> {
    diesel::update(
        signing_keys::table
            .filter(signing_keys::retired_at.is_null())
            .filter(signing_keys::alg.eq("ES256")),
    )
    .set(signing_keys::retired_at.eq(Some(now.naive_utc())))
    .execute(conn)?;
    add_key(conn, now, secrets, actor, "keys.rotated")
}

/// The key that signs `alg` now (the newest unretired one).
pub fn signing_key(
    conn: &mut DbConn,
    secrets: &SecretBox,
    alg: &str,
) -> Result<SigningKey, ProviderError> {
    let (kid, enc): (String, String) = signing_keys::table
        .filter(signing_keys::retired_at.is_null())
        .filter(signing_keys::alg.eq(alg))
        .order(signing_keys::created_at.desc())
        .select((signing_keys::kid, signing_keys::pkcs8_enc))
        .first(conn)?;
    SigningKey::from_pkcs8(alg, &secrets.open(&key_context(&kid), &enc)?)
        .map_err(|_| ProviderError::Key)
}

/// The published JWKS: current keys and retired ones still in their grace period.
pub fn jwks(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    grace: Duration,
) -> Result<Value, ProviderError> {
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
        let k = SigningKey::from_pkcs8(&alg, &secrets.open(&key_context(&kid), &enc)?)
            .map_err(|_| ProviderError::Key)?;
        keys.push(k.jwk());
    }
    Ok(json!({ "keys": keys }))
}

// ---------------------------------------------------------------- claims

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
pub const SCOPES: [&str; 13] = [
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
    "email",
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

// ---------------------------------------------------------------- interactions

/// An authorization request in progress.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_interactions)]
pub struct Interaction {
    /// Id (random; in the URL).
    pub id: String,
    /// Session that started it.
    pub session_hash: String,
    /// Client.
    pub client_id: String,
    /// Validated redirect URI.
    pub redirect_uri: String,
    /// Client state.
    pub state: Option<String>,
    /// Nonce.
    pub nonce: String,
    /// Scope.
    pub scope: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// prompt.
    pub prompt: Option<String>,
    /// max_age.
    pub max_age: Option<i64>,
    /// Chosen usager.
    pub usager_id: Option<String>,
    /// `pending`, `done`, `cancelled`.
    pub status: String,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Expiry.
    pub expires_at: NaiveDateTime,
}

/// Stores a validated authorization request.
pub fn start_interaction(conn: &mut DbConn, i: &Interaction) -> QueryResult<()> {
    diesel::insert_into(oidc_interactions::table)
        .values(i)
        .execute(conn)?;
    Ok(())
}

/// A pending interaction of this session.
pub fn interaction(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    session_hash: &str,
) -> QueryResult<Option<Interaction>> {
    Ok(oidc_interactions::table
        .filter(oidc_interactions::id.eq(id))
        .select(Interaction::as_select())
        .first(conn)
        .optional()?
        .filter(|i| {
            i.status == "pending"
                && i.session_hash == session_hash
                && i.expires_at > now.naive_utc()
        }))
}

/// Moves an interaction to another session (the login rotated the session id).
pub fn rebind_interaction(conn: &mut DbConn, id: &str, from: &str, to: &str) -> QueryResult<()> {
    diesel::update(
        oidc_interactions::table
            .filter(oidc_interactions::id.eq(id))
            .filter(oidc_interactions::session_hash.eq(from)),
    )
    .set(oidc_interactions::session_hash.eq(to))
    .execute(conn)?;
    Ok(())
}

/// Records the chosen usager.
pub fn choose_usager(conn: &mut DbConn, id: &str, usager_id: &str) -> QueryResult<()> {
    diesel::update(oidc_interactions::table.filter(oidc_interactions::id.eq(id)))
        .set(oidc_interactions::usager_id.eq(Some(usager_id)))
        .execute(conn)?;
    Ok(())
}

/// Ends an interaction (`done` or `cancelled`).
pub fn close_interaction(conn: &mut DbConn, id: &str, status: &str) -> QueryResult<()> {
    diesel::update(oidc_interactions::table.filter(oidc_interactions::id.eq(id)))
        .set(oidc_interactions::status.eq(status))
        .execute(conn)?;
    Ok(())
}

/// An active authorisation usable for a use: (authorisation id, mandate id, démarche).
#[derive(Debug, Clone)]
pub struct Usable {
    /// Authorisation.
    pub authorisation_id: String,
    /// Mandate.
    pub mandate_id: String,
    /// Démarche code.
    pub demarche: String,
}

/// The usager's active authorisations in the structure.
pub fn usable_authorisations(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    structure_id: &str,
    usager_id: &str,
) -> QueryResult<Vec<Usable>> {
    type Row = (
        String,
        String,
        String,
        Option<NaiveDateTime>,
        Option<String>,
        NaiveDateTime,
    );
    let rows: Vec<Row> = authorisations::table
        .inner_join(mandates::table)
        .filter(mandates::structure_id.eq(structure_id))
        .filter(mandates::usager_id.eq(usager_id))
        .select((
            authorisations::id,
            mandates::id,
            authorisations::demarche,
            authorisations::revoked_at,
            authorisations::revoked_reason,
            mandates::expires_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, _, r, reason, exp)| {
            authorisation_state(*r, reason.as_deref(), *exp, now) == AuthorisationState::Active
        })
        .map(|(a, m, d, ..)| Usable {
            authorisation_id: a,
            mandate_id: m,
            demarche: d,
        })
        .collect())
}

/// Issues a code for the chosen démarche and journals the use, in one transaction
/// (the caller's). Refuses anything not active in the aidant's current structure.
#[allow(clippy::too_many_arguments)]
pub fn issue_code(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    i: &Interaction,
    aidant_id: &str,
    structure_id: &str,
    demarche: &str,
    auth_time: NaiveDateTime,
) -> Result<Option<String>, ProviderError> {
    let Some(usager_id) = i.usager_id.clone() else {
        return Ok(None);
    };
    let Some(u) = usable_authorisations(conn, now, structure_id, &usager_id)?
        .into_iter()
        .find(|u| u.demarche == demarche)
    else {
        return Ok(None);
    };
    // One code per authorization request: closing the interaction is the guard against a
    // double submission.
    let claimed = diesel::update(
        oidc_interactions::table
            .filter(oidc_interactions::id.eq(&i.id))
            .filter(oidc_interactions::status.eq("pending")),
    )
    .set(oidc_interactions::status.eq("done"))
    .execute(conn)?;
    if claimed == 0 {
        return Ok(None);
    }
    let code = new_token();
    let code_hash = sha256_hex(code.as_bytes());
    diesel::insert_into(authorization_codes::table)
        .values((
            authorization_codes::code_hash.eq(&code_hash),
            authorization_codes::client_id.eq(&i.client_id),
            authorization_codes::redirect_uri.eq(&i.redirect_uri),
            authorization_codes::code_challenge.eq(&i.code_challenge),
            authorization_codes::nonce.eq(&i.nonce),
            authorization_codes::scope.eq(&i.scope),
            authorization_codes::aidant_id.eq(aidant_id),
            authorization_codes::structure_id.eq(structure_id),
            authorization_codes::usager_id.eq(&usager_id),
            authorization_codes::mandate_id.eq(&u.mandate_id),
            authorization_codes::authorisation_id.eq(&u.authorisation_id),
            authorization_codes::demarche.eq(demarche),
            authorization_codes::auth_time.eq(auth_time),
            authorization_codes::created_at.eq(now.naive_utc()),
            authorization_codes::expires_at.eq((now + Duration::seconds(CODE_SECONDS)).naive_utc()),
        ))
        .execute(conn)?;
    journal::append(
        conn,
        now,
        NewEntry::new("mandate.used")
            .actor(format!("user:{aidant_id}"))
            .structure(structure_id)
            .usager(&usager_id)
            .mandate(&u.mandate_id)
            .authorisation(&u.authorisation_id)
            .client(&i.client_id)
            .detail("demarche", demarche)
            .detail("scope", i.scope.as_str()),
    )?;
    Ok(Some(code))
}

// ---------------------------------------------------------------- token endpoint

/// An RFC 6749 §5.2 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// Error code.
    pub error: &'static str,
    /// Description.
    pub description: String,
}

fn oauth(error: &'static str, description: &str) -> OAuthError {
    OAuthError {
        error,
        description: description.into(),
    }
}

/// A redeemed code.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = authorization_codes)]
pub struct CodeRow {
    /// Hash.
    pub code_hash: String,
    /// Client.
    pub client_id: String,
    /// Redirect URI.
    pub redirect_uri: String,
    /// PKCE challenge.
    pub code_challenge: String,
    /// Nonce.
    pub nonce: String,
    /// Scope.
    pub scope: String,
    /// Aidant.
    pub aidant_id: String,
    /// Structure.
    pub structure_id: String,
    /// Usager.
    pub usager_id: String,
    /// Mandate.
    pub mandate_id: String,
    /// Authorisation.
    pub authorisation_id: String,
    /// Démarche.
    pub demarche: String,
    /// Login time of the aidant.
    pub auth_time: NaiveDateTime,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Expiry.
    pub expires_at: NaiveDateTime,
    /// First use.
    pub used_at: Option<NaiveDateTime>,
}

/// Redeems a code for `client` (already authenticated): checks, tokens, ID token.
/// A second use fails and revokes what the first use issued (journaled).
#[allow(clippy::too_many_arguments)]
pub fn redeem(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &SecretBox,
    master: &[u8; 32],
    issuer: &str,
    access_ttl: i64,
    client: &Client,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<Result<Value, OAuthError>, ProviderError> {
    let hash = sha256_hex(code.as_bytes());
    let Some(row) = authorization_codes::table
        .filter(authorization_codes::code_hash.eq(&hash))
        .select(CodeRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(Err(oauth("invalid_grant", "code inconnu")));
    };
    if row.client_id != client.id {
        return Ok(Err(oauth(
            "invalid_grant",
            "ce code a été délivré à un autre client",
        )));
    }
    // Claiming the code is one conditional update: of two concurrent redemptions, the row
    // lock lets exactly one through, and the other takes the replay branch.
    let claimed = diesel::update(
        authorization_codes::table
            .filter(authorization_codes::code_hash.eq(&hash))
            .filter(authorization_codes::used_at.is_null()),
    )
    .set(authorization_codes::used_at.eq(Some(now.naive_utc())))
    .execute(conn)?;
    if claimed == 0 {
        let revoked = diesel::update(
            access_tokens::table
                .filter(access_tokens::code_hash.eq(&hash))
                .filter(access_tokens::revoked_at.is_null()),
        )
        .set(access_tokens::revoked_at.eq(Some(now.naive_utc())))
        .execute(conn)?;
        journal::append(
            conn,
            now,
            NewEntry::new("token.code_replayed")
                .actor(format!("client:{}", client.id))
                .client(&client.id)
                .usager(&row.usager_id)
                .mandate(&row.mandate_id)
                .authorisation(&row.authorisation_id)
                .detail("revoked_tokens", revoked as i64),
        )?;
        return Ok(Err(oauth(
            "invalid_grant",
            "code déjà utilisé : les jetons délivrés avec lui sont révoqués",
        )));
    }
    if row.expires_at <= now.naive_utc() {
        return Ok(Err(oauth("invalid_grant", "code expiré")));
    }
    if row.redirect_uri != redirect_uri {
        return Ok(Err(oauth(
            "invalid_grant",
            "redirect_uri différente de celle de la demande",
        )));
    }
    if verifier.is_empty()
        || !constant_time_eq(s256(verifier).as_bytes(), row.code_challenge.as_bytes())
    {
        return Ok(Err(oauth(
            "invalid_grant",
            "code_verifier incorrect ou absent (PKCE)",
        )));
    }
    let still = usable_authorisations(conn, now, &row.structure_id, &row.usager_id)?
        .into_iter()
        .any(|u| u.authorisation_id == row.authorisation_id);
    if !still {
        return Ok(Err(oauth(
            "invalid_grant",
            "l’autorisation a été révoquée ou a expiré depuis le choix",
        )));
    }
    let usager: Usager = usagers::table
        .filter(usagers::id.eq(&row.usager_id))
        .select(Usager::as_select())
        .first(conn)?;
    let access = new_token();
    diesel::insert_into(access_tokens::table)
        .values((
            access_tokens::token_hash.eq(sha256_hex(access.as_bytes())),
            access_tokens::code_hash.eq(&hash),
            access_tokens::client_id.eq(&client.id),
            access_tokens::usager_id.eq(&row.usager_id),
            access_tokens::scope.eq(&row.scope),
            access_tokens::expires_at.eq((now + Duration::seconds(access_ttl)).naive_utc()),
        ))
        .execute(conn)?;
    let key = signing_key(conn, secrets, &client.id_token_alg)?;
    let mut claims = identity_claims(&usager, &row.scope);
    claims.insert("iss".into(), json!(issuer));
    claims.insert(
        "sub".into(),
        json!(pairwise(master, "usager", &client.id, &usager.id)),
    );
    claims.insert("aud".into(), json!(client.id));
    claims.insert(
        "exp".into(),
        json!((now + Duration::seconds(access_ttl.max(60))).timestamp()),
    );
    claims.insert("iat".into(), json!(now.timestamp()));
    claims.insert(
        "auth_time".into(),
        json!(row.auth_time.and_utc().timestamp()),
    );
    claims.insert("nonce".into(), json!(row.nonce));
    claims.insert("acr".into(), json!(ACR));
    claims.insert("amr".into(), json!(["pwd", "otp"]));
    claims.insert("at_hash".into(), json!(at_hash(&access)));
    claims.insert(
        "act".into(),
        json!({"sub": pairwise(master, "aidant", &client.id, &row.aidant_id)}),
    );
    let id_token = key
        .sign("JWT", &Value::Object(claims))
        .map_err(|_| ProviderError::Key)?;
    journal::append(
        conn,
        now,
        NewEntry::new("token.issued")
            .actor(format!("client:{}", client.id))
            .client(&client.id)
            .structure(&row.structure_id)
            .usager(&row.usager_id)
            .mandate(&row.mandate_id)
            .authorisation(&row.authorisation_id)
            .detail("kid", key.kid()),
    )?;
    Ok(Ok(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": access_ttl,
        "id_token": id_token,
        "scope": row.scope,
    })))
}

/// The userinfo claims of an access token (None: unknown, expired or revoked).
pub fn userinfo(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    master: &[u8; 32],
    token: &str,
) -> QueryResult<Option<Value>> {
    let row: Option<(String, String, String, NaiveDateTime, Option<NaiveDateTime>)> =
        access_tokens::table
            .filter(access_tokens::token_hash.eq(sha256_hex(token.as_bytes())))
            .select((
                access_tokens::client_id,
                access_tokens::usager_id,
                access_tokens::scope,
                access_tokens::expires_at,
                access_tokens::revoked_at,
            ))
            .first(conn)
            .optional()?;
    let Some((client_id, usager_id, scope, expires, revoked)) = row else {
        return Ok(None);
    };
    if revoked.is_some() || expires <= now.naive_utc() {
        return Ok(None);
    }
    let u: Usager = usagers::table
        .filter(usagers::id.eq(&usager_id))
        .select(Usager::as_select())
        .first(conn)?;
    let mut claims = identity_claims(&u, &scope);
    claims.insert(
        "sub".into(),
        json!(pairwise(master, "usager", &client_id, &u.id)),
    );
    Ok(Some(Value::Object(claims)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_is_stable_per_client_and_differs_across() {
        let k = [9u8; 32];
        assert_eq!(
            pairwise(&k, "usager", "a", "u1"),
            pairwise(&k, "usager", "a", "u1")
        );
        assert_ne!(
            pairwise(&k, "usager", "a", "u1"),
            pairwise(&k, "usager", "b", "u1")
        );
        assert_ne!(
            pairwise(&k, "usager", "a", "u1"),
            pairwise(&k, "aidant", "a", "u1")
        );
    }

    #[test]
    fn scopes_map_to_claims() {
        assert!(allowed_claims("openid").is_empty());
        assert_eq!(allowed_claims("openid email"), vec!["email"]);
        let p = allowed_claims("openid profile birth");
        for c in [
            "given_name",
            "family_name",
            "birthdate",
            "birthplace",
            "birthcountry",
            "gender",
        ] {
            assert!(p.contains(&c), "{c}");
        }
        assert_eq!(allowed_claims("openid family_name"), vec!["family_name"]);
    }

    #[test]
    fn pkce_s256_matches_an_independent_computation() {
        // Python: base64.urlsafe_b64encode(hashlib.sha256(v).digest()).rstrip(b"=")
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gXk-kEjXk"),
            "JIR41DDhPj7MhvjRSfrWp1B4L4s-HZqJOIzA-517L3k"
        );
    }
}
