//! `/statistiques`: the public figures (aggregate counts only, `crate::statistics`), and
//! their CSV for administrators at `/admin/statistiques.csv`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::errors::WebError;
use super::session::{App, Ctx, Run};
use super::{render, Layout};
use crate::domain::roles::Role;
use crate::statistics::{self, Statistics};

/// `/statistiques` and `/admin/statistiques.csv`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/statistiques", web::get().to(page))
        .route("/admin/statistiques.csv", web::get().to(csv));
}

#[derive(Template)]
#[template(path = "statistics.html")]
struct StatisticsPage {
    layout: Layout,
    s: Statistics,
    at: String,
    totals: Vec<i64>,
    total: i64,
    admin: bool,
}

async fn page(req: HttpRequest, ctx: Ctx, app: App) -> Result<HttpResponse, WebError> {
    super::journal::limited(&req, &app)?;
    let s = app.run(|db, env| statistics::read(db, env.now)).await?;
    let admin = ctx.user.as_ref().is_some_and(|u| u.has(Role::Admin));
    Ok(ctx.finish(
        &app,
        render(&StatisticsPage {
            layout: ctx.layout(&app),
            at: crate::domain::french::day_and_time(s.at),
            totals: s.totals(),
            total: s.totals().iter().sum(),
            s,
            admin,
        }),
    ))
}

async fn csv(ctx: Ctx, app: App) -> Result<HttpResponse, WebError> {
    if !ctx.user()?.has(Role::Admin) {
        return Err(WebError::Forbidden(
            "Seuls les administrateurs téléchargent les statistiques.".into(),
        ));
    }
    let s = app.run(|db, env| statistics::read(db, env.now)).await?;
    let name = format!("procura-statistiques-{}.csv", s.at.format("%Y-%m-%d"));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(s.csv()))
}
