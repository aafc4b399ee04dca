//! The OpenID provider's HTTP surface: discovery, JWKS, authorization (with the aidant's
//! choice of usager and démarche), token, userinfo and logout. Each handler parses the
//! request, calls one use case of `federation::provider`, and renders its outcome.

mod authorize;
mod discovery;
mod logout;
mod token;

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use super::AppState;
use crate::federation::provider::AuthorizeRefusal;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(discovery::metadata),
    )
    .route("/oidc/jwks", web::get().to(discovery::jwks))
    .route("/oidc/authorize", web::get().to(authorize::authorize))
    .route(
        "/oidc/interaction/{id}",
        web::get().to(authorize::interaction),
    )
    .route(
        "/oidc/interaction/{id}/usager",
        web::post().to(authorize::choose_usager),
    )
    .route(
        "/oidc/interaction/{id}/demarche",
        web::post().to(authorize::choose_demarche),
    )
    .route(
        "/oidc/interaction/{id}/annuler",
        web::post().to(authorize::cancel),
    )
    .route(
        "/oidc/interaction/{id}/reconnexion",
        web::post().to(authorize::reauthenticate),
    )
    .route("/oidc/token", web::post().to(token::token))
    .route("/oidc/userinfo", web::get().to(token::userinfo))
    .route("/oidc/userinfo", web::post().to(token::userinfo))
    .route("/oidc/logout", web::get().to(logout::logout))
    .route("/oidc/logout", web::post().to(logout::logout_confirmed))
    .route(
        authorize::FILTER_JS_PATH,
        web::get().to(authorize::filter_js),
    );
}

fn issuer(state: &AppState) -> String {
    state
        .settings
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_string()
}

/// `uri` with `params` added to its query.
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

/// A 302 to the client (RFC 6749 §4.1.2, RFC 9207 `iss`).
fn to_client(state: &AppState, redirect_uri: &str, params: Vec<(&str, &str)>) -> HttpResponse {
    let iss = issuer(state);
    let mut params = params;
    params.push(("iss", iss.as_str()));
    HttpResponse::Found()
        .insert_header((header::LOCATION, add_params(redirect_uri, &params)))
        .finish()
}

/// The response to a refused authorization request.
fn refusal(state: &AppState, r: AuthorizeRefusal) -> Result<HttpResponse, super::WebError> {
    match r {
        AuthorizeRefusal::NoRedirect(m) => Err(super::WebError::BadRequest(m.into())),
        AuthorizeRefusal::Redirect {
            redirect_uri,
            state: client_state,
            error,
            description,
        } => {
            let mut params = vec![("error", error), ("error_description", description)];
            if let Some(s) = &client_state {
                params.push(("state", s));
            }
            Ok(to_client(state, &redirect_uri, params))
        }
    }
}
