//! The person's own space (`/moi`): FranceConnect login in a session of its own, their
//! mandates and uses, revocation, data export; and the remote consent link
//! (`/consentement/<token>`) with its consent page.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;
use chrono::NaiveDateTime;
use serde::Deserialize;

use super::session::see_other;
use super::{blocking, render, App, AppState, ConfirmPage, Layout, Run, WebError};
use crate::domain::identity::{FcError, Identity};
use crate::domain::mandate::{self as rules, AuthorisationState};
use crate::mandates::CallbackParams;
use crate::person::remote::{self, Link};
use crate::person::sessions::{self, UsagerSession};
use crate::person::{self, LoginDone, LoginStep, Target};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/moi", web::get().to(home))
        .route("/moi/connexion", web::get().to(login))
        .route("/moi/deconnexion", web::post().to(logout))
        .route("/moi/donnees", web::get().to(export))
        .route("/moi/effacement", web::get().to(confirm_erasure))
        .route("/moi/effacement", web::post().to(erase))
        .route("/moi/mandats/{id}/revoquer", web::get().to(confirm_mandate))
        .route("/moi/mandats/{id}/revoquer", web::post().to(revoke_mandate))
        .route(
            "/moi/autorisations/{id}/revoquer",
            web::get().to(confirm_authorisation),
        )
        .route(
            "/moi/autorisations/{id}/revoquer",
            web::post().to(revoke_authorisation),
        )
        .route("/moi/consentement", web::get().to(consent_form))
        .route("/moi/consentement", web::post().to(consent_submit))
        .route("/moi/consentement/refus", web::post().to(refuse))
        .route("/consentement/{token}", web::get().to(link))
        .route("/consentement/{token}", web::post().to(link_submit));
}

/// FranceConnect logins a client address may start in a minute (`/moi/connexion` and a
/// consent link's form together): anyone can start one, each writes a session and may
/// end in a journal entry (`usager.login_failed`), so an anonymous loop must not grow
/// the journal and the sessions without bound. A public place behind one address still
/// has room for several people a minute.
pub const LOGINS_PER_MINUTE: u32 = 20;

fn login_limited(req: &HttpRequest, app: &AppState) -> Result<(), WebError> {
    let addr = super::auth::client_addr(req, &app.settings.trusted_proxies);
    if app.person_login_limiter.allow(&addr) {
        Ok(())
    } else {
        Err(WebError::TooMany(
            "Trop de connexions commencées depuis cette adresse : réessayez dans une minute."
                .into(),
        ))
    }
}

/// The person's session, resolved from its own cookie (an aidant's session is never
/// looked at).
pub struct Moi {
    token: Option<String>,
    session: Option<UsagerSession>,
}

impl Moi {
    /// The logged-in session.
    fn logged_in(&self) -> Option<&UsagerSession> {
        self.session.as_ref().filter(|s| s.logged_in)
    }

    /// The logged-in usager's session, or the login page.
    fn usager(&self) -> Result<(&UsagerSession, String), WebError> {
        match self.logged_in() {
            Some(s) => match &s.usager_id {
                Some(u) => Ok((s, u.clone())),
                None => Err(WebError::PersonLoginRequired),
            },
            None => Err(WebError::PersonLoginRequired),
        }
    }

    /// Checks the CSRF token of a POST form against this session.
    fn check_csrf(&self, given: &str) -> Result<&UsagerSession, WebError> {
        let s = self.session.as_ref().ok_or(WebError::Csrf)?;
        s.check_csrf(given).map_err(|_| WebError::Csrf)?;
        Ok(s)
    }
}

impl FromRequest for Moi {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let app = req
                .app_data::<App>()
                .cloned()
                .ok_or_else(|| WebError::Internal("application state missing".into()))?;
            let token = cookie_token(&req, &app);
            let t = token.clone();
            let session = app
                .run(move |db, env| sessions::resolve(db, env.now, t.as_deref()))
                .await?;
            Ok(Moi { token, session })
        })
    }
}

fn cookie_token(req: &HttpRequest, app: &AppState) -> Option<String> {
    req.cookie(sessions::cookie_name(app.settings.https()))
        .map(|c| c.value().to_string())
}

/// The person's cookie: HttpOnly, SameSite=Lax, path /, `__Host-` and Secure over https.
fn moi_cookie(app: &AppState, token: String) -> Cookie<'static> {
    let mut c = Cookie::new(sessions::cookie_name(app.settings.https()), token);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(app.settings.https());
    c
}

fn with_cookie(app: &AppState, mut resp: HttpResponse, token: Option<String>) -> HttpResponse {
    if let Some(t) = token {
        let _ = resp.add_cookie(&moi_cookie(app, t));
    }
    resp
}

fn without_cookie(app: &AppState, mut resp: HttpResponse) -> HttpResponse {
    let mut gone = moi_cookie(app, String::new());
    gone.make_removal();
    let _ = resp.add_cookie(&gone);
    resp
}

/// The layout of the person's pages: no aidant in the header; forms carry `csrf`.
fn layout(app: &AppState, csrf: &str) -> Layout {
    Layout {
        csrf_token: csrf.to_string(),
        ..app.layout.clone()
    }
}

/// "12 décembre 2026" (Europe/Paris).
fn day(t: &NaiveDateTime) -> String {
    crate::domain::french::day(*t)
}

/// "12 décembre 2026 à 14 h 05" (Europe/Paris).
fn day_time(t: &NaiveDateTime) -> String {
    crate::domain::french::day_and_time(*t)
}

fn label(code: &str) -> String {
    rules::demarche(code)
        .map(|d| d.label.to_string())
        .unwrap_or_else(|| code.to_string())
}

/// A page that says what happened and what to do next.
#[derive(Template)]
#[template(path = "moi_message.html")]
struct MessagePage {
    layout: Layout,
    moi_csrf: Option<String>,
    title: String,
    message: String,
    next_href: String,
    next_label: String,
}

fn message(
    app: &AppState,
    status: StatusCode,
    title: &str,
    text: &str,
    next: (&str, &str),
) -> HttpResponse {
    let mut r = render(&MessagePage {
        layout: layout(app, ""),
        moi_csrf: None,
        title: title.into(),
        message: text.into(),
        next_href: next.0.into(),
        next_label: next.1.into(),
    });
    *r.status_mut() = status;
    r
}

const RELOGIN: (&str, &str) = ("/moi", "Aller à mon espace personnel");

#[derive(Template)]
#[template(path = "moi_login.html")]
struct LoginPage {
    layout: Layout,
    moi_csrf: Option<String>,
}

/// An authorisation line of the person's page.
struct AuthLine {
    id: String,
    label: String,
    state: AuthorisationState,
    revoked: String,
}

/// A mandate of the person's page.
struct MandateCard {
    id: String,
    structure: String,
    aidant: String,
    created: String,
    end: String,
    state: AuthorisationState,
    auths: Vec<AuthLine>,
}

/// A use of the person's page.
struct UseLine {
    at: String,
    aidant: String,
    structure: String,
    site: String,
    demarche: String,
}

#[derive(Template)]
#[template(path = "moi.html")]
struct SpacePage {
    layout: Layout,
    moi_csrf: Option<String>,
    name: String,
    done: Option<&'static str>,
    active: Vec<MandateCard>,
    ended: Vec<MandateCard>,
    uses: Vec<UseLine>,
}

/// `?fait=` after an action.
#[derive(Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    fait: String,
}

async fn home(moi: Moi, app: App, q: web::Query<DoneQuery>) -> Result<HttpResponse, WebError> {
    let Some(session) = moi.logged_in() else {
        return Ok(render(&LoginPage {
            layout: layout(&app, ""),
            moi_csrf: None,
        }));
    };
    let Some(usager_id) = session.usager_id.clone() else {
        // A person with no mandate yet: only a remote request to answer.
        if session.remote_id.is_some() {
            return Ok(see_other("/moi/consentement"));
        }
        return Ok(render(&LoginPage {
            layout: layout(&app, ""),
            moi_csrf: None,
        }));
    };
    let space = app
        .run(move |db, env| person::space(db, env.now, &usager_id))
        .await?;
    let card = |h: &person::Held| MandateCard {
        id: h.view.mandate.id.clone(),
        structure: h.structure.clone(),
        aidant: person::short_name(&h.view.aidant_name),
        created: day(&h.view.mandate.created_at),
        end: day_time(&h.view.mandate.expires_at),
        state: h.view.state(),
        auths: h
            .view
            .authorisations
            .iter()
            .map(|(a, s)| AuthLine {
                id: a.id.clone(),
                label: label(&a.demarche),
                state: *s,
                revoked: a.revoked_at.as_ref().map(day_time).unwrap_or_default(),
            })
            .collect(),
    };
    let (active, ended): (Vec<_>, Vec<_>) = space
        .mandates
        .iter()
        .partition(|h| h.view.state() == AuthorisationState::Active);
    let done = match q.fait.as_str() {
        "mandat" => Some("Le mandat est révoqué : plus aucun aidant ne peut l’utiliser. La structure en a été informée."),
        "demarche" => Some("La démarche est révoquée : plus aucun aidant ne peut agir en votre nom pour elle. La structure en a été informée."),
        "consenti" => Some("Merci : votre mandat est créé. Vous le retrouvez ci-dessous, et vous pouvez le révoquer à tout moment."),
        _ => None,
    };
    Ok(render(&SpacePage {
        layout: layout(&app, &session.csrf_token),
        moi_csrf: Some(session.csrf_token.clone()),
        name: format!("{} {}", space.usager.given_name, space.usager.family_name),
        done,
        active: active.into_iter().map(card).collect(),
        ended: ended.into_iter().map(card).collect(),
        uses: space
            .uses
            .iter()
            .map(|u| UseLine {
                at: day_time(&u.at),
                aidant: u.aidant.clone(),
                structure: u.structure.clone(),
                site: u.site.clone(),
                demarche: label(&u.demarche),
            })
            .collect(),
    }))
}

async fn login(req: HttpRequest, moi: Moi, app: App) -> Result<HttpResponse, WebError> {
    login_limited(&req, &app)?;
    let fc = app
        .fc
        .clone()
        .ok_or_else(|| WebError::BadRequest(FcError::NotConfigured.to_string()))?;
    // Discovery is a network call: made before any connection is taken.
    let (url, state, flow) = blocking(move || fc.start())
        .await?
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let token = moi.token.clone();
    let new = app
        .run(move |db, env| {
            sessions::begin_login(db, env.now, env.secrets, token.as_deref(), &state, &flow)
        })
        .await?;
    Ok(with_cookie(&app, see_other(&url), new))
}

/// A form with its CSRF token only.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    consent: String,
    /// The translation shown beside the French on the consent page (`langue`).
    #[serde(default)]
    langue: String,
}

async fn logout(moi: Moi, app: App, form: web::Form<CsrfForm>) -> Result<HttpResponse, WebError> {
    let session = moi.check_csrf(&form.csrf_token)?.clone();
    app.run(move |db, env| sessions::logout(db, env.now, &session))
        .await?;
    Ok(without_cookie(&app, see_other("/moi")))
}

async fn export(moi: Moi, app: App) -> Result<HttpResponse, WebError> {
    let (_, usager_id) = moi.usager()?;
    let data = app
        .run(move |db, env| person::export(db, env.now, &usager_id))
        .await?;
    let body =
        serde_json::to_string_pretty(&data).map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"procura-mes-donnees.json\"",
        ))
        .body(body))
}

/// Asks before erasing the person's identity (docs/retention.md).
async fn confirm_erasure(moi: Moi, app: App) -> Result<HttpResponse, WebError> {
    let (session, _) = moi.usager()?;
    Ok(render(&ConfirmPage {
        layout: layout(&app, &session.csrf_token),
        title: "Effacer mes données ?".into(),
        message: "Vos mandats encore en cours prennent fin tout de suite : plus aucun aidant ne pourra agir en votre nom, et les structures en seront informées. Votre nom, votre date et votre lieu de naissance et votre adresse électronique sont effacés de Procura. Restent, sans votre identité, les dates et les démarches de vos mandats et le journal des utilisations, qui ne contient que des identifiants. Les attestations papier que vous avez reçues restent les vôtres. Téléchargez d’abord vos données si vous voulez les garder. Cette action est définitive.".into(),
        button: "Oui, effacer mes données".into(),
        action: "/moi/effacement".into(),
        back: "/moi".into(),
    }))
}

/// Erases the person's identity (their mandates still active end first); their session
/// ends with it.
async fn erase(moi: Moi, app: App, form: web::Form<CsrfForm>) -> Result<HttpResponse, WebError> {
    moi.check_csrf(&form.csrf_token)?;
    let (_, usager_id) = moi.usager()?;
    app.run(move |db, env| {
        let actor = format!("usager:{usager_id}");
        let reason = crate::person::erase::Reason::Request;
        crate::person::erase::erase(db, env.now, &actor, &usager_id, reason)
    })
    .await?;
    Ok(without_cookie(
        &app,
        message(
            &app,
            StatusCode::OK,
            "Vos données sont effacées",
            "Votre identité est effacée de Procura et vos mandats ont pris fin. Si vous vous connectez de nouveau avec FranceConnect, Procura ne vous reconnaîtra pas : vous repartirez de zéro.",
            ("/", "Retour à l’accueil"),
        ),
    ))
}

async fn confirm(moi: Moi, app: App, target: Target) -> Result<HttpResponse, WebError> {
    let (session, usager_id) = moi.usager()?;
    let csrf = session.csrf_token.clone();
    let t = target.clone();
    let (held, demarche) = app
        .run(move |db, env| person::owned(db, env.now, &usager_id, &t))
        .await?;
    let (title, text, action) = match (&target, demarche) {
        (Target::Authorisation(id), Some(d)) => (
            format!("Révoquer la démarche « {} » ?", label(&d)),
            format!("Les aidants de {} ne pourront plus agir en votre nom pour la démarche « {} ». Les autres démarches du mandat restent valables. La structure sera prévenue par courriel. Cette action est définitive.", held.structure, label(&d)),
            format!("/moi/autorisations/{id}/revoquer"),
        ),
        (Target::Mandate(id), _) | (Target::Authorisation(id), None) => (
            "Révoquer tout le mandat ?".to_string(),
            format!("Les aidants de {} ne pourront plus agir en votre nom pour aucune des démarches de ce mandat. La structure sera prévenue par courriel. Cette action est définitive.", held.structure),
            format!("/moi/mandats/{id}/revoquer"),
        ),
    };
    Ok(render(&ConfirmPage {
        layout: layout(&app, &csrf),
        title,
        message: text,
        button: "Oui, révoquer".into(),
        action,
        back: "/moi".into(),
    }))
}

async fn revoke(
    moi: Moi,
    app: App,
    form: web::Form<CsrfForm>,
    target: Target,
) -> Result<HttpResponse, WebError> {
    moi.check_csrf(&form.csrf_token)?;
    let (_, usager_id) = moi.usager()?;
    let done = match target {
        Target::Mandate(_) => "mandat",
        Target::Authorisation(_) => "demarche",
    };
    app.run(move |db, env| {
        let url = |p: &str| env.settings.url(p);
        person::revoke(db, env.now, &url, &usager_id, &target)
    })
    .await?;
    Ok(see_other(&format!("/moi?fait={done}")))
}

async fn confirm_mandate(
    moi: Moi,
    app: App,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    confirm(moi, app, Target::Mandate(path.into_inner())).await
}

async fn confirm_authorisation(
    moi: Moi,
    app: App,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    confirm(moi, app, Target::Authorisation(path.into_inner())).await
}

async fn revoke_mandate(
    moi: Moi,
    app: App,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    revoke(moi, app, form, Target::Mandate(path.into_inner())).await
}

async fn revoke_authorisation(
    moi: Moi,
    app: App,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    revoke(moi, app, form, Target::Authorisation(path.into_inner())).await
}

/// FranceConnect's answer, when its `state` is a person's login (`None`: it belongs to
/// a mandate creation at the desk).
pub async fn franceconnect_callback(
    req: &HttpRequest,
    app: &App,
    q: &CallbackParams,
) -> Result<Option<HttpResponse>, WebError> {
    let Some(fc) = app.fc.clone() else {
        return Ok(None);
    };
    let token = cookie_token(req, app);
    let (params, issuer) = (q.clone(), fc.issuer.clone());
    let step = app
        .run(move |db, env| {
            person::login_begin(db, env.now, env.secrets, token.as_deref(), &params, &issuer)
        })
        .await?;
    let (session, flow) = match step {
        LoginStep::NotMine => return Ok(None),
        LoginStep::Failed(m) => {
            return Ok(Some(message(
                app,
                StatusCode::BAD_REQUEST,
                "Connexion impossible",
                &m,
                RELOGIN,
            )))
        }
        LoginStep::Exchange(s, f) => (s, f),
    };
    // The code exchange and userinfo are network calls: no connection is held.
    let (now, code) = (app.clock.now(), q.code.clone());
    let exchanged: Result<Identity, FcError> = blocking(move || fc.finish(&code, &flow, now))
        .await
        .unwrap_or_else(|e| Err(FcError::Unreachable(e.to_string())))
        .map(|p| p.identity);
    let done = app
        .run(move |db, env| person::login_finish(db, env.now, env.secrets, &session, exchanged))
        .await?;
    Ok(Some(match done {
        LoginDone::LoggedIn { token, remote } => {
            let to = if remote { "/moi/consentement" } else { "/moi" };
            with_cookie(app, see_other(to), Some(token))
        }
        LoginDone::Mismatch => without_cookie(
            app,
            message(
                app,
                StatusCode::FORBIDDEN,
                "Identité différente : aucun mandat n’a été créé",
                &remote::closed_message(remote::RemoteStatus::Mismatch),
                ("/", "Retour à l’accueil"),
            ),
        ),
        LoginDone::Expired => without_cookie(
            app,
            message(
                app,
                StatusCode::GONE,
                "Demande expirée",
                &remote::closed_message(remote::RemoteStatus::Expired),
                ("/", "Retour à l’accueil"),
            ),
        ),
        LoginDone::NoMandate => without_cookie(
            app,
            message(
                app,
                StatusCode::OK,
                "Aucun mandat à votre nom",
                "Aucun mandat n’a été enregistré à votre nom dans Procura : il n’y a rien à afficher. Si une structure vous a aidé, demandez-lui de créer un mandat avec vous.",
                ("/", "Retour à l’accueil"),
            ),
        ),
        LoginDone::Failed(m) => without_cookie(
            app,
            message(app, StatusCode::BAD_REQUEST, "Connexion impossible", &m, RELOGIN),
        ),
    }))
}

async fn consent_page(
    moi: &Moi,
    app: &App,
    error: Option<String>,
    langue: crate::i18n::Choice,
) -> Result<HttpResponse, WebError> {
    let Some(session) = moi.logged_in() else {
        return Err(WebError::PersonLoginRequired);
    };
    let Some(remote_id) = session.remote_id.clone() else {
        return Ok(see_other("/moi"));
    };
    let (csrf, hash) = (session.csrf_token.clone(), session.id_hash.clone());
    let (a, replaced) = app
        .run(move |db, env| {
            let a = remote::awaiting(db, env.secrets, &remote_id, &hash)?;
            let replaced = crate::mandates::replaced_for_person(
                db,
                env.now,
                &a.identity.sub,
                &a.request.structure_id,
                &a.request.demarche_list(),
            )?;
            Ok((a, replaced))
        })
        .await?;
    Ok(super::mandates::consent_terms_page(
        app,
        layout(app, &csrf),
        super::mandates::ConsentTerms {
            person: a.identity,
            structure: a.structure,
            aidant: a.aidant,
            demarches: a.request.demarche_list(),
            duration: a.request.duration(),
            action: "/moi/consentement".into(),
            refuse: Some("/moi/consentement/refus".into()),
            back: "/moi".into(),
            error,
            replaced,
            deadline: None,
            langue,
        },
    ))
}

async fn consent_form(req: HttpRequest, moi: Moi, app: App) -> Result<HttpResponse, WebError> {
    let langue = crate::i18n::Choice::from_query(req.query_string());
    consent_page(&moi, &app, None, langue).await
}

async fn answer(moi: Moi, app: App, consent: bool, langue: &str) -> Result<HttpResponse, WebError> {
    let session = moi.logged_in().ok_or(WebError::PersonLoginRequired)?;
    let remote_id = session.remote_id.clone().ok_or(WebError::NotFound)?;
    let hash = session.id_hash.clone();
    let lang = crate::i18n::Choice::of(langue).lang();
    let answered = app
        .run(move |db, env| {
            remote::answer(db, env.now, env.secrets, &remote_id, &hash, consent, lang)
        })
        .await?;
    Ok(match answered {
        remote::Answered::Consented(_) => see_other("/moi?fait=consenti"),
        remote::Answered::Refused => message(
            &app,
            StatusCode::OK,
            "Vous avez refusé le mandat",
            "Votre refus est enregistré : aucun mandat n’a été créé et la structure le verra. Si vous changez d’avis, demandez-lui de vous envoyer une nouvelle demande.",
            ("/", "Retour à l’accueil"),
        ),
        remote::Answered::Expired => message(
            &app,
            StatusCode::GONE,
            "Demande expirée",
            &remote::closed_message(remote::RemoteStatus::Expired),
            ("/", "Retour à l’accueil"),
        ),
        remote::Answered::Void => message(
            &app,
            StatusCode::GONE,
            "Demande close",
            "L’aidant qui a envoyé cette demande ne peut plus agir pour la structure : aucun mandat n’a été créé. Si vous avez encore besoin d’aide, demandez à la structure de vous envoyer une nouvelle demande.",
            ("/", "Retour à l’accueil"),
        ),
    })
}

async fn consent_submit(
    moi: Moi,
    app: App,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    moi.check_csrf(&form.csrf_token)?;
    if form.consent.is_empty() {
        return consent_page(
            &moi,
            &app,
            Some("Cochez la case de consentement pour créer le mandat, ou refusez-le.".into()),
            crate::i18n::Choice::of(&form.langue),
        )
        .await;
    }
    answer(moi, app, true, &form.langue).await
}

async fn refuse(moi: Moi, app: App, form: web::Form<CsrfForm>) -> Result<HttpResponse, WebError> {
    moi.check_csrf(&form.csrf_token)?;
    answer(moi, app, false, &form.langue).await
}

#[derive(Template)]
#[template(path = "remote_landing.html")]
struct LandingPage {
    layout: Layout,
    moi_csrf: Option<String>,
    structure: String,
    aidant: String,
    demarches: Vec<&'static str>,
    duration: &'static str,
    expires: String,
    action: String,
}

fn link_refused(app: &AppState, link: &Link) -> HttpResponse {
    match link {
        Link::Expired => message(
            app,
            StatusCode::GONE,
            "Lien expiré",
            &remote::closed_message(remote::RemoteStatus::Expired),
            ("/", "Retour à l’accueil"),
        ),
        Link::Used => message(
            app,
            StatusCode::GONE,
            "Lien déjà utilisé",
            &remote::closed_message(remote::RemoteStatus::Opened),
            ("/", "Retour à l’accueil"),
        ),
        _ => message(
            app,
            StatusCode::NOT_FOUND,
            "Lien inconnu",
            "Ce lien de consentement n’existe pas. Vérifiez qu’il a été copié en entier depuis le courriel, ou demandez à la structure de vous envoyer une nouvelle demande.",
            ("/", "Retour à l’accueil"),
        ),
    }
}

async fn link(
    req: HttpRequest,
    app: App,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (token, browser) = (path.into_inner(), cookie_token(&req, &app));
    let t = token.clone();
    let (link, session) = app
        .run(move |db, env| remote::landing(db, env.now, &t, browser.as_deref()))
        .await?;
    let (Link::Usable(r, structure, aidant), Some((new, session))) = (&link, session) else {
        return Ok(link_refused(&app, &link));
    };
    let page = render(&LandingPage {
        layout: layout(&app, &session.csrf_token),
        moi_csrf: None,
        structure: structure.clone(),
        aidant: aidant.clone(),
        demarches: r.demarche_list().iter().map(|d| d.label).collect(),
        duration: r.duration().label(),
        expires: day_time(&r.expires_at),
        action: format!("/consentement/{token}"),
    });
    Ok(with_cookie(&app, page, new))
}

async fn link_submit(
    req: HttpRequest,
    moi: Moi,
    app: App,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    let session = moi.check_csrf(&form.csrf_token)?.clone();
    login_limited(&req, &app)?;
    let fc = app
        .fc
        .clone()
        .ok_or_else(|| WebError::BadRequest(FcError::NotConfigured.to_string()))?;
    let (url, state, flow) = blocking(move || fc.start())
        .await?
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let token = path.into_inner();
    let opened = app
        .run(move |db, env| {
            remote::open(
                db,
                env.now,
                env.secrets,
                &token,
                &session.id_hash,
                &state,
                &flow,
            )
        })
        .await?;
    Ok(match opened {
        Link::Usable(..) => see_other(&url),
        other => link_refused(&app, &other),
    })
}
