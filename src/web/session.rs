//! Per-request context: the session (created on first visit), the logged-in account,
//! its current structure, CSRF checks, and the errors handlers return.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::Value;

use super::{blocking, AppState, Layout};
use crate::accounts::sessions::{self, stage, Session};
use crate::accounts::structures::Structure;
use crate::accounts::users::{self, User};
use crate::accounts::AccountError;
use crate::crypto::constant_time_eq;
use crate::domain::roles::Role;
use crate::store::StoreError;

/// Message carried by an error response to the page renderer (`errors::fill_empty_errors`).
#[derive(Debug, Clone)]
pub struct ErrorMessage(pub String);

/// Errors of page handlers, rendered as French pages.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Not logged in: redirect to the login page.
    #[error("authentification requise")]
    LoginRequired,
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

impl From<diesel::result::Error> for WebError {
    fn from(e: diesel::result::Error) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<AccountError> for WebError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::NotFound => WebError::NotFound,
            e if e.is_refusal() => WebError::BadRequest(e.to_string()),
            e => WebError::Internal(e.to_string()),
        }
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::LoginRequired => StatusCode::SEE_OTHER,
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
        let mut resp = HttpResponse::build(self.status_code()).finish();
        resp.extensions_mut().insert(ErrorMessage(message));
        resp
    }
}

/// The request's session and, when logged in, its account and current structure.
pub struct Ctx {
    /// The session row.
    pub session: Session,
    /// Cookie token, when a new session was created for this request.
    pub new_token: Option<String>,
    /// The logged-in account.
    pub user: Option<User>,
    /// Its current structure.
    pub structure: Option<Structure>,
    /// Its structures.
    pub structures: Vec<Structure>,
}

impl Ctx {
    /// The logged-in account, or a redirect to the login page.
    pub fn user(&self) -> Result<&User, WebError> {
        self.user.as_ref().ok_or(WebError::LoginRequired)
    }

    /// The logged-in account holding `role`, and its current structure.
    pub fn require(&self, role: Role) -> Result<(&User, &Structure), WebError> {
        let user = self.user()?;
        if !user.has(role) {
            return Err(WebError::Forbidden(
                "Votre compte n’a pas accès à cette page.".into(),
            ));
        }
        let structure = self.structure.as_ref().ok_or_else(|| {
            WebError::Forbidden("Votre compte n’est rattaché à aucune structure.".into())
        })?;
        Ok((user, structure))
    }

    /// The logged-in account holding any of `roles`, and its current structure.
    pub fn require_any(&self, roles: &[Role]) -> Result<(&User, &Structure), WebError> {
        let user = self.user()?;
        match roles.iter().find(|r| user.has(**r)) {
            Some(r) => self.require(*r),
            None => Err(WebError::Forbidden(
                "Votre compte n’a pas accès à cette page.".into(),
            )),
        }
    }

    /// Checks the CSRF token of a POST form.
    pub fn check_csrf(&self, given: &str) -> Result<(), WebError> {
        if self.new_token.is_none()
            && !given.is_empty()
            && constant_time_eq(given.as_bytes(), self.session.csrf_token.as_bytes())
        {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }

    /// The page layout for this request.
    pub fn layout(&self, state: &AppState) -> Layout {
        Layout {
            stylesheets: state.layout.stylesheets.clone(),
            user_name: self.user.as_ref().map(|u| u.name.clone()),
            structure_name: self.structure.as_ref().map(|s| s.name.clone()),
            csrf_token: self.session.csrf_token.clone(),
            demo: state.settings.demo,
        }
    }

    /// A flash message left by the previous request (taken once).
    pub fn flash(&self) -> Option<String> {
        self.session
            .data()
            .get("flash")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// Adds the session cookie to `resp` when this request created the session.
    pub fn finish(&self, state: &AppState, mut resp: HttpResponse) -> HttpResponse {
        if let Some(token) = &self.new_token {
            let _ = resp.add_cookie(&session_cookie(state, token.clone()));
        }
        resp
    }
}

/// The session cookie: HttpOnly, SameSite=Lax, path /, Secure with `__Host-` over https.
pub fn session_cookie(state: &AppState, token: String) -> Cookie<'static> {
    let mut c = Cookie::new(state.settings.session_cookie(), token);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(state.settings.https());
    c
}

/// Loads (or starts) the request's session and its account.
pub async fn context(req: &HttpRequest, state: &web::Data<AppState>) -> Result<Ctx, WebError> {
    let token = req
        .cookie(state.settings.session_cookie())
        .map(|c| c.value().to_string());
    let st = state.clone().into_inner();
    let ctx = blocking(move || -> Result<Ctx, WebError> {
        let now = st.clock.now();
        let policy = st.settings.session_policy();
        let mut conn = st.store.conn()?;
        let existing = match &token {
            Some(t) => sessions::load(&mut conn, now, &policy, t)?,
            None => None,
        };
        let (session, new_token) = match existing {
            Some(s) => (s, None),
            None => {
                let (t, s) = sessions::create(&mut conn, now, None, stage::ANONYMOUS)?;
                (s, Some(t))
            }
        };
        let mut user = None;
        if session.stage == stage::FULL {
            if let Some(uid) = &session.user_id {
                user = users::find(&mut conn, uid)?.filter(|u| u.active);
            }
            if user.is_none() {
                // Deactivated or deleted account: the session ends now.
                sessions::delete(&mut conn, &session.id_hash)?;
                let (t, s) = sessions::create(&mut conn, now, None, stage::ANONYMOUS)?;
                return Ok(Ctx {
                    session: s,
                    new_token: Some(t),
                    user: None,
                    structure: None,
                    structures: vec![],
                });
            }
        }
        let structures = match &user {
            Some(u) => users::structures_of(&mut conn, &u.id)?,
            None => vec![],
        };
        let structure = user.as_ref().and_then(|u| {
            u.current_structure_id
                .as_ref()
                .and_then(|id| structures.iter().find(|s| &s.id == id).cloned())
        });
        Ok(Ctx {
            session,
            new_token,
            user,
            structure,
            structures,
        })
    })
    .await??;
    Ok(ctx)
}

/// Stores a flash message for the next page.
pub async fn set_flash(
    state: &web::Data<AppState>,
    ctx: &Ctx,
    message: &str,
) -> Result<(), WebError> {
    let st = state.clone().into_inner();
    let id = ctx.session.id_hash.clone();
    let mut data = ctx.session.data();
    data.insert("flash".into(), Value::String(message.to_string()));
    blocking(move || -> Result<(), WebError> {
        let mut conn = st.store.conn()?;
        sessions::set_data(&mut conn, &id, &data)?;
        Ok(())
    })
    .await??;
    Ok(())
}

/// Clears the flash message once shown.
pub async fn take_flash(
    state: &web::Data<AppState>,
    ctx: &Ctx,
) -> Result<Option<String>, WebError> {
    let Some(msg) = ctx.flash() else {
        return Ok(None);
    };
    let st = state.clone().into_inner();
    let id = ctx.session.id_hash.clone();
    let mut data = ctx.session.data();
    data.remove("flash");
    blocking(move || -> Result<(), WebError> {
        let mut conn = st.store.conn()?;
        sessions::set_data(&mut conn, &id, &data)?;
        Ok(())
    })
    .await??;
    Ok(Some(msg))
}

/// A 303 redirect.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_string()))
        .finish()
}

/// The client address used for rate limiting (the TCP peer; proxies are not trusted).
pub fn client_addr(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}
