//! What a handler is given about the request: its session and account (`Ctx`), an
//! account holding a role in its current structure (`Aidant`, `Manager`, `Auditor`),
//! CSRF checks, flash messages, and `Run::run` to call a use case on a pooled connection.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use super::errors::WebError;
use super::{AppState, Layout};
use crate::accounts::sessions::{self, Session, Visit, Visitor};
use crate::accounts::structures::Structure;
use crate::accounts::users::User;
use crate::accounts::Acting;
use crate::config::Settings;
use crate::crypto::{constant_time_eq, SecretBox};
use crate::domain::roles::Role;
use crate::error::Error;
use crate::store::DbConn;

/// Why a member of a deactivated structure may not act for it (its mandates included).
pub const STRUCTURE_INACTIVE: &str = "Votre structure est désactivée : ni vous ni ses autres membres ne pouvez plus créer ni utiliser ses mandats. Si vous êtes membre d’une autre structure, choisissez-la depuis votre espace.";

/// The running service, as handlers receive it.
pub type App = web::Data<AppState>;

/// What a use case may need besides its connection: the time of the request, settings,
/// secrets at rest.
pub struct Env<'a> {
    /// The request's time (one clock read per use case).
    pub now: DateTime<Utc>,
    /// Validated settings.
    pub settings: &'a Settings,
    /// Secrets at rest.
    pub secrets: &'a SecretBox,
    /// The service (keys and caches).
    pub state: &'a AppState,
    /// Session timeouts.
    pub sessions: crate::accounts::sessions::Policy,
    /// Login lockout and rate limits.
    pub logins: crate::accounts::login::Policy,
}

/// Runs use cases off the async workers.
#[allow(async_fn_in_trait)]
pub trait Run {
    /// Runs `f` on the blocking pool with a pooled connection, inside the request's
    /// tracing span. The connection is held only while `f` runs.
    async fn run<T, F>(&self, f: F) -> Result<T, WebError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn, &Env<'_>) -> Result<T, Error> + Send + 'static;
}

/// A use case's result when its refusal is shown on the same page (a form with an error
/// message) rather than as an error page.
pub enum Refusable<T> {
    /// It was done.
    Done(T),
    /// It was refused: the French message to show.
    Refused(String),
}

/// As [`Run::run`], with refusals as values.
pub async fn run_refusable<T, F>(app: &App, f: F) -> Result<Refusable<T>, WebError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn, &Env<'_>) -> Result<T, Error> + Send + 'static,
{
    app.run(move |db, env| match f(db, env) {
        Ok(v) => Ok(Refusable::Done(v)),
        Err(e) if e.is_refusal() => Ok(Refusable::Refused(e.to_string())),
        Err(e) => Err(e),
    })
    .await
}

impl Run for App {
    async fn run<T, F>(&self, f: F) -> Result<T, WebError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn, &Env<'_>) -> Result<T, Error> + Send + 'static,
    {
        let st = self.clone().into_inner();
        let span = tracing::Span::current();
        web::block(move || {
            span.in_scope(|| {
                let mut conn = st.store.conn()?;
                let env = Env {
                    now: st.clock.now(),
                    settings: &st.settings,
                    secrets: &st.secret_box,
                    state: &st,
                    sessions: st.settings.session_policy(),
                    logins: st.settings.login_policy(),
                };
                f(&mut conn, &env)
            })
        })
        .await
        .map_err(|e| WebError::Internal(format!("blocking task failed: {e}")))?
        .map_err(WebError::from)
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
    /// An account past both factors that must accept the terms of use in force before
    /// anything else (`user` is None meanwhile).
    pub awaiting_terms: Option<User>,
    /// False while a new session exists only in memory (see [`Ctx::finish`]).
    stored: bool,
    flash: Option<String>,
    clear_flash: bool,
    /// The request's path, for the main navigation.
    path: String,
}

/// How a request's session is resolved ([`sessions::visit`] or [`sessions::visit_lazy`]).
type VisitFn =
    fn(&mut DbConn, DateTime<Utc>, &sessions::Policy, Option<&str>) -> Result<Visit, Error>;

/// A new session to store before the response leaves: its page carries a form.
#[derive(Clone)]
struct StoreSession(Session);

impl Ctx {
    fn from_visit(v: Visit, flash: Option<String>) -> Self {
        Ctx {
            session: v.visitor.session,
            new_token: v.new_token,
            user: v.visitor.user,
            structure: v.visitor.structure,
            awaiting_terms: v.visitor.awaiting_terms,
            stored: v.stored,
            flash,
            clear_flash: false,
            path: String::new(),
        }
    }

    /// Resolves the request's session (one read transaction; a write only to end a
    /// session or note activity once a minute). A visitor without a session gets one in
    /// memory, stored only when the page needs it ([`Ctx::finish`]).
    pub async fn load(req: &HttpRequest) -> Result<Ctx, WebError> {
        Self::load_with(req, sessions::visit_lazy).await
    }

    /// As [`Ctx::load`], with the session stored at once (for handlers that write into
    /// the session before answering).
    pub async fn load_stored(req: &HttpRequest) -> Result<Ctx, WebError> {
        Self::load_with(req, sessions::visit).await
    }

    async fn load_with(req: &HttpRequest, visit: VisitFn) -> Result<Ctx, WebError> {
        let app = req
            .app_data::<App>()
            .cloned()
            .ok_or_else(|| WebError::Internal("application state missing".into()))?;
        let token = req
            .cookie(app.settings.session_cookie())
            .map(|c| c.value().to_string());
        let cookie_present = req.cookie(flash_cookie_name(&app)).is_some();
        let visit = app
            .run(move |db, env| visit(db, env.now, &env.sessions, token.as_deref()))
            .await?;
        let flash = read_flash(req, &app, &visit.visitor.session);
        let mut ctx = Ctx::from_visit(visit, flash);
        ctx.clear_flash = cookie_present;
        ctx.path = req.path().to_string();
        if ctx.user.is_some() || ctx.awaiting_terms.is_some() {
            req.extensions_mut()
                .insert(super::errors::SessionLayout(ctx.layout(&app)));
        }
        // Until the terms of use in force are accepted, every page of the session leads
        // to them (the account is not logged in for anything else meanwhile).
        if ctx.awaiting_terms.is_some() && !open_before_terms(req.path()) {
            return Err(WebError::TermsRequired);
        }
        Ok(ctx)
    }

    /// The visitor, as the domain sees it.
    pub fn visitor(&self) -> Visitor {
        Visitor {
            session: self.session.clone(),
            user: self.user.clone(),
            structure: self.structure.clone(),
            awaiting_terms: self.awaiting_terms.clone(),
        }
    }

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
        if !structure.active {
            return Err(WebError::Forbidden(STRUCTURE_INACTIVE.into()));
        }
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

    /// The account acting for its current structure with `role`.
    pub fn acting(&self, role: Role) -> Result<Acting, WebError> {
        let (u, s) = self.require(role)?;
        Ok(Acting::new(&u.id, &s.id))
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
            nav: self
                .user
                .as_ref()
                .map(|u| super::main_nav(u, &self.path))
                .unwrap_or_default(),
            user_name: self
                .user
                .as_ref()
                .or(self.awaiting_terms.as_ref())
                .map(|u| u.name.clone()),
            ..page_layout(
                state,
                &self.session,
                self.user.as_ref(),
                self.structure.as_ref(),
            )
        }
    }

    /// The flash message left by the previous response (cleared by [`Ctx::finish`]).
    pub fn flash(&self) -> Option<String> {
        self.flash.clone()
    }

    /// Adds the session cookie when this request created the session, and clears a
    /// flash message that was shown. A session still in memory is kept only when the
    /// page carries its CSRF token (a form to post back): it is then stored by
    /// [`store_new_sessions`] before the response leaves; otherwise it is forgotten and
    /// the request wrote nothing.
    pub fn finish(&self, state: &AppState, mut resp: HttpResponse) -> HttpResponse {
        if let Some(token) = &self.new_token {
            let keep = self.stored || {
                let (r, needed) = carries(resp, &self.session.csrf_token);
                resp = r;
                if needed {
                    resp.extensions_mut()
                        .insert(StoreSession(self.session.clone()));
                }
                needed
            };
            if keep {
                let _ = resp.add_cookie(&session_cookie(state, token.clone()));
            }
        }
        let flash_name = flash_cookie_name(state);
        let flash_set = resp.cookies().any(|c| c.name() == flash_name);
        if self.clear_flash && !flash_set {
            let mut gone = flash_cookie(state, String::new());
            gone.make_removal();
            let _ = resp.add_cookie(&gone);
        }
        resp
    }
}

/// The pages an account awaiting the terms of use may open: the terms, and logging out
/// (static files and public APIs do not read the session).
fn open_before_terms(path: &str) -> bool {
    matches!(path, "/conditions" | "/deconnexion")
}

/// Whether the body of `resp` contains `token`; the response comes back unchanged.
fn carries(resp: HttpResponse, token: &str) -> (HttpResponse, bool) {
    use actix_web::body::MessageBody;
    let (resp, body) = resp.into_parts();
    match body.try_into_bytes() {
        Ok(bytes) => {
            let found =
                !token.is_empty() && bytes.windows(token.len()).any(|w| w == token.as_bytes());
            (resp.set_body(bytes).map_into_boxed_body(), found)
        }
        // A streamed body holds no form of ours.
        Err(body) => (resp.set_body(body), false),
    }
}

/// Middleware: stores the sessions that [`Ctx::finish`] kept, before the response
/// (and its cookie) leaves.
pub async fn store_new_sessions(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let app = req.app_data::<App>().cloned();
    let mut res = next.call(req).await?;
    let pending = res.response_mut().extensions_mut().remove::<StoreSession>();
    if let (Some(StoreSession(session)), Some(app)) = (pending, app) {
        app.run(move |db, _| Ok(sessions::store(db, &session)?))
            .await?;
    }
    Ok(res)
}

impl FromRequest for Ctx {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ctx::load(&req).await })
    }
}

macro_rules! role_extractor {
    ($name:ident, $role:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $name {
            ctx: Ctx,
            acting: Acting,
        }

        impl $name {
            /// Who acts, for which structure.
            pub fn acting(&self) -> &Acting {
                &self.acting
            }
            /// The account.
            pub fn user(&self) -> &User {
                self.ctx.user.as_ref().expect("checked at extraction")
            }
            /// Its current structure.
            pub fn structure(&self) -> &Structure {
                self.ctx.structure.as_ref().expect("checked at extraction")
            }
        }

        impl Deref for $name {
            type Target = Ctx;
            fn deref(&self) -> &Ctx {
                &self.ctx
            }
        }

        impl FromRequest for $name {
            type Error = WebError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move {
                    let ctx = Ctx::load(&req).await?;
                    let acting = ctx.acting($role)?;
                    Ok($name { ctx, acting })
                })
            }
        }
    };
}

role_extractor!(
    Aidant,
    Role::Aidant,
    "A logged-in aidant with a current structure (else a redirect to the login page or a 403)."
);
role_extractor!(
    Manager,
    Role::Manager,
    "A logged-in manager with a current structure."
);
macro_rules! account_extractor {
    ($name:ident, $role:expr, $refusal:literal, $doc:literal) => {
        #[doc = $doc]
        pub struct $name {
            ctx: Ctx,
        }

        impl $name {
            /// The account.
            pub fn user(&self) -> &User {
                self.ctx.user.as_ref().expect("checked at extraction")
            }

            /// The journal's actor string (`user:<id>`).
            pub fn actor(&self) -> String {
                self.user().actor()
            }
        }

        impl Deref for $name {
            type Target = Ctx;
            fn deref(&self) -> &Ctx {
                &self.ctx
            }
        }

        impl FromRequest for $name {
            type Error = WebError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move {
                    let ctx = Ctx::load(&req).await?;
                    if !ctx.user()?.has($role) {
                        return Err(WebError::Forbidden($refusal.into()));
                    }
                    Ok($name { ctx })
                })
            }
        }
    };
}

account_extractor!(
    Auditor,
    Role::Auditor,
    "Votre compte n’a pas accès à cette page.",
    "A logged-in auditor. Auditors read the journal of every structure, so no current structure is required (an auditor may belong to none)."
);
account_extractor!(
    Admin,
    Role::Admin,
    "Seuls les administrateurs ont accès à cette page.",
    "A logged-in administrator. The operator's screens (`/admin`) act on every structure, so no current structure is required; changes are journaled with the admin as actor."
);

/// The session cookie's token only: for use cases that resolve the session inside their
/// own transaction (the acting-on-behalf flow), so a request costs one transaction.
pub struct SessionToken(pub Option<String>);

impl SessionToken {
    /// The token.
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl FromRequest for SessionToken {
    type Error = WebError;
    type Future = std::future::Ready<Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req
            .app_data::<App>()
            .and_then(|app| req.cookie(app.settings.session_cookie()))
            .map(|c| c.value().to_string());
        std::future::ready(Ok(SessionToken(token)))
    }
}

/// The page layout for a visitor resolved by a use case.
pub fn layout_of(state: &AppState, v: &Visitor) -> Layout {
    page_layout(state, &v.session, v.user.as_ref(), v.structure.as_ref())
}

/// The page layout for a session, its account and that account's current structure.
fn page_layout(
    state: &AppState,
    session: &Session,
    user: Option<&User>,
    structure: Option<&Structure>,
) -> Layout {
    Layout {
        stylesheets: state.layout.stylesheets.clone(),
        user_name: user.map(|u| u.name.clone()),
        structure_name: structure.map(|s| s.name.clone()),
        csrf_token: session.csrf_token.clone(),
        demo: state.settings.demo,
        nav: user.map(|u| super::main_nav(u, "")).unwrap_or_default(),
    }
}

/// Adds the cookie of a session a use case started.
pub fn with_new_session(
    state: &AppState,
    mut resp: HttpResponse,
    visit: Option<&Visit>,
) -> HttpResponse {
    if let Some(t) = visit.and_then(|v| v.new_token.clone()) {
        let _ = resp.add_cookie(&session_cookie(state, t));
    }
    resp
}

/// The session cookie: HttpOnly, SameSite=Lax, path /, Secure with `__Host-` over https.
pub fn session_cookie(state: &AppState, token: String) -> Cookie<'static> {
    private_cookie(state, state.settings.session_cookie(), token)
}

/// A cookie for this site only: HttpOnly, SameSite=Lax, path /, Secure over https.
fn private_cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(state.settings.https());
    c
}

/// The session cookie, removed.
pub fn session_cookie_removal(state: &AppState) -> Cookie<'static> {
    let mut gone = session_cookie(state, String::new());
    gone.make_removal();
    gone
}

fn flash_cookie_name(state: &AppState) -> &'static str {
    if state.settings.https() {
        "__Host-procura_flash"
    } else {
        "procura_flash"
    }
}

fn flash_cookie(state: &AppState, value: String) -> Cookie<'static> {
    private_cookie(state, flash_cookie_name(state), value)
}

/// How long a flash message waits for the next page.
const FLASH_SECONDS: i64 = 600;

/// A response carrying a flash message for the session's next page: a cookie signed and
/// bound to the session, so showing a message never costs a database write and a copied
/// cookie shows nothing elsewhere or later.
pub fn with_flash(
    state: &AppState,
    ctx: &Ctx,
    mut resp: HttpResponse,
    message: &str,
) -> HttpResponse {
    let now = state.clock.now().timestamp();
    let value = state.flash_key.seal(&ctx.session.csrf_token, now, message);
    let _ = resp.add_cookie(&flash_cookie(state, value));
    resp
}

fn read_flash(req: &HttpRequest, state: &AppState, session: &Session) -> Option<String> {
    let c = req.cookie(flash_cookie_name(state))?;
    let now = state.clock.now().timestamp();
    state
        .flash_key
        .open(&session.csrf_token, now, FLASH_SECONDS, c.value())
}

/// A 303 redirect.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_string()))
        .finish()
}
