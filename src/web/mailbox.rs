//! The demo mailbox, `/demo/courriels` (demo mode only): every message of the outbox,
//! newest first, so that a newcomer sees what the service sends without an SMTP server.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::session::Ctx;
use super::{render, AppState, Layout};
use super::{Run, WebError};
use crate::mail::{MailStatus, Queued};

/// Mounts the mailbox when `enabled` (demo mode).
pub fn routes(cfg: &mut web::ServiceConfig, enabled: bool) {
    if enabled {
        cfg.route("/demo/courriels", web::get().to(mailbox));
    }
}

/// One message as listed.
pub struct Shown {
    m: Queued,
    status: &'static str,
    written: String,
}

#[derive(Template)]
#[template(path = "demo_mailbox.html")]
struct MailboxPage {
    layout: Layout,
    messages: Vec<Shown>,
}

async fn mailbox(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::load(&req).await?;
    let messages = state
        .run(|db, _| crate::mail::mailbox(db, 50))
        .await?
        .into_iter()
        .map(|m| Shown {
            written: crate::domain::french::day_and_time(m.created_at),
            status: match m.status {
                MailStatus::Pending => "en attente",
                MailStatus::Sending => "en cours d’envoi",
                MailStatus::Sent => "remis",
                MailStatus::Failed => "refusé par le serveur",
            },
            m,
        })
        .collect();
    Ok(ctx.finish(
        &state,
        render(&MailboxPage {
            layout: ctx.layout(&state),
            messages,
        }),
    ))
}
