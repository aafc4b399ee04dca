//! The terms of use at `/conditions`: readable by anyone; an account that has not
//! accepted the version in force is sent here after its login and accepts them with a
//! ticked box, then goes on where the login was going.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session::{run_refusable, see_other, Ctx, Refusable};
use super::{render, App, Layout, WebError};
use crate::accounts::terms::{self, Block};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/conditions", web::get().to(show))
        .route("/conditions", web::post().to(accept));
}

#[derive(Template)]
#[template(path = "terms.html")]
struct TermsPage {
    layout: Layout,
    version: &'static str,
    label: &'static str,
    digest: String,
    blocks: Vec<Block>,
    /// The account must accept them: the form is shown.
    form: bool,
    /// A logged-in account (which has accepted this version).
    accepted: bool,
    error: Option<String>,
}

fn page(ctx: &Ctx, app: &App, error: Option<String>) -> HttpResponse {
    let t = terms::current();
    render(&TermsPage {
        layout: ctx.layout(app),
        version: t.version,
        label: t.label,
        digest: t.digest(),
        blocks: t.blocks(),
        form: ctx.awaiting_terms.is_some(),
        accepted: ctx.user.is_some(),
        error,
    })
}

async fn show(ctx: Ctx, app: App) -> Result<HttpResponse, WebError> {
    Ok(ctx.finish(&app, page(&ctx, &app, None)))
}

/// The acceptance form's fields.
#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    csrf_token: String,
    /// `oui` when the box is ticked.
    #[serde(default)]
    accepte: String,
}

async fn accept(ctx: Ctx, app: App, form: web::Form<AcceptForm>) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let next = ctx.session.next_path().unwrap_or_else(|| "/espace".into());
    let Some(user) = ctx.awaiting_terms.clone() else {
        // Already accepted (another tab): go on; not logged in: log in first.
        ctx.user()?;
        return Ok(see_other(&next));
    };
    let ticked = form.accepte == "oui";
    let done = run_refusable(&app, move |db, env| {
        terms::accept(db, env.now, &user.id, terms::current(), ticked)
    })
    .await?;
    Ok(match done {
        Refusable::Done(_) => see_other(&next),
        Refusable::Refused(message) => {
            let mut resp = page(&ctx, &app, Some(message));
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            resp
        }
    })
}
