//! Registered clients (the administrative sites): registration, look-up, authentication.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::crypto::{constant_time_eq, new_token, sha256_hex};
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::store::schema::{oidc_clients, signing_keys};
use crate::store::DbConn;

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
) -> Result<(Client, Option<String>), Error> {
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
) -> Result<(Client, Option<String>), Error> {
    if !matches!(alg, "ES256" | "RS256") {
        return Err(Error::Invalid(format!(
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
            return Err(Error::Invalid(
                "RS256 demande une clé RSA importée d’abord (procura keys import-rsa FICHIER)"
                    .into(),
            ));
        }
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::Invalid(
            "le nom du client est obligatoire (200 caractères au plus)".into(),
        ));
    }
    if !AUTH_METHODS.contains(&auth_method) {
        return Err(Error::Invalid(format!(
            "méthode d’authentification inconnue {auth_method:?} : client_secret_basic, client_secret_post ou none"
        )));
    }
    if redirects.is_empty() {
        return Err(Error::Invalid(
            "au moins une --redirect-uri est nécessaire".into(),
        ));
    }
    for u in redirects.iter().chain(post_logout) {
        check_redirect_uri(u).map_err(Error::Invalid)?;
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
) -> Result<(), Error> {
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
