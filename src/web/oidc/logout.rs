//! RP-initiated logout.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::Duration;

use super::add_params;
use crate::federation::provider::{self as op, LogoutOutcome, LogoutParams};
use crate::web::auth::CsrfOnly;
use crate::web::session::{session_cookie_removal, Ctx, SessionToken};
use crate::web::{render, App, ConfirmPage, Layout, Run, WebError};

#[derive(Template)]
#[template(path = "oidc_logged_out.html")]
struct LoggedOut {
    layout: Layout,
}

async fn end(
    app: &App,
    ctx: &Ctx,
    token: SessionToken,
    p: LogoutParams,
    confirmed: bool,
) -> Result<HttpResponse, WebError> {
    let client_state = p.state.clone();
    let master = app.settings.master_key;
    let outcome = app
        .run(move |db, env| {
            op::end_session(
                db,
                env.now,
                &env.sessions,
                env.secrets,
                &env.state.keys,
                Duration::hours(i64::from(env.settings.key_grace_hours)),
                master.as_ref(),
                token.get(),
                &p,
                confirmed,
            )
        })
        .await?;
    let target = match outcome {
        LogoutOutcome::Confirm => {
            return Ok(render(&ConfirmPage {
                layout: ctx.layout(app),
                title: "Se déconnecter de Procura ?".into(),
                message: "Un site demande la fin de votre session Procura. Si vous n’en êtes pas à l’origine, annulez : votre session reste ouverte.".into(),
                button: "Se déconnecter".into(),
                action: "/oidc/logout".into(),
                back: "/espace".into(),
            }))
        }
        LogoutOutcome::Ended(t) => t,
    };
    let mut resp = match target {
        Some(uri) => {
            let params: Vec<(&str, &str)> = client_state
                .as_deref()
                .map(|s| vec![("state", s)])
                .unwrap_or_default();
            HttpResponse::Found()
                .insert_header((header::LOCATION, add_params(&uri, &params)))
                .finish()
        }
        None => render(&LoggedOut {
            layout: Layout {
                user_name: None,
                structure_name: None,
                ..ctx.layout(app)
            },
        }),
    };
    let _ = resp.add_cookie(&session_cookie_removal(app));
    Ok(resp)
}

pub async fn logout(
    app: App,
    ctx: Ctx,
    token: SessionToken,
    q: web::Query<LogoutParams>,
) -> Result<HttpResponse, WebError> {
    end(&app, &ctx, token, q.into_inner(), false).await
}

/// The confirmed logout (POST from the confirmation page).
pub async fn logout_confirmed(
    app: App,
    ctx: Ctx,
    token: SessionToken,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    end(&app, &ctx, token, LogoutParams::default(), true).await
}
