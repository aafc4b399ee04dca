//! Error pages: French HTML for browsers, JSON for JSON clients; never a bare status.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::error::InternalError;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use askama::Template;

use super::{AppState, Layout};
use crate::error::Error;
use crate::store::StoreError;

/// The layout of the request's session when an account is logged in, left in the
/// request's extensions by [`super::session::Ctx`]: error pages then show the account's
/// header (name, logout) like every other page of the session.
#[derive(Debug, Clone)]
pub struct SessionLayout(pub Layout);

/// Message carried by an error response to the page renderer ([`fill_empty_errors`]).
#[derive(Debug, Clone)]
pub struct ErrorMessage(pub String);

/// The errors of handlers: the one place where failures become HTTP statuses. The body is
/// filled by [`fill_empty_errors`] (a French page, or JSON for JSON clients).
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Not logged in: redirect to the login page.
    #[error("authentification requise")]
    LoginRequired,
    /// The account must accept the terms of use in force first: redirect to `/conditions`.
    #[error("acceptation des conditions d’utilisation requise")]
    TermsRequired,
    /// The person is not logged in to their space: redirect to `/moi`.
    #[error("connexion à l’espace personnel requise")]
    PersonLoginRequired,
    /// Logged in but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// Missing or wrong CSRF token.
    #[error("csrf")]
    Csrf,
    /// Unknown or out-of-scope object.
    #[error("introuvable")]
    NotFound,
    /// Not found, with an explanation (an expired link).
    #[error("{0}")]
    NotFoundWith(String),
    /// Bad input.
    #[error("{0}")]
    BadRequest(String),
    /// Too many attempts.
    #[error("{0}")]
    TooMany(String),
    /// The service failed.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        WebError::Internal(e.to_string())
    }
}

/// True for PostgreSQL's refusal of a NUL character in text: the input's fault, not
/// the service's (the transaction was rolled back, nothing changed).
fn nul_in_text(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info) if info.message().contains("0x00"))
}

impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        match e {
            Error::Query(q)
            | Error::Store(StoreError::Query(q))
            | Error::Journal(crate::journal::JournalError::Query(q))
                if nul_in_text(&q) =>
            {
                WebError::BadRequest(
                    "Le texte envoyé contient un caractère interdit (caractère nul).".into(),
                )
            }
            Error::Journal(crate::journal::JournalError::OutOfRange(m)) => WebError::BadRequest(m),
            Error::NotFound => WebError::NotFound,
            Error::LoginRequired => WebError::LoginRequired,
            Error::Forbidden(m) => WebError::Forbidden(m),
            Error::Csrf => WebError::Csrf,
            Error::Gone(m) => WebError::NotFoundWith(m),
            e if e.is_refusal() => WebError::BadRequest(e.to_string()),
            e => WebError::Internal(e.to_string()),
        }
    }
}

impl actix_web::ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::LoginRequired | WebError::PersonLoginRequired | WebError::TermsRequired => {
                StatusCode::SEE_OTHER
            }
            WebError::Forbidden(_) | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::NotFound | WebError::NotFoundWith(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            WebError::LoginRequired => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, "/connexion"))
                    .finish()
            }
            WebError::PersonLoginRequired => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, "/moi"))
                    .finish()
            }
            WebError::TermsRequired => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, "/conditions"))
                    .finish()
            }
            WebError::Csrf => "Le formulaire a expiré ou ne provient pas de ce site. Rechargez la page et recommencez.".to_string(),
            WebError::NotFound => "L’adresse demandée n’existe pas ou n’est plus disponible.".to_string(),
            WebError::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                "Une erreur inattendue s’est produite. Elle a été enregistrée ; réessayez dans quelques instants.".to_string()
            }
            WebError::Forbidden(m)
            | WebError::BadRequest(m)
            | WebError::TooMany(m)
            | WebError::NotFoundWith(m) => m.clone(),
        };
        deferred(self.status_code(), message)
    }
}

/// An error response whose body [`fill_empty_errors`] fills once the request's session
/// is known, so that errors raised before any handler (body checks, malformed forms and
/// query strings, 405 from routing) still show the logged-in header.
pub fn deferred(status: StatusCode, message: String) -> HttpResponse {
    let mut resp = HttpResponse::build(status).finish();
    resp.extensions_mut().insert(ErrorMessage(message));
    resp
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: &'a Layout,
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// True when the client asked for JSON rather than HTML.
pub fn wants_json(req: &HttpRequest) -> bool {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    (accept.contains("application/json") && !accept.contains("text/html"))
        || (accept.is_empty() && content_type.starts_with("application/json"))
}

/// The error's code (in JSON answers) and title (on pages) for `status`.
fn names_of(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("invalid_request", "Requête invalide"),
        401 => ("unauthorized", "Authentification requise"),
        403 => ("forbidden", "Accès refusé"),
        404 => ("not_found", "Page introuvable"),
        405 => ("method_not_allowed", "Méthode non autorisée"),
        408 => ("error", "Délai dépassé"),
        413 => ("payload_too_large", "Requête trop volumineuse"),
        415 => ("unsupported_media_type", "Format non pris en charge"),
        429 => ("too_many_requests", "Trop de tentatives"),
        503 => ("unavailable", "Service momentanément indisponible"),
        s if s >= 500 => ("server_error", "Erreur interne"),
        _ => ("error", "Erreur"),
    }
}

fn default_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "L’adresse demandée n’existe pas ou n’est plus disponible.",
        405 => "Cette adresse n’accepte pas ce type de requête.",
        413 => "La requête dépasse la taille autorisée.",
        415 => "Le format de la requête n’est pas pris en charge.",
        s if s >= 500 => "Une erreur inattendue s’est produite. Elle a été enregistrée ; réessayez dans quelques instants.",
        _ => "La requête n’a pas pu être traitée.",
    }
}

/// An error response for `req`: JSON (`error`, `error_description`) or a French page.
pub fn error_page(req: &HttpRequest, status: StatusCode, message: &str) -> HttpResponse {
    if wants_json(req) {
        return HttpResponse::build(status).json(serde_json::json!({
            "error": names_of(status).0,
            "error_description": message,
        }));
    }
    let fallback;
    let session = req.extensions().get::<SessionLayout>().cloned();
    let layout = match (&session, req.app_data::<web::Data<AppState>>()) {
        (Some(SessionLayout(l)), _) => l,
        (None, Some(s)) => &s.layout,
        (None, None) => {
            fallback = Layout {
                stylesheets: vec!["/static/procura.css".into()],
                ..Layout::default()
            };
            &fallback
        }
    };
    let page = ErrorPage {
        layout,
        status: status.as_u16(),
        title: names_of(status).1,
        message,
    };
    let body = page.render().unwrap_or_else(|_| message.to_string());
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// The 404 page for unknown routes, in the session's layout when one is logged in.
pub async fn not_found(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if req.cookie(state.settings.session_cookie()).is_some() && !person_side(req.path()) {
        // Only for the header: a failure here still gives the plain 404 page.
        let _ = super::session::Ctx::load(&req).await;
    }
    error_page(
        &req,
        StatusCode::NOT_FOUND,
        default_message(StatusCode::NOT_FOUND),
    )
}

fn bad_input(err: actix_web::Error, what: &str) -> actix_web::Error {
    let status = err.as_response_error().status_code();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        default_message(status).to_string()
    } else {
        format!("{what} invalide : {}", err)
    };
    InternalError::from_response(err, deferred(status, message)).into()
}

/// JSON body errors → 400 with a clear message.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(super::body::BODY_LIMIT)
        .error_handler(|e, _req| bad_input(e.into(), "Contenu JSON"))
}

/// Form body errors → 400 with a clear message.
pub fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(super::body::BODY_LIMIT)
        .error_handler(|e, _req| bad_input(e.into(), "Formulaire"))
}

/// Query string errors → 400 with a clear message.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|e, _req| bad_input(e.into(), "Paramètres d’adresse"))
}

/// Path segment errors → 404 (a malformed id names nothing).
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|e, _req| {
        let resp = deferred(
            StatusCode::NOT_FOUND,
            default_message(StatusCode::NOT_FOUND).to_string(),
        );
        InternalError::from_response(e, resp).into()
    })
}

/// Pages of the represented person (their space, a remote consent link), which have their
/// own session: an aidant's session in the same browser is not theirs to show.
fn person_side(path: &str) -> bool {
    ["/moi", "/consentement"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Gives every 4xx/5xx response that has no body of its own (405 from routing, errors
/// raised by actix itself or by a handler, refusals before any handler) a French page or
/// a JSON body. A page for a request that carries a session cookie but whose session was
/// not loaded (the error came first) loads it, for the header only
/// (not on the person's pages).
pub fn fill_empty_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        if res.response().headers().contains_key(header::CONTENT_TYPE) {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let message = res
            .response()
            .extensions()
            .get::<ErrorMessage>()
            .map(|m| m.0.clone())
            .unwrap_or_else(|| default_message(status).to_string());
        let (req, _old) = res.into_parts();
        // The person's own pages never show the aidant's account, even at a shared desk.
        let load = !wants_json(&req)
            && !person_side(req.path())
            && req.extensions().get::<SessionLayout>().is_none()
            && req
                .app_data::<web::Data<AppState>>()
                .is_some_and(|s| req.cookie(s.settings.session_cookie()).is_some());
        if !load {
            let new = error_page(&req, status, &message);
            return Ok(ErrorHandlerResponse::Response(
                ServiceResponse::new(req, new).map_into_right_body(),
            ));
        }
        Ok(ErrorHandlerResponse::Future(Box::pin(async move {
            // Only for the header: a failure here still gives the page without it.
            let _ = super::session::Ctx::load(&req).await;
            let new = error_page(&req, status, &message);
            Ok(ServiceResponse::new(req, new).map_into_right_body())
        })))
    })
}
