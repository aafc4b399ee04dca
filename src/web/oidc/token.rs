//! The token and userinfo endpoints (JSON, RFC 6749 §5 errors).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::issuer;
use crate::federation::provider::{self as op, OAuthError, TokenOutcome};
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
    let master = master(&app)?;
    let url = issuer(&app);
    let outcome = app
        .run(move |db, env| {
            let issuer = op::Issuer {
                url: &url,
                secrets: env.secrets,
                keys: &env.state.keys,
                master: &master,
                access_ttl: i64::from(env.settings.access_token_seconds),
            };
            op::token(db, env.now, &issuer, &auth, &request)
        })
        .await?;
    Ok(match outcome {
        TokenOutcome::Issued(v) => HttpResponse::Ok()
            .insert_header((header::PRAGMA, "no-cache"))
            .json(v),
        TokenOutcome::Refused(r) => refused(&r),
    })
}

fn master(app: &App) -> Result<[u8; 32], WebError> {
    app.settings
        .master_key
        .ok_or_else(|| WebError::Internal("PROCURA_MASTER_KEY manquante".into()))
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
    let master = master(&app)?;
    let claims = app
        .run(move |db, env| op::userinfo(db, env.now, &master, &token))
        .await?;
    Ok(match claims {
        Some(c) => HttpResponse::Ok().json(c),
        None => unauthorized("invalid_token"),
    })
}
