//! The OpenID provider's HTTP surface: discovery, JWKS, authorization (with the aidant's
//! choice of usager and démarche), token, userinfo and logout.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Duration;
use serde::Deserialize;
use serde_json::json;

use super::auth::CsrfOnly;
use super::session::{context, see_other, Ctx, WebError};
use super::{blocking, render, AppState, Layout};
use crate::accounts::sessions::{self, stage};
use crate::domain::mandate as rules;
use crate::domain::roles::Role;
use crate::federation::provider::{self as op, Client, Interaction, OAuthError};
use crate::journal::{self, NewEntry};
use crate::mandates;
use crate::store::write_tx;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/openid-configuration", web::get().to(metadata))
        .route("/oidc/jwks", web::get().to(jwks))
        .route("/oidc/authorize", web::get().to(authorize))
        .route("/oidc/interaction/{id}", web::get().to(interaction))
        .route(
            "/oidc/interaction/{id}/usager",
            web::post().to(choose_usager),
        )
        .route(
            "/oidc/interaction/{id}/demarche",
            web::post().to(choose_demarche),
        )
        .route("/oidc/interaction/{id}/annuler", web::post().to(cancel))
        .route("/oidc/token", web::post().to(token))
        .route("/oidc/userinfo", web::get().to(userinfo))
        .route("/oidc/userinfo", web::post().to(userinfo))
        .route("/oidc/logout", web::get().to(logout))
        .route("/oidc/logout", web::post().to(logout_confirmed));
}

fn issuer(state: &AppState) -> String {
    state
        .settings
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_string()
}

fn master(state: &AppState) -> Result<[u8; 32], WebError> {
    state
        .settings
        .master_key
        .ok_or_else(|| WebError::Internal("PROCURA_MASTER_KEY manquante".into()))
}

async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let i = issuer(&state);
    HttpResponse::Ok().json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/oidc/authorize"),
        "token_endpoint": format!("{i}/oidc/token"),
        "userinfo_endpoint": format!("{i}/oidc/userinfo"),
        "jwks_uri": format!("{i}/oidc/jwks"),
        "end_session_endpoint": format!("{i}/oidc/logout"),
        "scopes_supported": op::SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "token_endpoint_auth_methods_supported": op::AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": [op::ACR],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "act",
            "given_name", "family_name", "preferred_username", "birthdate", "gender", "birthplace", "birthcountry", "email"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["fr"],
    }))
}

async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let st = state.clone().into_inner();
    let v = blocking(move || -> Result<serde_json::Value, WebError> {
        let mut conn = st.store.conn()?;
        let grace = Duration::hours(i64::from(st.settings.key_grace_hours));
        op::jwks(&mut conn, st.clock.now(), &st.secrets(), grace)
            .map_err(|e| WebError::Internal(e.to_string()))
    })
    .await??;
    Ok(HttpResponse::Ok().json(v))
}

/// Authorization request parameters.
#[derive(Deserialize, Default)]
pub struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
    max_age: Option<String>,
    request: Option<String>,
    request_uri: Option<String>,
    response_mode: Option<String>,
}

fn add_params(uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = uri.to_string();
    let mut sep = if uri.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        url.push(sep);
        url.push_str(k);
        url.push('=');
        url.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
        sep = '&';
    }
    url
}

/// A redirect to the client with an error (RFC 6749 §4.1.2.1, RFC 9207 `iss`).
fn error_redirect(
    state: &AppState,
    redirect_uri: &str,
    client_state: Option<&str>,
    error: &str,
    description: &str,
) -> HttpResponse {
    let iss = issuer(state);
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = client_state {
        params.push(("state", s));
    }
    params.push(("iss", &iss));
    HttpResponse::Found()
        .insert_header((header::LOCATION, add_params(redirect_uri, &params)))
        .finish()
}

async fn load_client(state: &web::Data<AppState>, id: String) -> Result<Option<Client>, WebError> {
    let st = state.clone().into_inner();
    blocking(move || -> Result<Option<Client>, WebError> {
        let mut conn = st.store.conn()?;
        Ok(op::client(&mut conn, &id)?)
    })
    .await?
}

async fn authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AuthorizeQuery>,
) -> Result<HttpResponse, WebError> {
    let q = q.into_inner();
    // Client and redirect URI first: until both are known good, never redirect.
    let client_id = q.client_id.clone().unwrap_or_default();
    let Some(client) = load_client(&state, client_id).await? else {
        return Err(WebError::BadRequest("Ce site (client_id) n’est pas enregistré auprès de Procura. Aucune redirection n’a été faite.".into()));
    };
    let redirect_uri = q.redirect_uri.clone().unwrap_or_default();
    if !client.redirects().contains(&redirect_uri) {
        return Err(WebError::BadRequest("L’adresse de retour (redirect_uri) n’est pas enregistrée pour ce site. Aucune redirection n’a été faite.".into()));
    }
    let st = q.state.as_deref().filter(|s| !s.is_empty());
    let fail = |error: &str, d: &str| Ok(error_redirect(&state, &redirect_uri, st, error, d));
    if q.request.is_some() {
        return fail("request_not_supported", "request object not supported");
    }
    if q.request_uri.is_some() {
        return fail("request_uri_not_supported", "request_uri not supported");
    }
    if q.response_type.as_deref() != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    if q.response_mode.as_deref().is_some_and(|m| m != "query") {
        return fail("invalid_request", "response_mode must be query");
    }
    let scope = q.scope.clone().unwrap_or_default();
    if !scope.split_whitespace().any(|s| s == "openid") {
        return fail("invalid_scope", "scope must contain openid");
    }
    let Some(nonce) = q.nonce.clone().filter(|n| !n.is_empty()) else {
        return fail("invalid_request", "nonce is required");
    };
    let challenge = q.code_challenge.clone().unwrap_or_default();
    if challenge.is_empty() {
        return fail("invalid_request", "PKCE code_challenge is required");
    }
    if q.code_challenge_method.as_deref() != Some("S256") {
        return fail(
            "invalid_request",
            "code_challenge_method must be S256 (plain is refused)",
        );
    }
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return fail(
            "invalid_request",
            "code_challenge must be a base64url SHA-256",
        );
    }
    let max_age = match q.max_age.as_deref() {
        None | Some("") => None,
        Some(m) => match m.parse::<i64>() {
            Ok(v) if v >= 0 => Some(v),
            _ => return fail("invalid_request", "max_age must be a non-negative integer"),
        },
    };
    let prompt = q.prompt.clone().filter(|p| !p.is_empty());
    let prompts: Vec<&str> = prompt.as_deref().unwrap_or("").split_whitespace().collect();
    if prompts
        .iter()
        .any(|p| !matches!(*p, "none" | "login" | "consent" | "select_account"))
    {
        return fail("invalid_request", "unsupported prompt value");
    }
    if prompts.contains(&"none") && prompts.len() > 1 {
        return fail("invalid_request", "prompt=none cannot be combined");
    }
    let ctx = context(&req, &state).await?;
    if prompts.contains(&"none") {
        // Acting on behalf always needs the aidant's choice of usager and démarche.
        return if ctx.user.is_none() {
            Ok(ctx.finish(&state, fail("login_required", "no aidant session")?))
        } else {
            Ok(ctx.finish(
                &state,
                fail(
                    "interaction_required",
                    "the aidant must choose a usager and a démarche",
                )?,
            ))
        };
    }
    let now = state.clock.now();
    let i = Interaction {
        id: crate::crypto::new_token(),
        session_hash: ctx.session.id_hash.clone(),
        client_id: client.id.clone(),
        redirect_uri,
        state: st.map(str::to_string),
        nonce,
        scope,
        code_challenge: challenge,
        prompt,
        max_age,
        usager_id: None,
        status: "pending".into(),
        created_at: now.naive_utc(),
        expires_at: (now + Duration::minutes(op::INTERACTION_MINUTES)).naive_utc(),
    };
    let st2 = state.clone().into_inner();
    let id = i.id.clone();
    blocking(move || -> Result<(), WebError> {
        let mut conn = st2.store.conn()?;
        op::start_interaction(&mut conn, &i)?;
        Ok(())
    })
    .await??;
    Ok(ctx.finish(&state, see_other(&format!("/oidc/interaction/{id}"))))
}

/// Loads the interaction of this session, or 404.
async fn load_interaction(
    state: &web::Data<AppState>,
    ctx: &Ctx,
    id: &str,
) -> Result<(Interaction, Client), WebError> {
    let st = state.clone().into_inner();
    let (id, session) = (id.to_string(), ctx.session.id_hash.clone());
    blocking(move || -> Result<(Interaction, Client), WebError> {
        let mut conn = st.store.conn()?;
        let i = op::interaction(&mut conn, st.clock.now(), &id, &session)?.ok_or_else(|| {
            WebError::NotFoundWith("Cette demande de connexion n’est plus valable (expirée, terminée ou ouverte dans un autre navigateur). Recommencez depuis le site de l’administration.".into())
        })?;
        let c = op::client(&mut conn, &i.client_id)?.ok_or(WebError::NotFound)?;
        Ok((i, c))
    })
    .await?
}

/// True when the aidant must log in (again) for this interaction.
fn needs_login(ctx: &Ctx, i: &Interaction) -> bool {
    let Some(_) = &ctx.user else { return true };
    let auth_time = ctx.session.created_at;
    let forced = i
        .prompt
        .as_deref()
        .is_some_and(|p| p.split_whitespace().any(|x| x == "login"))
        && auth_time < i.created_at;
    // max_age is measured at the authorization request, not at each later step (a slow
    // choice of usager must not send the aidant back to the login page).
    let too_old = i
        .max_age
        .is_some_and(|m| (i.created_at - auth_time).num_seconds() > m);
    forced || too_old
}

/// Sends the browser to the login page, to come back to the interaction.
async fn to_login(
    state: &web::Data<AppState>,
    ctx: &Ctx,
    i: &Interaction,
) -> Result<HttpResponse, WebError> {
    let st = state.clone().into_inner();
    let id_hash = ctx.session.id_hash.clone();
    let mut data = ctx.session.data();
    data.insert("next".into(), json!(format!("/oidc/interaction/{}", i.id)));
    data.insert("interaction".into(), json!(i.id));
    let was_logged_in = ctx.user.is_some();
    blocking(move || -> Result<(), WebError> {
        let mut conn = st.store.conn()?;
        if was_logged_in {
            // A fresh login is required (prompt=login or max_age): this session stops
            // being authenticated; the interaction stays bound to it.
            sessions::set_stage(&mut conn, &id_hash, None, stage::ANONYMOUS, st.clock.now())?;
        }
        sessions::set_data(&mut conn, &id_hash, &data)?;
        Ok(())
    })
    .await??;
    Ok(ctx.finish(state, see_other("/connexion")))
}

/// A usager to pick.
pub struct UsagerChoice {
    id: String,
    name: String,
    demarches: String,
}

/// A démarche to pick.
pub struct DemarcheChoice {
    code: String,
    label: String,
}

#[derive(Template)]
#[template(path = "oidc_choose.html")]
struct ChoosePage {
    layout: Layout,
    id: String,
    client: String,
    usagers: Vec<UsagerChoice>,
    usager_name: String,
    demarches: Vec<DemarcheChoice>,
}

async fn interaction(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    let (i, client) = load_interaction(&state, &ctx, &path).await?;
    if needs_login(&ctx, &i) {
        return to_login(&state, &ctx, &i).await;
    }
    let (_, structure) = ctx.require(Role::Aidant)?;
    let st = state.clone().into_inner();
    let (sid, chosen) = (structure.id.clone(), i.usager_id.clone());
    let (usagers, usager_name, demarches) = blocking(move || -> Result<_, WebError> {
        let mut conn = st.store.conn()?;
        let now = st.clock.now();
        let list = mandates::active_usagers(&mut conn, now, &sid, "")?;
        let mut name = String::new();
        let mut demarches = Vec::new();
        if let Some(u) = &chosen {
            name = list
                .iter()
                .find(|a| &a.usager.id == u)
                .map(|a| a.usager.display_name())
                .unwrap_or_default();
            demarches = op::usable_authorisations(&mut conn, now, &sid, u)?
                .into_iter()
                .map(|a| DemarcheChoice {
                    label: rules::demarche(&a.demarche)
                        .map(|d| d.label.to_string())
                        .unwrap_or_default(),
                    code: a.demarche,
                })
                .collect();
        }
        let usagers = list
            .into_iter()
            .map(|a| UsagerChoice {
                id: a.usager.id.clone(),
                name: a.usager.display_name(),
                demarches: a.demarches.join(", "),
            })
            .collect::<Vec<_>>();
        Ok((usagers, name, demarches))
    })
    .await??;
    Ok(render(&ChoosePage {
        layout: ctx.layout(&state),
        id: i.id.clone(),
        client: client.name.clone(),
        usagers,
        usager_name,
        demarches,
    }))
}

/// The usager choice.
#[derive(Deserialize)]
pub struct UsagerForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    usager: String,
}

async fn choose_usager(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<UsagerForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    ctx.check_csrf(&form.csrf_token)?;
    let (i, _) = load_interaction(&state, &ctx, &path).await?;
    if needs_login(&ctx, &i) {
        return to_login(&state, &ctx, &i).await;
    }
    let (_, structure) = ctx.require(Role::Aidant)?;
    let st = state.clone().into_inner();
    let (sid, usager, id) = (structure.id.clone(), form.into_inner().usager, i.id.clone());
    blocking(move || -> Result<(), WebError> {
        let mut conn = st.store.conn()?;
        let now = st.clock.now();
        if op::usable_authorisations(&mut conn, now, &sid, &usager)?.is_empty() {
            return Err(WebError::BadRequest(
                "Cette personne n’a pas de mandat actif dans votre structure.".into(),
            ));
        }
        op::choose_usager(&mut conn, &id, &usager)?;
        Ok(())
    })
    .await??;
    Ok(see_other(&format!("/oidc/interaction/{}", i.id)))
}

/// The démarche choice.
#[derive(Deserialize)]
pub struct DemarcheForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    demarche: String,
}

async fn choose_demarche(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<DemarcheForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    ctx.check_csrf(&form.csrf_token)?;
    let (i, _) = load_interaction(&state, &ctx, &path).await?;
    if needs_login(&ctx, &i) {
        return to_login(&state, &ctx, &i).await;
    }
    let (aidant, structure) = ctx.require(Role::Aidant)?;
    let st = state.clone().into_inner();
    let (aid, sid, demarche) = (
        aidant.id.clone(),
        structure.id.clone(),
        form.into_inner().demarche,
    );
    let auth_time = ctx.session.created_at;
    let i2 = i.clone();
    let code = blocking(move || -> Result<Option<String>, WebError> {
        let mut conn = st.store.conn()?;
        let now = st.clock.now();
        write_tx(&mut conn, |c| {
            op::issue_code(c, now, &i2, &aid, &sid, &demarche, auth_time)
        })
        .map_err(|e| WebError::Internal(e.to_string()))
    })
    .await??;
    let Some(code) = code else {
        return Err(WebError::BadRequest(
            "Cette démarche n’est pas couverte par un mandat actif de cette personne.".into(),
        ));
    };
    let iss = issuer(&state);
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &i.state {
        params.push(("state", s));
    }
    params.push(("iss", &iss));
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, add_params(&i.redirect_uri, &params)))
        .finish())
}

async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    ctx.check_csrf(&form.csrf_token)?;
    let (i, _) = load_interaction(&state, &ctx, &path).await?;
    let st = state.clone().into_inner();
    let id = i.id.clone();
    blocking(move || -> Result<(), WebError> {
        let mut conn = st.store.conn()?;
        op::close_interaction(&mut conn, &id, "cancelled")?;
        Ok(())
    })
    .await??;
    Ok(error_redirect(
        &state,
        &i.redirect_uri,
        i.state.as_deref(),
        "access_denied",
        "l’aidant a annulé",
    ))
}

/// Token request fields.
#[derive(Deserialize, Default)]
pub struct TokenForm {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    code_verifier: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn oauth_json(status: StatusCode, e: &OAuthError) -> HttpResponse {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::PRAGMA, "no-cache"));
    if e.error == "invalid_client" {
        b.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"procura\""));
    }
    b.json(json!({"error": e.error, "error_description": e.description}))
}

async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let invalid = |e: &'static str, d: &str| {
        oauth_json(
            StatusCode::BAD_REQUEST,
            &OAuthError {
                error: e,
                description: d.into(),
            },
        )
    };
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Ok(invalid(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let f: TokenForm = match serde_urlencoded_from(&body) {
        Some(f) => f,
        None => {
            return Ok(invalid(
                "invalid_request",
                "malformed or repeated parameters",
            ))
        }
    };
    if f.grant_type != "authorization_code" {
        return Ok(invalid(
            "unsupported_grant_type",
            "only authorization_code is supported",
        ));
    }
    if f.code.is_empty() {
        return Ok(invalid("invalid_request", "code is required"));
    }
    let basic = super::basic_credentials(&req);
    let unauthorized = |d: &str| {
        oauth_json(
            StatusCode::UNAUTHORIZED,
            &OAuthError {
                error: "invalid_client",
                description: d.into(),
            },
        )
    };
    let (client_id, secret, method) = match (&basic, &f.client_secret) {
        (Some(Err(())), _) => return Ok(unauthorized("malformed Basic credentials")),
        (Some(Ok(_)), Some(_)) => {
            return Ok(invalid(
                "invalid_request",
                "use one client authentication method only",
            ))
        }
        (Some(Ok((id, s))), None) => {
            if f.client_id.as_ref().is_some_and(|c| c != id) {
                return Ok(invalid(
                    "invalid_request",
                    "client_id differs from the authenticated client",
                ));
            }
            (id.clone(), Some(s.clone()), "client_secret_basic")
        }
        (None, Some(s)) => (
            f.client_id.clone().unwrap_or_default(),
            Some(s.clone()),
            "client_secret_post",
        ),
        (None, None) => (f.client_id.clone().unwrap_or_default(), None, "none"),
    };
    let Some(client) = load_client(&state, client_id).await? else {
        return Ok(unauthorized("unknown client"));
    };
    if client.auth_method != method {
        return Ok(unauthorized(&format!(
            "this client authenticates with {}",
            client.auth_method
        )));
    }
    if let Some(s) = &secret {
        if !client.secret_matches(s) {
            return Ok(unauthorized("wrong client secret"));
        }
    }
    let st = state.clone().into_inner();
    let master = master(&state)?;
    let iss = issuer(&state);
    let ttl = i64::from(state.settings.access_token_seconds);
    let result = blocking(
        move || -> Result<Result<serde_json::Value, OAuthError>, WebError> {
            let mut conn = st.store.conn()?;
            let now = st.clock.now();
            let secrets = st.secrets();
            write_tx(&mut conn, |c| {
                op::redeem(
                    c,
                    now,
                    &secrets,
                    &master,
                    &iss,
                    ttl,
                    &client,
                    &f.code,
                    &f.redirect_uri,
                    &f.code_verifier,
                )
            })
            .map_err(|e| WebError::Internal(e.to_string()))
        },
    )
    .await??;
    Ok(match result {
        Ok(v) => HttpResponse::Ok()
            .insert_header((header::PRAGMA, "no-cache"))
            .json(v),
        Err(e) => oauth_json(StatusCode::BAD_REQUEST, &e),
    })
}

/// Parses a form body, refusing repeated parameters (RFC 6749 §3.1).
fn serde_urlencoded_from(body: &[u8]) -> Option<TokenForm> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let mut seen = std::collections::HashSet::new();
    for (k, _) in &pairs {
        if !seen.insert(k.clone()) {
            return None;
        }
    }
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    Some(TokenForm {
        grant_type: get("grant_type").unwrap_or_default(),
        code: get("code").unwrap_or_default(),
        redirect_uri: get("redirect_uri").unwrap_or_default(),
        code_verifier: get("code_verifier").unwrap_or_default(),
        client_id: get("client_id"),
        client_secret: get("client_secret"),
    })
}

async fn userinfo(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let unauthorized = |e: &str| {
        HttpResponse::Unauthorized()
            .insert_header((
                header::WWW_AUTHENTICATE,
                format!("Bearer realm=\"procura\", error=\"{e}\""),
            ))
            .json(json!({"error": e}))
    };
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(unauthorized("invalid_request"));
    };
    let st = state.clone().into_inner();
    let master = master(&state)?;
    let claims = blocking(move || -> Result<Option<serde_json::Value>, WebError> {
        let mut conn = st.store.conn()?;
        Ok(op::userinfo(&mut conn, st.clock.now(), &master, &token)?)
    })
    .await??;
    Ok(match claims {
        Some(c) => HttpResponse::Ok().json(c),
        None => unauthorized("invalid_token"),
    })
}

/// RP-initiated logout parameters.
#[derive(Deserialize)]
pub struct LogoutQuery {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

#[derive(Template)]
#[template(path = "oidc_logged_out.html")]
struct LoggedOut {
    layout: Layout,
}

async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<LogoutQuery>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    let q = q.into_inner();
    let st = state.clone().into_inner();
    let hint = q.id_token_hint.clone();
    let wanted = q.post_logout_redirect_uri.clone();
    let client_hint = q.client_id.clone();
    // The hint must be one of our ID tokens (signature checked; expiry does not matter).
    let (valid_hint, target) = blocking(move || -> Result<(bool, Option<String>), WebError> {
        let mut conn = st.store.conn()?;
        let now = st.clock.now();
        let aud = match &hint {
            Some(t) => {
                let jwks = op::jwks(
                    &mut conn,
                    now,
                    &st.secrets(),
                    Duration::hours(i64::from(st.settings.key_grace_hours)),
                )
                .map_err(|e| WebError::Internal(e.to_string()))?;
                jwks["keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|k| {
                        crate::federation::jose::verify_es256(t, k)
                            .or_else(|| crate::federation::jose::verify_rs256(t, k))
                    })
                    .and_then(|p| p["aud"].as_str().map(str::to_string))
            }
            None => None,
        };
        let valid = aud.is_some();
        let client_id = aud.or(client_hint.filter(|_| hint.is_none()));
        let target = match (client_id, wanted) {
            (Some(cid), Some(uri)) if valid => op::client(&mut conn, &cid)?
                .filter(|c| c.post_logout_redirects().contains(&uri))
                .map(|_| uri),
            _ => None,
        };
        Ok((valid, target))
    })
    .await??;
    if !valid_hint && ctx.user.is_some() {
        // Without one of our ID tokens, a third-party link must not end the aidant's
        // session silently: ask first (RP-Initiated Logout 1.0 §2).
        return Ok(render(&super::ConfirmPage {
            layout: ctx.layout(&state),
            title: "Se déconnecter de Procura ?".into(),
            message: "Un site demande la fin de votre session Procura.".into(),
            button: "Se déconnecter".into(),
            action: "/oidc/logout".into(),
            back: "/espace".into(),
        }));
    }
    end_session(&state, &ctx).await?;
    let mut gone = super::session::session_cookie(&state, String::new());
    gone.make_removal();
    let mut resp = match target {
        Some(uri) => {
            let params: Vec<(&str, &str)> = q
                .state
                .as_deref()
                .map(|s| vec![("state", s)])
                .unwrap_or_default();
            HttpResponse::Found()
                .insert_header((header::LOCATION, add_params(&uri, &params)))
                .finish()
        }
        None => render(&LoggedOut {
            layout: Layout {
                user_name: None,
                ..ctx.layout(&state)
            },
        }),
    };
    let _ = resp.add_cookie(&gone);
    Ok(resp)
}

/// Ends the request's session (journaled when an aidant was logged in).
async fn end_session(state: &web::Data<AppState>, ctx: &Ctx) -> Result<(), WebError> {
    let st = state.clone().into_inner();
    let user = ctx.user.clone();
    let id_hash = ctx.session.id_hash.clone();
    blocking(move || -> Result<(), WebError> {
        let mut conn = st.store.conn()?;
        let now = st.clock.now();
        write_tx(
            &mut conn,
            |c| -> Result<(), crate::accounts::AccountError> {
                sessions::delete(c, &id_hash)?;
                if let Some(u) = &user {
                    let mut e = NewEntry::new("logout")
                        .actor(u.actor())
                        .detail("via", "end_session_endpoint");
                    if let Some(s) = &u.current_structure_id {
                        e = e.structure(s);
                    }
                    journal::append(c, now, e)?;
                }
                Ok(())
            },
        )
        .map_err(WebError::from)
    })
    .await?
}

/// The confirmed logout (POST from the confirmation page).
async fn logout_confirmed(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    let ctx = context(&req, &state).await?;
    ctx.check_csrf(&form.csrf_token)?;
    end_session(&state, &ctx).await?;
    let mut gone = super::session::session_cookie(&state, String::new());
    gone.make_removal();
    let mut resp = render(&LoggedOut {
        layout: Layout {
            user_name: None,
            ..ctx.layout(&state)
        },
    });
    let _ = resp.add_cookie(&gone);
    Ok(resp)
}
