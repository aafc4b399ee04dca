//! The token and userinfo endpoints (JSON, RFC 6749 §5 errors).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::issuer;
use crate::error::Error;
use crate::federation::provider::{self as op, OAuthError, TokenOutcome};
use crate::store::DbConn;
use crate::web::session::Env;
use crate::web::{App, Run, WebError};

fn oauth_json(status: StatusCode, e: &OAuthError) -> HttpResponse {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::PRAGMA, "no-cache"));
    if e.error == "invalid_client" {
        b.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"procura\""));
    }
    b.json(json!({"error": e.error, "error_description": e.description}))
}

fn refused(r: &op::TokenRefusal) -> HttpResponse {
    let status = if r.unauthorized() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    oauth_json(status, &r.0)
}

pub async fn token(req: HttpRequest, app: App, body: web::Bytes) -> Result<HttpResponse, WebError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (auth, request) =
        match op::parse_token_request(ct, &body, crate::web::basic_credentials(&req)) {
            Ok(x) => x,
            Err(r) => return Ok(refused(&r)),
        };
    let outcome = with_issuer(&app, move |db, env, issuer| {
        op::token(db, env.now, issuer, &auth, &request)
    })
    .await?;
    Ok(match outcome {
        TokenOutcome::Issued(v) => HttpResponse::Ok()
            .insert_header((header::PRAGMA, "no-cache"))
            .json(v),
        TokenOutcome::Refused(r) => refused(&r),
    })
}

/// Runs `f` with the provider's [`op::Issuer`].
async fn with_issuer<T, F>(app: &App, f: F) -> Result<T, WebError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn, &Env<'_>, &op::Issuer<'_>) -> Result<T, Error> + Send + 'static,
{
    let master = app
        .settings
        .master_key
        .ok_or_else(|| WebError::Internal("PROCURA_MASTER_KEY manquante".into()))?;
    let url = issuer(app);
    app.run(move |db, env| {
        let issuer = op::Issuer {
            url: &url,
            secrets: env.secrets,
            keys: &env.state.keys,
            master: &master,
            access_ttl: i64::from(env.settings.access_token_seconds),
        };
        f(db, env, &issuer)
    })
    .await
}

pub async fn userinfo(req: HttpRequest, app: App) -> Result<HttpResponse, WebError> {
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
    let answer = with_issuer(&app, move |db, env, issuer| {
        op::userinfo(db, env.now, issuer, &token)
    })
    .await?;
    Ok(match answer {
        op::Userinfo::Json(c) => HttpResponse::Ok().json(c),
        op::Userinfo::Jwt(jwt) => HttpResponse::Ok().content_type("application/jwt").body(jwt),
        op::Userinfo::Invalid => unauthorized("invalid_token"),
    })
}
