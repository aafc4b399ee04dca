//! `/statistiques`: the public figures (aggregate counts only, `crate::statistics`), and
//! their CSV for administrators at `/admin/statistiques.csv`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::errors::WebError;
use super::session::{Admin, App, Ctx, Run};
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

/// How long the public page shows the same figures. Reading them scans a year of the
/// journal's uses: anonymous requests (from however many addresses) must not each pay
/// for it, and figures that change at once would tell an observer when each use happens.
pub const FRESH_MINUTES: i64 = 10;

/// The public page's last figures, shared by all workers; one refresh at a time.
#[derive(Debug, Default)]
pub struct Cache {
    figures: Mutex<Option<Statistics>>,
    refreshing: AtomicBool,
}

/// Clears the cache's refresh flag when the refresh ends (or its request is dropped).
struct Refresh<'a>(&'a Cache);

impl Drop for Refresh<'_> {
    fn drop(&mut self) {
        self.0.refreshing.store(false, Ordering::Release);
    }
}

impl Cache {
    /// The last figures, and whether they are fresh at `now`.
    fn last(&self, now: chrono::NaiveDateTime) -> Option<(Statistics, bool)> {
        let figures = self.figures.lock().ok()?.clone()?;
        let age = now - figures.at;
        let fresh =
            age >= chrono::Duration::zero() && age < chrono::Duration::minutes(FRESH_MINUTES);
        Some((figures, fresh))
    }

    /// Takes the refresh, unless another request holds it.
    fn refresh(&self) -> Option<Refresh<'_>> {
        (!self.refreshing.swap(true, Ordering::AcqRel)).then_some(Refresh(self))
    }

    fn keep(&self, s: &Statistics) {
        if let Ok(mut f) = self.figures.lock() {
            *f = Some(s.clone());
        }
    }
}

/// The public figures: the cached ones while fresh (or while another request refreshes
/// them), otherwise read again.
async fn public_figures(app: &App) -> Result<Statistics, WebError> {
    let last = app.statistics.last(app.clock.now().naive_utc());
    let stale = match last {
        Some((s, true)) => return Ok(s),
        Some((s, false)) => Some(s),
        None => None,
    };
    let refresh = app.statistics.refresh();
    if let (None, Some(s)) = (&refresh, stale) {
        return Ok(s);
    }
    let s = app.run(|db, env| statistics::read(db, env.now)).await?;
    if refresh.is_some() {
        app.statistics.keep(&s);
    }
    Ok(s)
}

async fn page(req: HttpRequest, ctx: Ctx, app: App) -> Result<HttpResponse, WebError> {
    super::journal::limited(&req, &app)?;
    let s = public_figures(&app).await?;
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

async fn csv(_admin: Admin, app: App) -> Result<HttpResponse, WebError> {
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
