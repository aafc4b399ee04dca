//! `/notifications/arret` and `/notifications/reprise`: the person stops (or resumes)
//! the notices of uses of their mandates, through the link every use notice carries.
//! GET asks for confirmation and changes nothing; POST (with the CSRF token of that page)
//! records the choice. A bad or forged link is refused with a 400 page.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session::Ctx;
use super::{render, App, AppState, ConfirmPage, Layout, Run, WebError};
use crate::notify;

/// The stop and resume pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/notifications/arret", web::get().to(ask_stop))
        .route("/notifications/arret", web::post().to(stop))
        .route("/notifications/reprise", web::get().to(ask_resume))
        .route("/notifications/reprise", web::post().to(resume));
}

/// The link's parameters.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    usager: String,
    #[serde(default)]
    jeton: String,
}

impl LinkQuery {
    fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("usager", &self.usager)
            .append_pair("jeton", &self.jeton)
            .finish()
    }
}

/// The POST form: only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf_token: String,
}

#[derive(Template)]
#[template(path = "notices_done.html")]
struct DonePage {
    layout: Layout,
    title: String,
    message: String,
    other_label: String,
    other_link: String,
}

async fn check(app: &App, q: &LinkQuery) -> Result<notify::StopLink, WebError> {
    let (usager, token) = (q.usager.clone(), q.jeton.clone());
    app.run(move |db, env| notify::check_link(db, env.secrets, &usager, &token))
        .await
}

async fn ask(ctx: Ctx, app: App, q: LinkQuery, stop: bool) -> Result<HttpResponse, WebError> {
    let link = check(&app, &q).await?;
    if link.stopped == stop {
        // Already as asked: say so, with the way to the other choice (nothing to confirm).
        return Ok(ctx.finish(&app, render(&done_page(&ctx, &app, &q, stop, true))));
    }
    let (title, message, button, path) = if stop {
        (
            "Ne plus recevoir les avis d’utilisation",
            "Vous ne recevrez plus de message quand un aidant utilise l’un de vos mandats. Les messages de création, de révocation et de fin prochaine d’un mandat continueront. Vous pourrez reprendre les avis à tout moment.",
            "Ne plus recevoir ces avis",
            "/notifications/arret",
        )
    } else {
        (
            "Recevoir à nouveau les avis d’utilisation",
            "Vous recevrez de nouveau un message quand un aidant utilise l’un de vos mandats.",
            "Recevoir ces avis",
            "/notifications/reprise",
        )
    };
    let page = ConfirmPage {
        layout: ctx.layout(&app),
        title: title.into(),
        message: message.into(),
        button: button.into(),
        action: format!("{path}?{}", q.query()),
        back: "/".into(),
    };
    Ok(ctx.finish(&app, render(&page)))
}

async fn decide(
    ctx: Ctx,
    app: App,
    q: LinkQuery,
    form: TokenForm,
    stop: bool,
) -> Result<HttpResponse, WebError> {
    check(&app, &q).await?;
    ctx.check_csrf(&form.csrf_token)?;
    let (usager, token) = (q.usager.clone(), q.jeton.clone());
    app.run(move |db, env| {
        notify::set_use_notices(db, env.now, env.secrets, &usager, &token, stop)
    })
    .await?;
    Ok(ctx.finish(&app, render(&done_page(&ctx, &app, &q, stop, false))))
}

/// The page after a choice (or when the link asks for what is already the case).
fn done_page(ctx: &Ctx, app: &App, q: &LinkQuery, stop: bool, already: bool) -> DonePage {
    let (title, message) = match (stop, already) {
        (true, false) => ("Avis d’utilisation arrêtés", "C’est noté : vous ne recevrez plus d’avis quand vos mandats sont utilisés. Vous pouvez toujours consulter les utilisations depuis votre espace."),
        (true, true) => ("Avis d’utilisation déjà arrêtés", "Vous ne recevez déjà plus d’avis quand vos mandats sont utilisés. Rien n’a été changé."),
        (false, false) => ("Avis d’utilisation repris", "C’est noté : vous recevrez de nouveau un avis quand vos mandats sont utilisés."),
        (false, true) => ("Avis d’utilisation déjà reçus", "Vous recevez déjà un avis quand vos mandats sont utilisés. Rien n’a été changé."),
    };
    let (other_label, other_path) = if stop {
        (
            "Recevoir à nouveau les avis d’utilisation",
            "/notifications/reprise",
        )
    } else {
        (
            "Ne plus recevoir les avis d’utilisation",
            "/notifications/arret",
        )
    };
    DonePage {
        layout: ctx.layout(app),
        title: title.into(),
        message: message.into(),
        other_label: other_label.into(),
        other_link: format!("{other_path}?{}", q.query()),
    }
}

async fn ask_stop(ctx: Ctx, app: App, q: web::Query<LinkQuery>) -> Result<HttpResponse, WebError> {
    ask(ctx, app, q.into_inner(), true).await
}

async fn ask_resume(
    ctx: Ctx,
    app: App,
    q: web::Query<LinkQuery>,
) -> Result<HttpResponse, WebError> {
    ask(ctx, app, q.into_inner(), false).await
}

async fn stop(
    ctx: Ctx,
    app: App,
    q: web::Query<LinkQuery>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, WebError> {
    decide(ctx, app, q.into_inner(), form.into_inner(), true).await
}

async fn resume(
    ctx: Ctx,
    app: App,
    q: web::Query<LinkQuery>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, WebError> {
    decide(ctx, app, q.into_inner(), form.into_inner(), false).await
}

/// The notices' periodic work (see `notify::jobs`): summaries of ended use windows every
/// 30 seconds, expiry reminders and helpers' digests every 10 minutes; the first pass
/// after one period. A failure is logged and the next pass tries again.
pub async fn periodic(state: web::Data<AppState>) {
    use actix_web::rt::time::interval;
    let mut every = interval(Duration::from_secs(30));
    every.tick().await;
    let mut passes: u64 = 0;
    loop {
        every.tick().await;
        passes += 1;
        let slow = passes % 20 == 0;
        let done = state
            .run(move |db, env| {
                notify::jobs::use_digests(db, env.now)?;
                if slow {
                    notify::jobs::reminders(db, env.now)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "notices pass failed");
        }
    }
}
