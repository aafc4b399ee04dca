//! HTTP surface: the app factory, middleware, routes and error pages.

mod admin;
mod audit;
mod audit_export;
mod auth;
pub mod body;
mod demo_site;
mod errors;
mod fc_simulator;
mod habilitation;
mod head;
mod health;
mod journal;
mod mailbox;
mod manager;
mod mandates;
pub mod metrics;
mod moi;
mod notices;
mod oidc;
pub mod session;
mod space;
mod statistics;
mod terms;
mod trainings;
pub mod verifier;

pub use errors::{error_page, wants_json, WebError};
pub use session::{App, Run};

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App as ActixApp, HttpMessage, HttpRequest, HttpResponse};
use askama::Template;
use tracing_actix_web::{RequestId, TracingLogger};

use crate::clock::SharedClock;
use crate::config::{Settings, Theme};
use crate::store::{Store, StoreError};
use metrics::Metrics;

/// Content-Security-Policy of every response: no inline script or style, no framing.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const PROCURA_CSS: &str = include_str!("../../static/procura.css");
const COPY_JS: &str = include_str!("../../static/copie.js");

/// What every page template needs from the layout.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Stylesheets to link, in order.
    pub stylesheets: Vec<String>,
    /// Name of the logged-in account.
    pub user_name: Option<String>,
    /// Name of its current structure.
    pub structure_name: Option<String>,
    /// CSRF token of the session (for the logout form).
    pub csrf_token: String,
    /// Demo mode banner.
    pub demo: bool,
    /// Main navigation of a logged-in account (empty otherwise).
    pub nav: Vec<NavLink>,
}

/// A link of the main navigation.
#[derive(Debug, Clone)]
pub struct NavLink {
    /// Target.
    pub href: &'static str,
    /// Text.
    pub label: &'static str,
    /// Whether the page shown belongs to this section (`aria-current`).
    pub current: bool,
}

/// The main navigation for an account holding `roles`, on the page at `path`.
pub fn main_nav(user: &crate::accounts::users::User, path: &str) -> Vec<NavLink> {
    use crate::domain::roles::Role;
    let sections: [(&str, &str, &[Role]); 6] = [
        ("/espace", "Accueil", &[]),
        ("/mandats/nouveau", "Nouveau mandat", &[Role::Aidant]),
        ("/gestion", "Gestion", &[Role::Manager]),
        ("/audit", "Journal", &[Role::Auditor]),
        ("/formations", "Formations", &[Role::Trainer, Role::Admin]),
        ("/admin", "Administration", &[Role::Admin]),
    ];
    sections
        .iter()
        .filter(|(_, _, roles)| roles.is_empty() || roles.iter().any(|r| user.has(*r)))
        .map(|(href, label, _)| NavLink {
            href,
            label,
            current: path == *href || path.starts_with(&format!("{href}/")),
        })
        .collect()
}

/// Shared state of the running service.
pub struct AppState {
    /// Database pool.
    pub store: Store,
    /// Time source.
    pub clock: SharedClock,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Page layout (theme).
    pub layout: Layout,
    /// DSFR stylesheet, loaded at start when the theme is `dsfr`.
    pub dsfr_css: Option<String>,
    /// FranceConnect as a provider for consent (the simulator in demo mode).
    pub fc: Option<crate::federation::client::FranceConnect>,
    /// The FranceConnect simulator (demo mode only).
    pub simulator: Option<Arc<crate::federation::simulator::Simulator>>,
    /// Secrets at rest (the master key).
    pub secret_box: crate::crypto::SecretBox,
    /// Signs flash messages.
    pub flash_key: crate::crypto::MessageKey,
    /// Signing keys, decrypted once.
    pub keys: crate::federation::provider::keys::KeyCache,
    /// Requests per address on the journal's public evidence.
    pub evidence_limiter: journal::Limiter,
    /// FranceConnect logins of persons started per address (`/moi/connexion`, a consent
    /// link's form): anyone can start one, and each may end in a journal entry.
    pub person_login_limiter: journal::Limiter,
    /// The journal verification started from the auditor's page, one at a time.
    pub verifications: Arc<crate::oversight::Verifications>,
    /// The public statistics' last figures (`/statistiques`).
    pub statistics: statistics::Cache,
}

impl AppState {
    /// The secret box over the master key.
    pub fn secrets(&self) -> crate::crypto::SecretBox {
        self.secret_box.clone()
    }
}

/// Runs blocking work (database) on the blocking pool, inside the current tracing span.
pub async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    web::block(move || span.in_scope(f))
        .await
        .map_err(|e| StoreError::Other(format!("blocking task failed: {e}")))
}

/// A bound, ready-to-run service.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Opens the database, applies migrations, seeds the demo, binds `settings.bind`.
    pub fn build(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        Self::build_with_listener(settings, clock, listener)
    }

    /// As [`Application::build`], on a listener the caller bound (tests use port 0).
    pub fn build_with_listener(
        settings: Settings,
        clock: SharedClock,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        // A power loss must not drop acknowledged actions, except in the demo.
        let durability = if settings.demo {
            crate::store::Durability::Normal
        } else {
            crate::store::Durability::Full
        };
        crate::notify::install(&settings);
        let store = Store::open_with(settings.database.clone(), settings.pool_size, durability)?;
        store.migrate()?;
        if settings.demo {
            crate::demo::seed(
                &store,
                clock.now(),
                &crate::crypto::SecretBox::new(settings.master_key),
            )?;
        }
        let port = listener.local_addr()?.port();
        let dsfr_css = match (&settings.theme, &settings.dsfr_dir) {
            (Theme::Dsfr, Some(dir)) => Some(std::fs::read_to_string(dir.join("dsfr.min.css"))?),
            _ => None,
        };
        let layout = Layout {
            stylesheets: if dsfr_css.is_some() {
                vec!["/static/dsfr.min.css".into()]
            } else {
                vec!["/static/procura.css".into()]
            },
            demo: settings.demo,
            ..Layout::default()
        };
        let shutdown_timeout = settings.shutdown_timeout;
        let callback = settings.url("/franceconnect/callback");
        let (fc, simulator) = match (&settings.fc_issuer, settings.demo) {
            (Some(issuer), _) => (
                Some(crate::federation::client::FranceConnect {
                    issuer: issuer.as_str().trim_end_matches('/').to_string(),
                    client_id: settings.fc_client_id.clone().unwrap_or_default(),
                    client_secret: settings.fc_client_secret.clone().unwrap_or_default(),
                    redirect_uri: callback,
                }),
                None,
            ),
            (None, true) => {
                use crate::federation::simulator as sim;
                let issuer = settings.url(sim::PREFIX);
                (
                    Some(crate::federation::client::FranceConnect {
                        issuer: issuer.clone(),
                        client_id: sim::CLIENT_ID.into(),
                        client_secret: sim::CLIENT_SECRET.into(),
                        redirect_uri: callback,
                    }),
                    Some(Arc::new(
                        sim::Simulator::new(issuer).map_err(|e| anyhow::anyhow!("{e}"))?,
                    )),
                )
            }
            (None, false) => (None, None),
        };
        let master_key = settings.master_key;
        let state = web::Data::new(AppState {
            store: store.clone(),
            clock: clock.clone(),
            settings: Arc::new(settings),
            metrics: Metrics::new(),
            layout,
            dsfr_css,
            fc,
            simulator,
            secret_box: crate::crypto::SecretBox::new(master_key),
            flash_key: crate::crypto::MessageKey::new(master_key),
            keys: Default::default(),
            evidence_limiter: Default::default(),
            person_login_limiter: journal::Limiter::new(moi::LOGINS_PER_MINUTE),
            verifications: Default::default(),
            statistics: Default::default(),
        });
        {
            let s = &state.settings;
            let (redirect, post_logout) = (s.url("/demo/site/callback"), s.url("/demo/site"));
            let demo = s.demo.then(|| crate::maintenance::DemoClient {
                id: demo_site::CLIENT_ID,
                secret: demo_site::CLIENT_SECRET,
                redirect: &redirect,
                post_logout: &post_logout,
            });
            let mut conn = store.conn()?;
            crate::maintenance::start_service(
                &mut conn,
                clock.now(),
                s.master_key.is_some().then_some(&state.secret_box),
                &crate::journal::note::origin(&s.public_url),
                demo,
                s.database.name(),
            )?;
        }
        let data = state.clone();
        let pool_size = data.store.pool_size() as usize;
        let local = listener.local_addr()?;
        let server = actix_server::Server::build()
            // Database work waits for one of the pool's connections anyway: more blocking
            // threads than connections only add threads, stacks and malloc arenas.
            .worker_max_blocking_threads(pool_size.max(2))
            .shutdown_timeout(shutdown_timeout)
            // Signals are handled in `run_until_stopped`: actix treats SIGINT as a forced
            // stop, and both SIGINT and SIGTERM must let in-flight requests finish.
            .disable_signals()
            // actix-web's HttpServer, with one step before HTTP: an over-long request
            // line gets a clean 414 instead of a reset (see `head`).
            .listen("procura", listener, move || {
                let http = actix_http::HttpService::build()
                    .keep_alive(actix_http::KeepAlive::Timeout(Duration::from_secs(5)))
                    .client_request_timeout(Duration::from_secs(5))
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .local_addr(local)
                    // Host and address come from each request; nothing reads these.
                    .finish(actix_service::map_config(app(data.clone()), |_| {
                        actix_web::dev::AppConfig::default()
                    }))
                    .tcp();
                actix_service::ServiceFactoryExt::and_then(
                    actix_service::fn_service(head::check),
                    http,
                )
            })?
            .run();
        Ok(Application {
            port,
            server,
            state,
        })
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server (graceful when asked so).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The database pool.
    pub fn store(&self) -> Store {
        self.state.store.clone()
    }

    /// Serves until SIGINT/SIGTERM or a stop through the handle, lets in-flight requests
    /// finish, then journals the shutdown.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let housekeeping = self.state.clone();
        actix_web::rt::spawn(async move {
            let mut every = actix_web::rt::time::interval(std::time::Duration::from_secs(600));
            every.tick().await; // the first tick is immediate: start purging after one period
            loop {
                every.tick().await;
                let st = housekeeping.clone();
                let done = st
                    .run(|db, env| crate::maintenance::housekeeping(db, env.now, &env.sessions))
                    .await;
                if let Err(e) = done {
                    tracing::warn!(error = %e, "housekeeping failed");
                }
                let months = st.settings.usager_retention_months;
                let erased = st
                    .run(move |db, env| crate::person::erase::erase_expired(db, env.now, months))
                    .await;
                if let Err(e) = erased {
                    tracing::warn!(error = %e, "retention erasure failed");
                }
                let delays = st.settings.inactivity();
                let inactive = st
                    .run(move |db, env| crate::accounts::inactivity::run(db, env.now, delays))
                    .await;
                if let Err(e) = inactive {
                    tracing::warn!(error = %e, "inactivity pass failed");
                }
            }
        });
        if self.state.settings.master_key.is_some() {
            actix_web::rt::spawn(checkpointer(self.state.clone()));
        }
        actix_web::rt::spawn(notices::periodic(self.state.clone()));
        // Stopped (and joined) before `service.stopped`: the last entry stays the last.
        let mail_worker = start_mail_worker(&self.state)?;
        actix_web::rt::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stop signal received: finishing in-flight requests");
            handle.stop(true).await;
        });
        self.server.await?;
        drop(mail_worker);
        self.state
            .run(|db, env| crate::maintenance::stop_service(db, env.now))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::info!("service stopped");
        Ok(())
    }
}

/// Starts the outbox's worker: SMTP when `PROCURA_SMTP_URL` is set, the demo mailbox in
/// demo mode without it; otherwise messages wait in the outbox (logged once).
fn start_mail_worker(state: &AppState) -> anyhow::Result<Option<crate::mail::worker::Worker>> {
    use crate::mail::worker;
    let s = &state.settings;
    let transport: Box<dyn worker::Transport> = match (&s.smtp, s.demo) {
        (Some(smtp), _) => {
            Box::new(worker::Smtp::new(smtp).map_err(|e| anyhow::anyhow!("PROCURA_SMTP_URL: {e}"))?)
        }
        (None, true) => Box::new(worker::DemoMailbox),
        (None, false) => {
            tracing::warn!("PROCURA_SMTP_URL is not set: e-mails wait in the outbox until it is");
            return Ok(None);
        }
    };
    let host = s
        .public_url
        .host_str()
        .unwrap_or("procura.invalid")
        .to_string();
    Ok(Some(worker::spawn(
        state.store.clone(),
        state.clock.clone(),
        transport,
        s.mail_from.clone(),
        host,
    )?))
}

/// Makes a signed checkpoint whenever one is due (docs/journal.md, "Checkpoints"):
/// `checkpoint_entries` new entries, or an entry left uncovered `checkpoint_seconds`.
/// Looks once a second (one read transaction). It remembers what it signed last, so that
/// it never signs a journal that no longer extends it; a failure is logged once, then
/// retried after a delay that doubles up to 5 minutes, and logged again when it changes.
async fn checkpointer(state: web::Data<AppState>) {
    use crate::web::session::Run;
    use actix_web::rt::time::sleep;
    let mut signed: Option<(i64, crate::journal::merkle::Hash)> = None;
    let mut backoff = Duration::from_secs(1);
    let mut last_error: Option<String> = None;
    loop {
        sleep(Duration::from_secs(1)).await;
        let done = state
            .run(move |db, env| {
                let s = env.settings;
                Ok(crate::journal::checkpoint::make_if_due(
                    db,
                    env.now,
                    env.secrets,
                    &crate::journal::note::origin(&s.public_url),
                    i64::from(s.checkpoint_entries),
                    i64::from(s.checkpoint_seconds),
                    signed,
                )?)
            })
            .await;
        match done {
            Ok(made) => {
                if let Some(cp) = made {
                    signed = crate::journal::note::Checkpoint::parse(&cp.note)
                        .ok()
                        .map(|n| (cp.size, n.root));
                }
                if last_error.take().is_some() {
                    tracing::info!("checkpoints are made again");
                }
                backoff = Duration::from_secs(1);
            }
            Err(e) => {
                let e = e.to_string();
                if last_error.as_deref() != Some(e.as_str()) {
                    tracing::error!(error = %e, "checkpoint refused or failed; retrying with a growing delay");
                }
                last_error = Some(e);
                sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(300));
            }
        }
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio_select(term.recv(), int.recv()).await;
        }
        _ => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = actix_web::rt::signal::ctrl_c().await;
}

/// Resolves when either future does.
async fn tokio_select<A, B>(a: A, b: B)
where
    A: std::future::Future,
    B: std::future::Future,
{
    let a = std::pin::pin!(a);
    let b = std::pin::pin!(b);
    futures_util::future::select(a, b).await;
}

/// The actix application: middleware, routes, error handling.
pub fn app(
    state: web::Data<AppState>,
) -> ActixApp<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let mut headers = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
        ))
        .add((header::CACHE_CONTROL, "no-store"));
    if state.settings.https() {
        headers = headers.add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ));
    }
    let metrics = state.metrics.clone();
    let simulator_on = state.simulator.is_some();
    let demo_on = state.settings.demo;
    ActixApp::new()
        .app_data(state)
        .app_data(errors::json_config())
        .app_data(errors::form_config())
        .app_data(errors::query_config())
        .app_data(errors::path_config())
        .app_data(web::PayloadConfig::new(body::BODY_LIMIT))
        // Before any handler: NUL characters, compressed, non-form or oversized bodies.
        .wrap(actix_web::middleware::from_fn(body::guard))
        // Sessions started in memory by a page with a form are stored here.
        .wrap(actix_web::middleware::from_fn(session::store_new_sessions))
        .wrap(errors::fill_empty_errors())
        .wrap(headers)
        .wrap_fn(move |req, srv| {
            let started = Instant::now();
            let method = req.method().clone();
            let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
            let fut = srv.call(req);
            let metrics = metrics.clone();
            async move {
                let mut res = fut.await?;
                // A registered pattern, never the path: unmatched paths share one label.
                let route = res
                    .request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".into());
                metrics.observe(
                    &route,
                    &method,
                    res.status().as_u16(),
                    started.elapsed().as_secs_f64(),
                );
                if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                    res.headers_mut()
                        .insert(header::HeaderName::from_static("x-request-id"), id);
                }
                Ok(res)
            }
        })
        .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
        // The acting-on-behalf flow first: routes are tried in order, and its requests
        // then skip the other routes' patterns.
        .configure(oidc::routes)
        .route("/", web::get().to(home))
        .configure(auth::routes)
        .configure(terms::routes)
        .configure(space::routes)
        .configure(manager::routes)
        .configure(habilitation::routes)
        .configure(admin::routes)
        .configure(audit::routes)
        .configure(journal::routes)
        .configure(audit_export::routes)
        .configure(verifier::routes)
        .configure(statistics::routes)
        .configure(trainings::routes)
        .configure(notices::routes)
        .configure(mandates::routes)
        .configure(moi::routes)
        .configure(|cfg| fc_simulator::routes(cfg, simulator_on))
        .configure(|cfg| demo_site::routes(cfg, demo_on))
        .configure(|cfg| mailbox::routes(cfg, demo_on))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/static/procura.css", web::get().to(procura_css))
        .route("/static/copie.js", web::get().to(copy_js))
        .route("/static/dsfr.min.css", web::get().to(dsfr_css))
        .default_service(web::to(errors::not_found))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
}

async fn home(ctx: session::Ctx, state: App) -> Result<HttpResponse, WebError> {
    if ctx.user.is_some() {
        return Ok(ctx.finish(&state, session::see_other("/espace")));
    }
    Ok(ctx.finish(
        &state,
        render(&HomePage {
            layout: ctx.layout(&state),
        }),
    ))
}

/// Client credentials from an `Authorization: Basic` header (RFC 6749 §2.3.1: id and
/// secret are form-urlencoded before base64). None: no Basic header; Err: malformed.
pub fn basic_credentials(req: &HttpRequest) -> Option<Result<(String, String), ()>> {
    use base64::Engine;
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| ());
    Some(decoded.and_then(|raw| {
        let text = String::from_utf8(raw).map_err(|_| ())?;
        let (id, secret) = text.split_once(':').ok_or(())?;
        let dec = |s: &str| -> Result<String, ()> {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .ok_or(())
        };
        let (id, secret) = (dec(id)?, dec(secret)?);
        // PostgreSQL refuses NUL in text: malformed, like any other bad credential.
        if id.contains('\0') || secret.contains('\0') {
            return Err(());
        }
        Ok((id, secret))
    }))
}

/// A confirmation step before a destructive action: a question, what will happen, and a
/// form posting to `action` (with the CSRF token) or a way back.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    /// Layout.
    pub layout: Layout,
    /// The question.
    pub title: String,
    /// What will happen.
    pub message: String,
    /// Label of the confirming button.
    pub button: String,
    /// Where the form posts.
    pub action: String,
    /// Where "Annuler" leads.
    pub back: String,
}

/// Renders a template as an HTML 200 response.
pub fn render<T: Template>(t: &T) -> HttpResponse {
    match t.render() {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("Erreur interne : la page n’a pas pu être affichée.")
        }
    }
}

async fn procura_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(PROCURA_CSS)
}

async fn copy_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(COPY_JS)
}

async fn dsfr_css(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match &state.dsfr_css {
        Some(css) => HttpResponse::Ok()
            .content_type("text/css; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .body(css.clone()),
        None => errors::not_found(req, state).await,
    }
}
