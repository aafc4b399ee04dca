//! HTTP face of the FranceConnect simulator (mounted only in demo mode).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session::Ctx;
use super::WebError;
use super::{render, AppState, Layout};
use crate::federation::client::Identity;
use crate::federation::simulator::{identities, Simulator, PREFIX};

/// Mounts the simulator's routes when `enabled` (demo mode).
pub fn routes(cfg: &mut web::ServiceConfig, enabled: bool) {
    if !enabled {
        return;
    }
    cfg.service(
        web::scope(PREFIX)
            .route("/.well-known/openid-configuration", web::get().to(metadata))
            .route("/jwks", web::get().to(jwks))
            .route("/authorize", web::get().to(authorize))
            .route("/authorize", web::post().to(choose))
            .route("/token", web::post().to(token))
            .route("/userinfo", web::get().to(userinfo))
            .route("/logout", web::get().to(end_session)),
    );
}

fn sim(state: &AppState) -> Result<&crate::federation::simulator::Simulator, WebError> {
    state.simulator.as_deref().ok_or(WebError::NotFound)
}

async fn metadata(state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    Ok(HttpResponse::Ok().json(sim(&state)?.metadata()))
}

async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    Ok(HttpResponse::Ok().json(sim(&state)?.jwks()))
}

/// Authorization request parameters.
#[derive(Deserialize, Clone, Default)]
pub struct AuthParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    nonce: String,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    code_challenge_method: String,
}

#[derive(Template)]
#[template(path = "fc_simulator.html")]
struct SimPage {
    layout: Layout,
    people: Vec<Identity>,
    p: AuthParams,
    signed_in: Option<Identity>,
}

fn expected_redirect(state: &AppState) -> String {
    state.settings.url("/franceconnect/callback")
}

fn expected_post_logout(state: &AppState) -> String {
    state.settings.url(crate::web::mandates::SIGNED_OUT_PATH)
}

async fn authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AuthParams>,
) -> Result<HttpResponse, WebError> {
    let s = sim(&state)?;
    let p = q.into_inner();
    check(s, &state, &p)?;
    let ctx = Ctx::load(&req).await?;
    Ok(ctx.finish(
        &state,
        render(&SimPage {
            layout: ctx.layout(&state),
            people: identities(),
            p,
            signed_in: s.signed_in(&ctx.session.id_hash, state.clock.now()),
        }),
    ))
}

/// The authorization request's checks, refused with a 400 page.
fn check(s: &Simulator, state: &AppState, p: &AuthParams) -> Result<(), WebError> {
    s.check_request(
        &p.client_id,
        &p.redirect_uri,
        &expected_redirect(state),
        &p.code_challenge,
        &p.code_challenge_method,
        &p.nonce,
        &p.state,
    )
    .map_err(|m| WebError::BadRequest(format!("Simulateur FranceConnect : requête refusée ({m}).")))
}

/// The person's choice on the simulator page.
#[derive(Deserialize)]
pub struct Choice {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    identity: String,
    #[serde(default)]
    action: String,
    #[serde(flatten)]
    p: AuthParams,
}

async fn choose(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<Choice>,
) -> Result<HttpResponse, WebError> {
    let s = sim(&state)?;
    let ctx = Ctx::load(&req).await?;
    ctx.check_csrf(&form.csrf_token)?;
    let f = form.into_inner();
    let p = f.p;
    check(s, &state, &p)?;
    let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let location = if f.action == "annuler" {
        format!(
            "{}?error=access_denied&error_description={}&state={}",
            p.redirect_uri,
            enc("annulé par l’usager"),
            enc(&p.state)
        )
    } else {
        let i: usize = f
            .identity
            .parse()
            .ok()
            .filter(|i| *i < identities().len())
            .ok_or_else(|| WebError::BadRequest("Choisissez une identité.".into()))?;
        let code = s.issue_code(
            i,
            &p.nonce,
            &p.code_challenge,
            &p.redirect_uri,
            &ctx.session.id_hash,
            state.clock.now(),
        );
        format!(
            "{}?code={}&state={}",
            p.redirect_uri,
            enc(&code),
            enc(&p.state)
        )
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish())
}

/// Token request.
#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    code_verifier: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
}

fn oauth_error(code: &str, description: &str) -> HttpResponse {
    let status = if code == "invalid_client" { 401 } else { 400 };
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .json(serde_json::json!({"error": code, "error_description": description}))
}

async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, WebError> {
    let s = sim(&state)?;
    let f = form.into_inner();
    if f.grant_type != "authorization_code" {
        return Ok(oauth_error(
            "unsupported_grant_type",
            "seul authorization_code est accepté",
        ));
    }
    let client = super::basic_credentials(&req).and_then(Result::ok).or(
        match (f.client_id, f.client_secret) {
            (Some(i), Some(c)) => Some((i, c)),
            _ => None,
        },
    );
    let Some((id, secret)) = client else {
        return Ok(oauth_error(
            "invalid_client",
            "authentification du client absente",
        ));
    };
    Ok(
        match s.token(
            (&id, &secret),
            &f.code,
            &f.code_verifier,
            &f.redirect_uri,
            state.clock.now(),
        ) {
            Ok(v) => HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(v),
            Err((code, d)) => oauth_error(code, &d),
        },
    )
}

async fn userinfo(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let s = sim(&state)?;
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    Ok(match s.userinfo(token, state.clock.now()) {
        Some(identity) => HttpResponse::Ok().json(identity),
        None => HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""))
            .json(serde_json::json!({"error": "invalid_token"})),
    })
}

/// RP-initiated logout parameters.
#[derive(Deserialize)]
pub struct EndSessionParams {
    #[serde(default)]
    id_token_hint: String,
    #[serde(default)]
    post_logout_redirect_uri: String,
    #[serde(default)]
    state: String,
}

/// The end_session endpoint: ends the browser's simulated sign-in and sends it back.
async fn end_session(
    state: web::Data<AppState>,
    q: web::Query<EndSessionParams>,
) -> Result<HttpResponse, WebError> {
    let s = sim(&state)?;
    let location = s
        .end_session(
            &q.id_token_hint,
            &q.post_logout_redirect_uri,
            &expected_post_logout(&state),
            &q.state,
            state.clock.now(),
        )
        .map_err(|m| {
            WebError::BadRequest(format!(
                "Simulateur FranceConnect : déconnexion refusée ({m})."
            ))
        })?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish())
}
