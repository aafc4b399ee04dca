//! The authorization endpoint and the aidant's choices (usager, then démarche).

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{refusal, to_client};
use crate::domain::mandate as rules;
use chrono::{DateTime, Utc};

use crate::accounts::sessions::Policy;
use crate::error::Error;
use crate::federation::provider::{self as op, AuthorizeParams, Authorized, Posted, Step};
use crate::store::DbConn;
use crate::web::auth::CsrfOnly;
use crate::web::session::{layout_of, see_other, with_new_session, SessionToken};
use crate::web::{render, App, Layout, Run, WebError};

pub async fn authorize(
    req: actix_web::HttpRequest,
    app: App,
    token: SessionToken,
    q: web::Query<AuthorizeParams>,
) -> Result<HttpResponse, WebError> {
    let p = q.into_inner();
    let addr = crate::web::auth::client_addr(&req, &app.settings.trusted_proxies);
    let (outcome, visit) = app
        .run(move |db, env| op::authorize(db, env.now, &env.sessions, token.get(), &addr, &p))
        .await?;
    let resp = match outcome {
        Authorized::Interaction(id) => see_other(&format!("/oidc/interaction/{id}")),
        Authorized::Refused(r) => refusal(&app, r)?,
    };
    Ok(with_new_session(&app, resp, visit.as_ref()))
}

/// A usager to pick.
pub struct UsagerChoice {
    id: String,
    name: String,
    /// "né le 24 août 1962" (tells namesakes apart).
    born: String,
    demarches: String,
    /// The end of the earliest of its active mandates, in words.
    until: String,
}

/// The chooser's filter-as-you-type (served from here: the CSP forbids inline scripts).
pub const FILTER_JS_PATH: &str = "/static/filtre-personnes.js";
const FILTER_JS: &str = include_str!("../../../static/filtre-personnes.js");

pub async fn filter_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "public, max-age=3600",
        ))
        .body(FILTER_JS)
}

/// A démarche to pick.
pub struct DemarcheChoice {
    code: String,
    label: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "oidc_choose.html")]
struct ChoosePage {
    layout: Layout,
    id: String,
    client: String,
    search: String,
    more: bool,
    usagers: Vec<UsagerChoice>,
    filter_js: &'static str,
    usager_name: String,
    demarches: Vec<DemarcheChoice>,
    /// The démarches this site may be used for, in words ("" when none).
    offered: String,
    /// What the site's `claims` request asked for, in words.
    requested: String,
}

/// Asks a logged-in aidant before a site's `prompt=login` (or `max_age`) ends the session.
#[derive(Template)]
#[template(path = "oidc_reauth.html")]
struct ReauthPage {
    layout: Layout,
    id: String,
    client: String,
}

/// `?q=` narrows the usagers offered.
#[derive(Deserialize)]
pub struct ChooserQuery {
    #[serde(default)]
    q: String,
}

fn labels(list: &[&rules::Demarche]) -> String {
    list.iter().map(|d| d.label).collect::<Vec<_>>().join(", ")
}

fn label(code: &str) -> String {
    rules::demarche(code)
        .map(|d| d.label.to_string())
        .unwrap_or_else(|| code.to_string())
}

pub async fn interaction(
    app: App,
    token: SessionToken,
    path: web::Path<String>,
    q: web::Query<ChooserQuery>,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let path_id = id.clone();
    let search: String = q.into_inner().q.chars().take(100).collect();
    let term = search.clone();
    let step = app
        .run(move |db, env| op::show(db, env.now, &env.sessions, token.get(), &id, &term))
        .await?;
    let page = match step {
        Step::Login => return Ok(see_other("/connexion")),
        Step::Reauthenticate(r) => {
            return Ok(render(&ReauthPage {
                layout: layout_of(&app, &r.visitor),
                id: path_id,
                client: r.client_name,
            }))
        }
        Step::Done(page) => page,
    };
    let more = page.usagers.len() as i64 >= op::CHOOSER_LIMIT;
    Ok(render(&ChoosePage {
        layout: layout_of(&app, &page.visitor),
        id: page.interaction.id.clone(),
        client: page.client_name.clone(),
        search,
        more,
        usagers: page
            .usagers
            .iter()
            .map(|a| UsagerChoice {
                id: a.usager.id.clone(),
                name: a.usager.display_name(),
                born: format!(
                    "{} {}",
                    crate::domain::french::born(&a.usager.gender),
                    crate::domain::french::on_birthdate(&a.usager.birthdate)
                ),
                until: crate::domain::french::day(a.next_expiry),
                demarches: a
                    .demarches
                    .iter()
                    .map(|d| label(d))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        filter_js: FILTER_JS_PATH,
        usager_name: page
            .usager
            .as_ref()
            .map(|u| u.display_name())
            .unwrap_or_default(),
        demarches: page
            .demarches
            .iter()
            .map(|a| DemarcheChoice {
                label: label(&a.demarche),
                checked: page.preselected.as_deref() == Some(a.demarche.as_str()),
                code: a.demarche.clone(),
            })
            .collect(),
        offered: labels(&page.offered.list()),
        requested: page
            .interaction
            .claims_request()
            .demarche
            .map(|codes| {
                codes
                    .iter()
                    .map(|c| label(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
    }))
}

/// A form posted to an interaction page: the session cookie, the interaction's id (from
/// the path) and the form, extracted in that order as separate arguments would be.
pub struct StepPost<F> {
    token: SessionToken,
    id: String,
    form: F,
}

impl<F: DeserializeOwned + 'static> FromRequest for StepPost<F> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let parts = <(SessionToken, web::Path<String>, web::Form<F>)>::from_request(req, payload);
        Box::pin(async move {
            let (token, id, form) = parts.await?;
            Ok(StepPost {
                token,
                id: id.into_inner(),
                form: form.into_inner(),
            })
        })
    }
}

/// A form posted to an interaction page carries the page's CSRF token.
pub trait StepForm {
    /// The CSRF token posted.
    fn csrf_token(&self) -> &str;
}

impl StepForm for CsrfOnly {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// Runs a step of the interaction on the posted form; `f` also gets the form.
async fn run_step<P, T, F>(app: &App, post: StepPost<P>, f: F) -> Result<T, WebError>
where
    P: StepForm + Send + 'static,
    T: Send + 'static,
    F: FnOnce(&mut DbConn, DateTime<Utc>, &Policy, &Posted<'_>, &P) -> Result<T, Error>
        + Send
        + 'static,
{
    let StepPost { token, id, form } = post;
    app.run(move |db, env| {
        let posted = Posted {
            token: token.get(),
            csrf: form.csrf_token(),
            interaction: &id,
        };
        f(db, env.now, &env.sessions, &posted, &form)
    })
    .await
}

/// The usager choice.
#[derive(Deserialize)]
pub struct UsagerForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    usager: String,
}

impl StepForm for UsagerForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

pub async fn choose_usager(app: App, post: StepPost<UsagerForm>) -> Result<HttpResponse, WebError> {
    let next = format!("/oidc/interaction/{}", post.id);
    let step = run_step(&app, post, |db, now, policy, p, f| {
        op::choose_usager(db, now, policy, p, &f.usager)
    })
    .await?;
    Ok(match step {
        Step::Login | Step::Reauthenticate(_) => see_other("/connexion"),
        Step::Done(()) => see_other(&next),
    })
}

/// The démarche choice.
#[derive(Deserialize)]
pub struct DemarcheForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    demarche: String,
}

impl StepForm for DemarcheForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

pub async fn choose_demarche(
    app: App,
    post: StepPost<DemarcheForm>,
) -> Result<HttpResponse, WebError> {
    let step = run_step(&app, post, |db, now, policy, p, f| {
        op::choose_demarche(db, now, policy, p, &f.demarche)
    })
    .await?;
    let r = match step {
        Step::Login | Step::Reauthenticate(_) => return Ok(see_other("/connexion")),
        Step::Done(r) => r,
    };
    let mut params = vec![("code", r.code.as_str())];
    if let Some(s) = &r.state {
        params.push(("state", s));
    }
    Ok(to_client(&app, &r.redirect_uri, params))
}

pub async fn cancel(app: App, post: StepPost<CsrfOnly>) -> Result<HttpResponse, WebError> {
    let r = run_step(&app, post, |db, now, policy, p, _| {
        op::cancel(db, now, policy, p)
    })
    .await?;
    refusal(&app, r)
}

/// The aidant agreed to log in again: the session ends and the login page follows, back
/// to the interaction afterwards.
pub async fn reauthenticate(app: App, post: StepPost<CsrfOnly>) -> Result<HttpResponse, WebError> {
    run_step(&app, post, |db, now, policy, p, _| {
        op::reauthenticate(db, now, policy, p)
    })
    .await?;
    Ok(see_other("/connexion"))
}
