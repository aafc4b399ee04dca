//! The token endpoint (code redemption, ID token) and userinfo.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};

use super::claims::{at_hash, pairwise, requested_identity_claims, s256, ClaimsRequest};
use super::clients::client;
use super::clients::{AuthMethod, Client, Pkce, SigningAlg, UserinfoAlg};
use super::keys::signing_key;
use super::keys::KeyCache;
use super::ACR;
use crate::accounts::users::{self, ActingRights};
use crate::accounts::Acting;
use crate::crypto::{constant_time_eq, new_token, sha256_hex, SecretBox};
use crate::domain::mandate::Removals;
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::mandates::{self, Usable, Usager};
use crate::store::schema::{access_tokens, authorization_codes, oidc_clients};
use crate::store::write_tx;
use crate::store::DbConn;

/// An RFC 6749 §5.2 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// Error code.
    pub error: &'static str,
    /// Description.
    pub description: String,
}

/// Builds an [`OAuthError`].
pub fn oauth(error: &'static str, description: &str) -> OAuthError {
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
    /// The `claims` request, normalised.
    pub claims: Option<String>,
    /// Aidant.
    pub aidant_id: String,
    /// Structure.
    pub structure_id: String,
    /// Usager.
    pub usager_id: String,
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

/// Who signs and what the tokens say: fixed for the running service.
pub struct Issuer<'a> {
    /// The issuer URL.
    pub url: &'a str,
    /// Secrets at rest (signing keys).
    pub secrets: &'a SecretBox,
    /// Decrypted signing keys.
    pub keys: &'a KeyCache,
    /// Master key (pairwise subjects).
    pub master: &'a [u8; 32],
    /// Access token lifetime, seconds.
    pub access_ttl: i64,
}

/// How the client authenticated at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic` (RFC 6749 §2.3.1).
    Basic(String, String),
    /// `client_id` and `client_secret` in the body.
    Post(String, String),
    /// A public client: `client_id` only.
    None(String),
}

impl ClientAuth {
    fn client_id(&self) -> &str {
        match self {
            ClientAuth::Basic(id, _) | ClientAuth::Post(id, _) | ClientAuth::None(id) => id,
        }
    }

    fn method(&self) -> AuthMethod {
        match self {
            ClientAuth::Basic(..) => AuthMethod::ClientSecretBasic,
            ClientAuth::Post(..) => AuthMethod::ClientSecretPost,
            ClientAuth::None(_) => AuthMethod::None,
        }
    }
}

/// A token request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The code.
    pub code: String,
    /// The redirect URI sent with it.
    pub redirect_uri: String,
    /// The PKCE verifier.
    pub code_verifier: String,
}

/// Why a token request was refused: `invalid_client` answers 401, the rest 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefusal(pub OAuthError);

impl TokenRefusal {
    fn new(error: &'static str, description: &str) -> Self {
        TokenRefusal(oauth(error, description))
    }

    /// True for a client authentication failure (HTTP 401).
    pub fn unauthorized(&self) -> bool {
        self.0.error == "invalid_client"
    }
}

/// Parses a token request body (`application/x-www-form-urlencoded`, no repeated
/// parameter: RFC 6749 §3.1) and the client's credentials. `basic` is the `Authorization:
/// Basic` header, decoded (None: absent; Err: malformed).
pub fn parse_token_request(
    content_type: &str,
    body: &[u8],
    basic: Option<Result<(String, String), ()>>,
) -> Result<(ClientAuth, TokenRequest), TokenRefusal> {
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(TokenRefusal::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let mut seen = std::collections::HashSet::new();
    if pairs.iter().any(|(k, _)| !seen.insert(k.as_str())) {
        return Err(TokenRefusal::new(
            "invalid_request",
            "malformed or repeated parameters",
        ));
    }
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("grant_type").as_deref() != Some("authorization_code") {
        return Err(TokenRefusal::new(
            "unsupported_grant_type",
            "only authorization_code is supported",
        ));
    }
    let code = get("code").unwrap_or_default();
    if code.is_empty() {
        return Err(TokenRefusal::new("invalid_request", "code is required"));
    }
    let (client_id, client_secret) = (get("client_id"), get("client_secret"));
    let auth = match (basic, client_secret) {
        (Some(Err(())), _) => {
            return Err(TokenRefusal::new(
                "invalid_client",
                "malformed Basic credentials",
            ))
        }
        (Some(Ok(_)), Some(_)) => {
            return Err(TokenRefusal::new(
                "invalid_request",
                "use one client authentication method only",
            ))
        }
        (Some(Ok((id, secret))), None) => {
            if client_id.as_ref().is_some_and(|c| c != &id) {
                return Err(TokenRefusal::new(
                    "invalid_request",
                    "client_id differs from the authenticated client",
                ));
            }
            ClientAuth::Basic(id, secret)
        }
        (None, Some(secret)) => ClientAuth::Post(client_id.unwrap_or_default(), secret),
        (None, None) => ClientAuth::None(client_id.unwrap_or_default()),
    };
    Ok((
        auth,
        TokenRequest {
            code,
            redirect_uri: get("redirect_uri").unwrap_or_default(),
            code_verifier: get("code_verifier").unwrap_or_default(),
        },
    ))
}

/// Checks the client's credentials against its registration.
pub fn authenticate(client: Option<&Client>, auth: &ClientAuth) -> Result<(), TokenRefusal> {
    let Some(client) = client else {
        return Err(TokenRefusal::new("invalid_client", "unknown client"));
    };
    if client.auth_method != auth.method() {
        return Err(TokenRefusal::new(
            "invalid_client",
            &format!(
                "this client authenticates with {}",
                client.auth_method.as_str()
            ),
        ));
    }
    match auth {
        ClientAuth::Basic(_, s) | ClientAuth::Post(_, s) if !client.secret_matches(s) => {
            Err(TokenRefusal::new("invalid_client", "wrong client secret"))
        }
        _ => Ok(()),
    }
}

/// What the token endpoint answers.
#[derive(Debug)]
pub enum TokenOutcome {
    /// The token response.
    Issued(Value),
    /// A refusal (RFC 6749 §5.2).
    Refused(TokenRefusal),
}

/// The token endpoint's use case, in one transaction: authenticates the client, then
/// redeems the code (single use, expiry, redirect URI, PKCE, authorisation still active)
/// and signs the ID token. A second use of a code revokes what the first issued
/// (journaled, and committed although the request is refused).
pub fn token(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    issuer: &Issuer<'_>,
    auth: &ClientAuth,
    req: &TokenRequest,
) -> Result<TokenOutcome, Error> {
    write_tx(conn, |c| {
        let found = client(c, auth.client_id())?;
        if let Err(r) = authenticate(found.as_ref(), auth) {
            return Ok(TokenOutcome::Refused(r));
        }
        let client = found.ok_or(Error::NotFound)?;
        redeem(c, now, issuer, &client, req)
    })
}

fn redeem(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    issuer: &Issuer<'_>,
    client: &Client,
    req: &TokenRequest,
) -> Result<TokenOutcome, Error> {
    let (code, redirect_uri, verifier) = (&req.code, &req.redirect_uri, &req.code_verifier);
    let secrets = issuer.secrets;
    let master = issuer.master;
    let access_ttl = issuer.access_ttl;
    let hash = sha256_hex(code.as_bytes());
    // Claiming the code is one conditional update that returns the row: of two concurrent
    // redemptions, the row lock lets exactly one through. Only a refusal reads the code
    // again, to tell an unknown code, another client's code and a replay apart.
    let claimed: Option<CodeRow> = diesel::update(
        authorization_codes::table
            .filter(authorization_codes::code_hash.eq(&hash))
            .filter(authorization_codes::client_id.eq(&client.id))
            .filter(authorization_codes::used_at.is_null()),
    )
    .set(authorization_codes::used_at.eq(Some(now.naive_utc())))
    // Every column, in the table's order, which is CodeRow's (`SelectBy` does not cross
    // the two backends' connection in a RETURNING list).
    .returning(authorization_codes::all_columns)
    .get_result(conn)
    .optional()?;
    let row = match claimed {
        Some(row) => row,
        None => return refuse_unclaimed(conn, now, client, &hash),
    };
    if row.expires_at <= now.naive_utc() {
        return Ok(TokenOutcome::Refused(TokenRefusal::new(
            "invalid_grant",
            "code expiré",
        )));
    }
    if &row.redirect_uri != redirect_uri {
        return Ok(TokenOutcome::Refused(TokenRefusal::new(
            "invalid_grant",
            "redirect_uri différente de celle de la demande",
        )));
    }
    if let Err(why) = check_pkce(client, &row.code_challenge, verifier) {
        return Ok(TokenOutcome::Refused(TokenRefusal::new(
            "invalid_grant",
            why,
        )));
    }
    let Some((usable, usager)) = still_usable(conn, now, client, &row.use_of())? else {
        return Ok(TokenOutcome::Refused(TokenRefusal::new(
            "invalid_grant",
            "le droit d’agir pour cette démarche a pris fin depuis le choix (révocation, désactivation ou restriction)",
        )));
    };
    let claims_req = ClaimsRequest::from_stored(row.claims.as_deref());
    let sub = pairwise(master, "usager", &client.id, &usager.id);
    if claims_req.sub.as_ref().is_some_and(|wanted| wanted != &sub) {
        return Ok(TokenOutcome::Refused(TokenRefusal::new(
            "invalid_grant",
            "the person chosen is not the subject the request asked for (claims sub)",
        )));
    }
    let access = new_token();
    diesel::insert_into(access_tokens::table)
        .values((
            access_tokens::token_hash.eq(sha256_hex(access.as_bytes())),
            access_tokens::code_hash.eq(&hash),
            access_tokens::client_id.eq(&client.id),
            access_tokens::usager_id.eq(&row.usager_id),
            access_tokens::scope.eq(&row.scope),
            access_tokens::expires_at.eq((now + Duration::seconds(access_ttl)).naive_utc()),
            access_tokens::aidant_id.eq(&row.aidant_id),
            access_tokens::structure_id.eq(&row.structure_id),
            access_tokens::mandate_id.eq(&usable.mandate_id),
            access_tokens::authorisation_id.eq(&row.authorisation_id),
            access_tokens::demarche.eq(&row.demarche),
            access_tokens::claims.eq(&row.claims),
            access_tokens::issued_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    let key = signing_key(conn, secrets, issuer.keys, client.id_token_alg.as_str())?;
    let mut claims = requested_identity_claims(&usager, &row.scope, &claims_req.id_token);
    consented(
        &mut claims,
        master,
        &client.id,
        &sub,
        &row.aidant_id,
        &row.demarche,
    );
    claims.insert("iss".into(), json!(issuer.url));
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
    let id_token = key
        .sign_id_token(&Value::Object(claims))
        .map_err(|_| Error::Key)?;
    journal::append(
        conn,
        now,
        NewEntry::new("token.issued")
            .actor(format!("client:{}", client.id))
            .client(&client.id)
            .structure(&row.structure_id)
            .usager(&row.usager_id)
            .mandate(&usable.mandate_id)
            .authorisation(&row.authorisation_id)
            .detail("demarche", row.demarche.as_str())
            .detail("kid", key.kid()),
    )?;
    Ok(TokenOutcome::Issued(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": access_ttl,
        "id_token": id_token,
        "scope": row.scope,
    })))
}

/// Why a code could not be claimed: unknown, another client's, or already used (a
/// replay: the tokens the first use issued are revoked, journaled, and committed although
/// the request is refused).
fn refuse_unclaimed(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    client: &Client,
    hash: &str,
) -> Result<TokenOutcome, Error> {
    let Some(row) = authorization_codes::table
        .filter(authorization_codes::code_hash.eq(hash))
        .select(CodeRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(TokenOutcome::Refused(TokenRefusal::new(
            "invalid_grant",
            "code inconnu",
        )));
    };
    if row.client_id != client.id {
        return Ok(TokenOutcome::Refused(TokenRefusal::new(
            "invalid_grant",
            "ce code a été délivré à un autre client",
        )));
    }
    let revoked = diesel::update(
        access_tokens::table
            .filter(access_tokens::code_hash.eq(hash))
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
            .authorisation(&row.authorisation_id)
            .detail("revoked_tokens", revoked as i64),
    )?;
    Ok(TokenOutcome::Refused(TokenRefusal::new(
        "invalid_grant",
        "code déjà utilisé : les jetons délivrés avec lui sont révoqués",
    )))
}

/// What the ID token and userinfo both say of a use: for whom (`sub`), by whom (`act`,
/// the aidant's pairwise subject) and for which démarche.
fn consented(
    claims: &mut serde_json::Map<String, Value>,
    master: &[u8; 32],
    client_id: &str,
    sub: &str,
    aidant_id: &str,
    demarche: &str,
) {
    claims.insert("sub".into(), json!(sub));
    claims.insert(
        "act".into(),
        json!({"sub": pairwise(master, "aidant", client_id, aidant_id)}),
    );
    claims.insert("demarche".into(), json!(demarche));
}

/// PKCE at redemption: the verifier must match the challenge; without a challenge (a
/// client with `--pkce optional`), no verifier may come (a downgrade would show as one).
pub fn check_pkce(client: &Client, challenge: &str, verifier: &str) -> Result<(), &'static str> {
    if challenge.is_empty() {
        if client.pkce != Pkce::Optional {
            return Err("code_verifier incorrect ou absent (PKCE)");
        }
        if !verifier.is_empty() {
            return Err("code_verifier envoyé sans code_challenge à la demande (PKCE)");
        }
        return Ok(());
    }
    if verifier.is_empty() || !constant_time_eq(s256(verifier).as_bytes(), challenge.as_bytes()) {
        return Err("code_verifier incorrect ou absent (PKCE)");
    }
    Ok(())
}

/// What a code or an access token depends on.
#[derive(Debug, Clone)]
pub struct Use {
    /// The aidant who acted.
    pub aidant_id: String,
    /// For this structure.
    pub structure_id: String,
    /// Under this authorisation.
    pub authorisation_id: String,
    /// For this démarche.
    pub demarche: String,
    /// When the code or the token was issued.
    pub issued_at: NaiveDateTime,
}

impl CodeRow {
    fn use_of(&self) -> Use {
        Use {
            aidant_id: self.aidant_id.clone(),
            structure_id: self.structure_id.clone(),
            authorisation_id: self.authorisation_id.clone(),
            demarche: self.demarche.clone(),
            issued_at: self.created_at,
        }
    }
}

/// True when a use is still allowed by the aidant's rights and the client (pure): the
/// démarche is served by both, was taken away from neither since the use was issued, and
/// the aidant's rights in the structure began before it.
pub fn use_still_allowed(client: &Client, rights: &ActingRights, u: &Use) -> bool {
    let client_removed = Removals::from_stored(client.demarches_removed.as_deref());
    client.demarches().contains(&u.demarche)
        && rights.demarches.contains(&u.demarche)
        && u.issued_at > rights.since
        && !rights.removed.voids(&u.demarche, u.issued_at)
        && !client_removed.voids(&u.demarche, u.issued_at)
}

/// Re-checks a use at redemption and at userinfo: the aidant is still active and a member
/// of the structure, the structure and the client still serve the démarche, and the
/// authorisation is still active. Gives the authorisation and the usager's identity.
fn still_usable(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    client: &Client,
    u: &Use,
) -> Result<Option<(Usable, Usager)>, Error> {
    let acting = Acting::new(&u.aidant_id, &u.structure_id);
    let Some(rights) = users::acting_rights(conn, &acting)? else {
        return Ok(None);
    };
    if !rights.accredited_at(now) || !use_still_allowed(client, &rights, u) {
        return Ok(None);
    }
    Ok(
        mandates::usable_authorisation(conn, now, &u.structure_id, &u.authorisation_id)?
            .filter(|(a, _)| a.demarche == u.demarche),
    )
}

/// What userinfo answers.
#[derive(Debug)]
pub enum Userinfo {
    /// Claims as JSON.
    Json(Value),
    /// Claims as a signed JWT (`application/jwt`).
    Jwt(String),
    /// Unknown, expired or revoked token, or a use that is no longer allowed: 401.
    Invalid,
}

/// A live access token, with its client.
#[derive(Debug, Clone, Queryable)]
struct TokenRow {
    usager_id: String,
    scope: String,
    expires_at: NaiveDateTime,
    revoked_at: Option<NaiveDateTime>,
    aidant_id: String,
    structure_id: String,
    authorisation_id: String,
    demarche: String,
    claims: Option<String>,
    issued_at: NaiveDateTime,
    client: Client,
}

/// The userinfo response of an access token. Each use re-checks what the token depends
/// on (see [`still_usable`]): a revocation, a deactivation or a restriction is seen at
/// once. Reads only, in one read transaction (three statements: outside one, each would
/// count as a transaction of its own on PostgreSQL).
pub fn userinfo(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    issuer: &Issuer<'_>,
    token: &str,
) -> Result<Userinfo, Error> {
    crate::store::read_tx(conn, |c| userinfo_in(c, now, issuer, token))
}

fn userinfo_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    issuer: &Issuer<'_>,
    token: &str,
) -> Result<Userinfo, Error> {
    let row: Option<TokenRow> = access_tokens::table
        .inner_join(oidc_clients::table.on(oidc_clients::id.eq(access_tokens::client_id)))
        .filter(access_tokens::token_hash.eq(sha256_hex(token.as_bytes())))
        .filter(oidc_clients::active.eq(true))
        .select((
            access_tokens::usager_id,
            access_tokens::scope,
            access_tokens::expires_at,
            access_tokens::revoked_at,
            access_tokens::aidant_id,
            access_tokens::structure_id,
            access_tokens::authorisation_id,
            access_tokens::demarche,
            access_tokens::claims,
            access_tokens::issued_at,
            Client::as_select(),
        ))
        .first(conn)
        .optional()?;
    let Some(t) = row else {
        return Ok(Userinfo::Invalid);
    };
    if t.revoked_at.is_some() || t.expires_at <= now.naive_utc() {
        return Ok(Userinfo::Invalid);
    }
    let u = Use {
        aidant_id: t.aidant_id.clone(),
        structure_id: t.structure_id.clone(),
        authorisation_id: t.authorisation_id.clone(),
        demarche: t.demarche.clone(),
        issued_at: t.issued_at,
    };
    let Some((_, usager)) = still_usable(conn, now, &t.client, &u)? else {
        return Ok(Userinfo::Invalid);
    };
    if usager.id != t.usager_id {
        return Ok(Userinfo::Invalid);
    }
    let master = issuer.master;
    let asked = ClaimsRequest::from_stored(t.claims.as_deref());
    let mut claims = requested_identity_claims(&usager, &t.scope, &asked.userinfo);
    let client = &t.client;
    let sub = pairwise(master, "usager", &client.id, &usager.id);
    consented(
        &mut claims,
        master,
        &client.id,
        &sub,
        &t.aidant_id,
        &t.demarche,
    );
    let alg = match client.userinfo_alg {
        UserinfoAlg::None => return Ok(Userinfo::Json(Value::Object(claims))),
        UserinfoAlg::ES256 => SigningAlg::ES256,
        UserinfoAlg::RS256 => SigningAlg::RS256,
    };
    claims.insert("iss".into(), json!(issuer.url));
    claims.insert("aud".into(), json!(client.id));
    let key = signing_key(conn, issuer.secrets, issuer.keys, alg.as_str())?;
    let jwt = key
        .sign_userinfo(&Value::Object(claims))
        .map_err(|_| Error::Key)?;
    Ok(Userinfo::Jwt(jwt))
}

/// Deletes access tokens expired before `before` (housekeeping).
pub fn purge_tokens(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(access_tokens::table.filter(access_tokens::expires_at.lt(before))).execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &str = "application/x-www-form-urlencoded";

    fn parse(
        body: &str,
        basic: Option<Result<(String, String), ()>>,
    ) -> Result<(ClientAuth, TokenRequest), &'static str> {
        parse_token_request(FORM, body.as_bytes(), basic).map_err(|r| r.0.error)
    }

    #[test]
    fn a_token_request_names_its_client_and_code() {
        let (auth, req) = parse(
            "grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fs%2Fcb&code_verifier=v&client_id=c&client_secret=s",
            None,
        )
        .expect("valid");
        assert_eq!(auth, ClientAuth::Post("c".into(), "s".into()));
        assert_eq!(req.code, "abc");
        assert_eq!(req.redirect_uri, "https://s/cb");
        let (auth, _) = parse(
            "grant_type=authorization_code&code=abc",
            Some(Ok(("c".into(), "s".into()))),
        )
        .unwrap();
        assert_eq!(auth, ClientAuth::Basic("c".into(), "s".into()));
        let (auth, _) = parse("grant_type=authorization_code&code=abc&client_id=c", None).unwrap();
        assert_eq!(auth, ClientAuth::None("c".into()));
    }

    #[test]
    fn malformed_token_requests_are_refused_with_their_rfc_code() {
        assert_eq!(
            parse_token_request("application/json", b"{}", None)
                .map_err(|r| r.0.error)
                .err(),
            Some("invalid_request")
        );
        assert_eq!(
            parse("grant_type=authorization_code&code=a&code=b", None).err(),
            Some("invalid_request")
        );
        assert_eq!(
            parse("grant_type=password&code=a", None).err(),
            Some("unsupported_grant_type")
        );
        assert_eq!(
            parse("grant_type=authorization_code", None).err(),
            Some("invalid_request")
        );
        assert_eq!(
            parse("grant_type=authorization_code&code=a", Some(Err(()))).err(),
            Some("invalid_client")
        );
        assert_eq!(
            parse(
                "grant_type=authorization_code&code=a&client_secret=s",
                Some(Ok(("c".into(), "s".into())))
            )
            .err(),
            Some("invalid_request")
        );
        assert_eq!(
            parse(
                "grant_type=authorization_code&code=a&client_id=other",
                Some(Ok(("c".into(), "s".into())))
            )
            .err(),
            Some("invalid_request")
        );
    }

    fn client(method: AuthMethod, secret: Option<&str>) -> Client {
        Client {
            name: "Site".into(),
            secret_hash: secret.map(|s| sha256_hex(s.as_bytes())),
            auth_method: method,
            ..Client::new("c".into(), NaiveDateTime::default())
        }
    }

    #[test]
    fn a_use_is_void_once_its_right_was_broken_even_if_it_came_back() {
        use crate::domain::mandate::DemarcheSet;
        let t = |m: i64| {
            chrono::DateTime::from_timestamp(1_700_000_000 + m * 60, 0)
                .unwrap()
                .naive_utc()
        };
        let rights = |since: i64, removed: Removals| ActingRights {
            demarches: DemarcheSet::All,
            removed,
            since: t(since),
            accredited_until: None,
        };
        let use_at = |m: i64| Use {
            aidant_id: "a".into(),
            structure_id: "s".into(),
            authorisation_id: "x".into(),
            demarche: "social".into(),
            issued_at: t(m),
        };
        let c = client(AuthMethod::ClientSecretBasic, Some("s"));
        assert!(use_still_allowed(
            &c,
            &rights(0, Removals::default()),
            &use_at(5)
        ));
        // Rights that began again after the use (reactivation, a new membership).
        assert!(!use_still_allowed(
            &c,
            &rights(6, Removals::default()),
            &use_at(5)
        ));
        assert!(!use_still_allowed(
            &c,
            &rights(5, Removals::default()),
            &use_at(5)
        ));
        // The démarche was taken from the structure, then given back.
        let mut gone = Removals::default();
        let social = DemarcheSet::parse(&["social"]).unwrap();
        let housing = DemarcheSet::parse(&["logement"]).unwrap();
        gone.note(&social, &housing, t(7));
        assert!(!use_still_allowed(&c, &rights(0, gone.clone()), &use_at(5)));
        assert!(use_still_allowed(&c, &rights(0, gone), &use_at(8)));
        // The client no longer serves it, or took it away once.
        let mut narrow = c.clone();
        narrow.demarches = housing.to_stored();
        assert!(!use_still_allowed(
            &narrow,
            &rights(0, Removals::default()),
            &use_at(5)
        ));
        let mut back = c.clone();
        let mut r = Removals::default();
        r.note(&social, &housing, t(7));
        back.demarches_removed = r.to_stored();
        assert!(!use_still_allowed(
            &back,
            &rights(0, Removals::default()),
            &use_at(5)
        ));
    }

    #[test]
    fn clients_authenticate_with_their_registered_method_only() {
        let basic = client(AuthMethod::ClientSecretBasic, Some("s"));
        assert!(authenticate(Some(&basic), &ClientAuth::Basic("c".into(), "s".into())).is_ok());
        let wrong =
            authenticate(Some(&basic), &ClientAuth::Basic("c".into(), "x".into())).unwrap_err();
        assert!(wrong.unauthorized());
        assert!(authenticate(Some(&basic), &ClientAuth::Post("c".into(), "s".into())).is_err());
        assert!(authenticate(Some(&basic), &ClientAuth::None("c".into())).is_err());
        assert!(authenticate(None, &ClientAuth::None("c".into()))
            .unwrap_err()
            .unauthorized());
        let public = client(AuthMethod::None, None);
        assert!(authenticate(Some(&public), &ClientAuth::None("c".into())).is_ok());
    }
}
