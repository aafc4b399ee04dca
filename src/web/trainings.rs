//! Trainings (`/formations`): an administrator or a training organisation records the
//! completed training that accredits an aidant, sees the latest records and cancels one
//! made by mistake (a training organisation, only its own). The rules and the journal
//! are in [`crate::accounts::accreditation`].

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::CsrfOnly;
use super::session::{see_other, with_flash, Ctx};
use super::{render, App, ConfirmPage, Layout, Run, WebError};
use crate::accounts::accreditation::{self, Listed, NewTraining, Refused, Standing};
use crate::domain::french;
use crate::domain::roles::Role;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/formations", web::get().to(page))
        .route("/formations", web::post().to(submit))
        .route("/formations/{id}/annuler", web::get().to(confirm_cancel))
        .route("/formations/{id}/annuler", web::post().to(cancel));
}

/// How many records the page lists.
const LISTED: i64 = 50;

/// Who may record trainings: an administrator (any record) or a training organisation
/// (cancels its own records only).
struct Recorder {
    ctx: Ctx,
    actor: String,
    admin: bool,
}

fn recorder(ctx: Ctx) -> Result<Recorder, WebError> {
    let user = ctx.user()?;
    let admin = user.has(Role::Admin);
    if !admin && !user.has(Role::Trainer) {
        return Err(WebError::Forbidden(
            "Seuls les organismes de formation et les administrateurs enregistrent les formations."
                .into(),
        ));
    }
    Ok(Recorder {
        actor: user.actor(),
        admin,
        ctx,
    })
}

/// A line of the records table.
struct Line {
    id: String,
    name: String,
    email: String,
    completed_on: String,
    reference: String,
    until: String,
    state: &'static str,
    cancellable: bool,
}

#[derive(Template)]
#[template(path = "trainings.html")]
struct Page {
    layout: Layout,
    flash: Option<String>,
    search: String,
    lines: Vec<Line>,
    form: NewTraining,
    error: Option<Refused>,
    months: u32,
    today: String,
}

impl Page {
    /// The error of `field`, if that is the refused one.
    fn error_of(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    q: String,
}

/// The form as posted.
#[derive(Deserialize)]
struct Form {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    completed_on: String,
    #[serde(default)]
    reference: String,
}

async fn render_page(
    app: &App,
    r: &Recorder,
    search: String,
    form: NewTraining,
    error: Option<Refused>,
) -> Result<HttpResponse, WebError> {
    let q = search.clone();
    // A training organisation lists its own records only; an administrator, all.
    let own = (!r.admin).then(|| r.actor.clone());
    let listed = app
        .run(move |db, _| accreditation::latest(db, &q, own.as_deref(), LISTED))
        .await?;
    let now = app.clock.now();
    let lines = listed
        .into_iter()
        .map(|l: Listed| {
            let t = &l.training;
            let state = if t.cancelled_at.is_some() {
                "annulée"
            } else if Standing::at(Some(t.expires_at), now.naive_utc()).accredited() {
                "en cours"
            } else {
                "expirée"
            };
            Line {
                id: t.id.clone(),
                cancellable: t.cancelled_at.is_none() && (r.admin || t.recorded_by == r.actor),
                name: l.name,
                email: l.email,
                completed_on: french::day(
                    french::paris_day_start(t.completed_on) + chrono::Duration::hours(12),
                ),
                reference: t.reference.clone(),
                until: Standing::Accredited(t.expires_at)
                    .last_day()
                    .unwrap_or_default(),
                state,
            }
        })
        .collect();
    let refused = error.is_some();
    let mut resp = render(&Page {
        layout: r.ctx.layout(app),
        flash: if refused { None } else { r.ctx.flash() },
        search,
        lines,
        form,
        error,
        months: app.settings.accreditation_months,
        today: french::paris(now.naive_utc()).date().to_string(),
    });
    if refused {
        *resp.status_mut() = StatusCode::BAD_REQUEST;
        Ok(resp)
    } else {
        Ok(r.ctx.finish(app, resp))
    }
}

async fn page(ctx: Ctx, app: App, q: web::Query<Query>) -> Result<HttpResponse, WebError> {
    let r = recorder(ctx)?;
    render_page(&app, &r, q.into_inner().q, NewTraining::default(), None).await
}

async fn submit(ctx: Ctx, app: App, form: web::Form<Form>) -> Result<HttpResponse, WebError> {
    let r = recorder(ctx)?;
    r.ctx.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let t = NewTraining {
        email: form.email,
        completed_on: form.completed_on,
        reference: form.reference,
    };
    let (actor, typed) = (r.actor.clone(), t.clone());
    let recorded = app
        .run(move |db, env| {
            accreditation::record(
                db,
                env.now,
                &actor,
                env.settings.accreditation_months,
                &typed,
            )
        })
        .await?;
    match recorded {
        Ok(done) => {
            let day = Standing::Accredited(done.training.expires_at)
                .last_day()
                .unwrap_or_default();
            Ok(with_flash(
                &app,
                &r.ctx,
                see_other("/formations"),
                &format!(
                    "Formation enregistrée : {} ({}) est habilité jusqu’au {day}.",
                    done.user.name, done.user.email
                ),
            ))
        }
        Err(refused) => render_page(&app, &r, String::new(), t, Some(refused)).await,
    }
}

async fn confirm_cancel(
    ctx: Ctx,
    app: App,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let r = recorder(ctx)?;
    let id = path.into_inner();
    Ok(render(&ConfirmPage {
        layout: r.ctx.layout(&app),
        title: "Annuler cet enregistrement de formation ?".into(),
        message: "À faire seulement s’il a été fait par erreur : l’aidant n’est plus habilité par cette formation (il le reste si une autre formation en cours est enregistrée). L’annulation est inscrite au journal ; l’enregistrement reste visible, marqué annulé.".into(),
        button: "Annuler l’enregistrement".into(),
        action: format!("/formations/{id}/annuler"),
        back: "/formations".into(),
    }))
}

async fn cancel(
    ctx: Ctx,
    app: App,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    let r = recorder(ctx)?;
    r.ctx.check_csrf(&form.csrf_token)?;
    let (actor, admin, id) = (r.actor.clone(), r.admin, path.into_inner());
    app.run(move |db, env| accreditation::cancel(db, env.now, &actor, admin, &id))
        .await?;
    Ok(with_flash(
        &app,
        &r.ctx,
        see_other("/formations"),
        "L’enregistrement de formation est annulé.",
    ))
}
